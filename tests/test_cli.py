"""The tokenlink command: the demo end to end (quick), and one-line errors."""

import subprocess
import sys

import pytest

from tokenlink.cli import main
from tokenlink.trace import read_trace


def test_demo_quick_runs_the_shipped_demo_scenario_through_the_runner(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--output", str(out), "--seed", "3"]) == 0
    trace = read_trace(out / "demo_quick.h5")
    assert trace.attrs["status"] == "complete" and trace.attrs["seed"] == 3 and trace.attrs["smoke"] is True
    assert trace.attrs["scenario_yaml"].startswith("name: demo\n")
    modes = [(p.params["link.mode"], p.params["phy.snr_db"]) for p in trace.points]
    assert modes == [(m, s) for m in ("analog", "digital") for s in (-10, -5, 0, 5, 10, 15, 20)]
    for p in trace.points:
        assert 0 <= p.metrics["accuracy"] <= 1 and 0 < p.metrics["prior_accuracy"] < 1
        assert ("ber" in p.metrics) == (p.params["link.mode"] == "digital")
    assert len(list((out / "demo_quick_checkpoints").iterdir())) == 1  # trained once for both link modes
    for stem in ("accuracy_vs_snr", "accuracy_vs_ber", "accuracy_vs_nmse", "ber_vs_snr", "training_curves"):
        assert (out / "demo_quick" / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", stem
    printed = capsys.readouterr().out
    assert "link.mode" in printed and "accuracy" in printed and f"trace: {out / 'demo_quick.h5'}" in printed


@pytest.mark.parametrize(
    "argv,message",
    [
        (["demo", "--seed", "-1"], "--seed: got -1; allowed: an integer >= 0"),
        (["demo", "--device", "tpu"], "--device: got 'tpu'; allowed: auto, cpu, cuda, cuda:N"),
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv, message, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tokenlink.cli", *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_unwritable_output_gives_one_line_and_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("I am a file, not a folder")
    proc = subprocess.run([sys.executable, "-m", "tokenlink.cli", "demo", "--quick", "--output", str(blocker / "x")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "tokenlink: error:" in proc.stderr
    assert blocker.read_text() == "I am a file, not a folder"
