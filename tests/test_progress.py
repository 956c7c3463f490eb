"""Progress that reads well in a log file: plain lines when the output is not a
terminal (bounded, no carriage returns), live bars on one, nothing with
--quiet but the result paths."""

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tokenlink.common.progress import PROGRESS_MODES, Progress, format_duration, resolve_progress

ROOT = Path(__file__).resolve().parents[1]

#: 20 sweep points of uncoded bits (seconds with --smoke).
BITS_20 = {"name": "bits20", "phy": {"channel": {"model": "awgn"}}, "link": {"mode": "bits"},
           "sweep": {"grid": {"phy.snr_db": list(range(20))}}}

class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _lines(progress_stream: io.StringIO) -> list[str]:
    text = progress_stream.getvalue()
    assert "\r" not in text
    return text.splitlines()


# ------------------------------------------------------------------ the reporter
def test_lines_mode_prints_start_end_and_about_every_tenth_when_it_is_rarer_than_the_interval():
    clock, out = _Clock(), io.StringIO()
    progress = Progress("lines", stream=out, interval_s=5.0, clock=clock)
    stage = progress.stage("sweep", total=1000, unit="point")
    for i in range(1000):  # 1000 s in all: 10 % every 100 s, far rarer than every 5 s
        clock.t += 1.0
        stage.set_postfix(f"snr_db={i}")
        stage.update()
    stage.close()
    lines = _lines(out)
    assert lines[0] == "sweep: started, 1000 points"
    assert lines[-1] == "sweep: done, 1000/1000 points in 16 min 40 s (1 point/s), snr_db=999"
    middle = lines[1:-1]
    assert [re.match(r"sweep: (\d+)/1000 points", line).group(1) for line in middle] == [
        str(n) for n in range(100, 1000, 100)]
    assert middle[0] == "sweep: 100/1000 points (10 %), 1 point/s, 15 min 00 s left, snr_db=99"


def test_lines_mode_waits_for_the_interval_when_it_is_rarer_than_a_tenth():
    clock, out = _Clock(), io.StringIO()
    progress = Progress("lines", stream=out, interval_s=30.0, clock=clock)
    with progress.stage("train task", total=100, initial=20, unit="step") as stage:
        for _ in range(80):  # 80 s in all: a line at most every 30 s
            clock.t += 1.0
            stage.update()
    lines = _lines(out)
    assert lines[0] == "train task: started, 100 steps, 20 done before"
    assert [line.split(",")[0] for line in lines[1:-1]] == ["train task: 50/100 steps (50 %)",
                                                           "train task: 80/100 steps (80 %)"]
    assert lines[-1] == "train task: done, 100/100 steps in 1 min 20 s (1 step/s)"


def test_a_short_stage_is_two_lines_and_an_interrupted_one_says_where_it_stopped():
    clock, out = _Clock(), io.StringIO()
    progress = Progress("lines", stream=out, clock=clock)
    with progress.stage("pretrain image encoder", total=5, unit="epoch") as stage:
        stage.update(5)
    with pytest.raises(KeyboardInterrupt), progress.stage("sweep", total=10, unit="point") as stage:
        clock.t += 4.0
        stage.update(3)
        raise KeyboardInterrupt
    assert _lines(out) == ["pretrain image encoder: started, 5 epochs",
                           "pretrain image encoder: done, 5/5 epochs in 0.0 s",
                           "sweep: started, 10 points",
                           "sweep: stopped at 3/10 points in 4.0 s (1.33 s/point)"]


def test_none_mode_is_silent_but_warnings_print_in_every_mode():
    for mode in ("none", "lines", "bar"):
        out = io.StringIO()
        progress = Progress(mode, stream=out)
        progress.warning("flat fading redrawn every OFDM symbol with LS estimation")
        assert out.getvalue().endswith("tokenlink: warning: flat fading redrawn every OFDM symbol with LS "
                                       "estimation\n")
    out = io.StringIO()
    progress = Progress("none", stream=out)
    progress.message("hello")
    with progress.stage("sweep", total=3) as stage:
        stage.update(3)
    assert out.getvalue() == "" and stage.n == 3 and stage.closed


def test_auto_picks_bars_on_a_terminal_and_lines_elsewhere():
    assert Progress("auto", stream=io.StringIO()).mode == "lines"
    terminal = _Terminal()
    progress = Progress("auto", stream=terminal)
    assert progress.mode == "bar"
    with progress.stage("sweep", total=4, unit="point") as stage:
        stage.update(4)
    assert "\r" in terminal.getvalue() and "4/4" in terminal.getvalue()


def test_resolve_progress_takes_bools_modes_and_reporters():
    assert resolve_progress(False).mode == resolve_progress(None).mode == "none"
    assert resolve_progress(True).requested == "auto"
    assert resolve_progress("lines").mode == "lines"
    shared = Progress("none")
    assert resolve_progress(shared) is shared
    with pytest.raises(ValueError, match="progress: got 'verbose'; allowed: auto, bar, lines, none"):
        resolve_progress("verbose")
    with pytest.raises(TypeError, match="progress: got 3"):
        resolve_progress(3)
    assert PROGRESS_MODES == ("auto", "bar", "lines", "none")
    assert [format_duration(s) for s in (8.24, 245, 7380)] == ["8.2 s", "4 min 05 s", "2 h 03 min"]


# ------------------------------------------------------------------ tokenlink run
def _cli(args: list, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tokenlink.cli", *map(str, args)], cwd=cwd, timeout=600, **kwargs)


def test_run_redirected_to_a_file_writes_plain_bounded_lines(tmp_path):
    """The nohup / CI case: stdout and stderr into one file, default --progress (auto)."""
    (tmp_path / "bits20.yaml").write_text(yaml.safe_dump(BITS_20))
    runs = {"bits20": ["bits20.yaml"],  # a smoke semantic training, evaluated at two points:
            "semantic_easy_vqa": [ROOT / "scenarios/semantic_easy_vqa.yaml", "--set", "sweep.grid.phy.snr_db=[0,20]"]}
    for (name, args), points in zip(runs.items(), (20, 2)):
        log = tmp_path / f"{name}.log"
        with log.open("w") as f:
            proc = _cli(["run", *args, "--smoke", "--no-plots"], tmp_path, stdout=f, stderr=subprocess.STDOUT)
        text = log.read_text()
        assert proc.returncode == 0, text
        assert "\r" not in text and "\x1b[" not in text
        lines = text.splitlines()
        assert len(lines) < 50, text
        assert f"{name}: started, {points} points" in lines and f"points     {points}/{points} complete" in lines
        assert any(line.startswith(f"{name}: done, {points}/{points} points in ") for line in lines), text
        assert f"trace: results/{name}.h5" in lines
    semantic = (tmp_path / "semantic_easy_vqa.log").read_text().splitlines()
    for stage in ("train align", "train task"):
        assert any(re.fullmatch(rf"{stage}: started, \d+ steps", line) for line in semantic), semantic
        assert any(line.startswith(f"{stage}: done, ") for line in semantic), semantic
    assert any(line.startswith("data: easy_vqa ready in ") for line in semantic)
    assert any(line.startswith("training the semantic model of point_0000") for line in semantic)


def test_quiet_prints_only_the_trace_and_figure_paths(tmp_path, capsys):
    from tokenlink.cli import main

    (tmp_path / "s.yaml").write_text(yaml.safe_dump({**BITS_20, "sweep": {"grid": {"phy.snr_db": [0, 10]}}}))
    assert main(["run", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "t.h5"), "--smoke", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines[0] == f"trace: {tmp_path / 't.h5'}"
    assert lines[1:] and all(line.startswith("figure: ") for line in lines[1:])


def test_progress_none_keeps_the_summary_table_and_lines_go_to_stderr(tmp_path, capsys):
    from tokenlink.cli import main

    (tmp_path / "s.yaml").write_text(yaml.safe_dump({**BITS_20, "sweep": {"grid": {"phy.snr_db": [0, 10]}}}))
    assert main(["run", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "a.h5"), "--smoke", "--no-plots",
                 "--progress", "none"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "points     2/2 complete" in captured.out
    assert main(["run", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "b.h5"), "--smoke", "--no-plots",
                 "--progress", "lines"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0] == "bits20: started, 2 points"
    assert "bits20: started" not in captured.out and "points     2/2 complete" in captured.out


def test_quiet_and_progress_together_is_a_one_line_error(tmp_path):
    proc = _cli(["run", "x.yaml", "--quiet", "--progress", "bar"], tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not allowed with argument" in proc.stderr


def test_python_run_accepts_bools_and_mode_names(tmp_path, capsys):
    from tokenlink.runner import run

    small = {**BITS_20, "sweep": {"grid": {"phy.snr_db": [0, 10]}}}
    run(small, tmp_path / "a.h5", smoke_run=True, plots=False, progress=False)
    assert capsys.readouterr() == ("", "")
    run(small, tmp_path / "b.h5", smoke_run=True, plots=False, progress=True)  # auto: capture is no terminal
    captured = capsys.readouterr()
    assert "bits20: started, 2 points" in captured.err and "\r" not in captured.err
    run(small, tmp_path / "c.h5", smoke_run=True, plots=False, progress="lines", summary=False)
    captured = capsys.readouterr()
    assert captured.out == "" and "bits20: done, 2/2 points" in captured.err
    with pytest.raises(ValueError, match="allowed: auto, bar, lines, none"):
        run(small, tmp_path / "d.h5", smoke_run=True, plots=False, progress="fancy")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_run_on_a_terminal_shows_live_bars(tmp_path):
    import fcntl
    import struct
    import termios

    (tmp_path / "s.yaml").write_text(yaml.safe_dump(BITS_20))
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 0-column terminal shows no bar
    try:
        proc = subprocess.Popen([sys.executable, "-m", "tokenlink.cli", "run", "s.yaml", "--smoke", "--no-plots"],
                                cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=600) == 0
    finally:
        os.close(leader)
    text = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")  # the terminal's own line ends
    assert "\r" in text and "20/20" in text and "point/s" in text, text
    assert "bits20: started" not in text
