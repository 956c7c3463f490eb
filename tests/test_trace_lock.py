"""One writer per trace (docs/traces.md, "One writer per trace: the lock"): a second
writer refuses at once in one line naming the holder and touches nothing, a lock left
by a dead process is taken over with a notice, readers never need the lock and see a
consistent trace while a run writes it."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import yaml

import tokenlink.runner
import tokenlink.trace
from tokenlink.cli import main
from tokenlink.runner import run
from tokenlink.trace import TraceError, TraceLock, TraceLockError, TraceWriter, read_trace
from tokenlink.trace.lock import lock_path

#: Eight `bits` points of a fraction of a second each: a run of a few seconds.
SLOW = {
    "name": "lock",
    "phy": {"modulation": "qpsk", "channel": {"model": "rayleigh"}},
    "link": {"mode": "bits"},
    "run": {"batch_size": 8, "max_bits": 60_000, "early_stop": False},
    "sweep": {"grid": {"phy.snr_db": [0.0, 4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 28.0]}},
}
N_POINTS = 8

HOLDER_SRC = """
import sys
from tokenlink.trace import TraceLock

with TraceLock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.readline()  # hold until the test closes stdin
"""


def _writer(path, **kw) -> TraceWriter:
    return TraceWriter(path, **{"scenario_yaml": "x: 1\n", "fingerprint": "fp", "seed": 1, **kw})


def _finished_trace(path) -> bytes:
    with _writer(path) as tw:
        tw.write_point("p0", 0, {"phy.snr_db": 0.0}, {"ber": 0.25})
    return path.read_bytes()


@pytest.fixture
def holder(tmp_path):
    """Start a process that holds the lock of a trace; yields (process, trace path)."""
    procs = []

    def start(trace):
        proc = subprocess.Popen([sys.executable, "-c", HOLDER_SRC, str(trace)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.stdin.close()
            proc.wait(timeout=30)


def _forbid_simulation(monkeypatch):
    """Make any training, simulation or trace writing of this process fail loudly."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the second writer went past the lock")

    monkeypatch.setattr(tokenlink.runner, "simulate_point", forbidden)
    monkeypatch.setattr(tokenlink.trace, "TraceWriter", forbidden)
    monkeypatch.setattr(tokenlink.runner, "_train_semantic", forbidden)


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_refusal(err: str, trace, pid: int) -> None:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("tokenlink: error: ") and str(trace) in err
    assert f"pid {pid} on {socket.gethostname()}, started 20" in err and "wait" in err and "-o" in err


# ------------------------------------------------------------------ refusals
def test_a_second_writer_refuses_in_one_line_naming_the_holder_and_touches_nothing(tmp_path, holder, capsys,
                                                                                  monkeypatch):
    trace = tmp_path / "t.h5"
    before = _finished_trace(trace)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(SLOW))
    proc = holder(trace)
    record = lock_path(trace).read_bytes()
    assert json.loads(record)["pid"] == proc.pid
    listing = sorted(os.listdir(tmp_path))

    with pytest.raises(TraceLockError) as excinfo:
        _writer(trace, resume=True)
    message = str(excinfo.value)
    assert "\n" not in message and str(trace) in message and f"pid {proc.pid}" in message

    _forbid_simulation(monkeypatch)
    for mode in ("--resume", "--overwrite", None):
        code, _, err = _cli(capsys, "run", scenario, "-o", trace, *([mode] if mode else []))
        assert code == 2, (mode, err)
        _assert_refusal(err, trace, proc.pid)
    assert trace.read_bytes() == before and lock_path(trace).read_bytes() == record
    assert sorted(os.listdir(tmp_path)) == listing  # no .tmp / .prev, the holder's lock file unchanged


def test_a_semantic_run_refuses_before_loading_data_or_training(tmp_path, holder, capsys, monkeypatch):
    import tokenlink.semantic_run

    trace = tmp_path / "sem.h5"
    proc = holder(trace)
    _forbid_simulation(monkeypatch)
    monkeypatch.setattr(tokenlink.semantic_run, "preflight", lambda *a, **k: pytest.fail("preflight ran"))
    scenario = os.path.join(os.path.dirname(__file__), "..", "scenarios", "semantic_easy_vqa.yaml")
    code, _, err = _cli(capsys, "run", scenario, "-o", trace, "--smoke")
    assert code == 2
    _assert_refusal(err, trace, proc.pid)
    assert not trace.exists()


def test_a_second_writer_in_the_same_process_is_refused_too(tmp_path):
    trace = tmp_path / "t.h5"
    with _writer(trace) as tw:
        with pytest.raises(TraceLockError, match="this process"):
            _writer(trace, resume=True)
        tw.write_point("p0", 0, {}, {"ber": 0.5})  # the first one still works
    assert read_trace(trace).attrs["status"] == "complete"
    assert sorted(os.listdir(tmp_path)) == ["t.h5"]  # lock file removed on close


def test_the_lock_is_released_on_errors_and_ctrl_c(tmp_path):
    trace = tmp_path / "t.h5"
    for exc in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(exc):
            with _writer(trace, overwrite=True):
                raise exc()
        assert not lock_path(trace).exists()
    with pytest.raises(TraceError, match="overwrite=True"):
        _writer(trace)  # refused after taking the lock: released again
    assert not lock_path(trace).exists()
    with TraceLock(trace) as lock:
        assert lock.held and json.loads(lock.path.read_text())["pid"] == os.getpid()
        with pytest.raises(TraceError, match="not held or is another trace"):
            _writer(tmp_path / "other.h5", lock=lock)
    assert not lock.held and sorted(os.listdir(tmp_path)) == ["t.h5"]


# ------------------------------------------------------------------ stale locks
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_one_line_notice(tmp_path, caplog):
    trace = tmp_path / "t.h5"
    _finished_trace(trace)
    pid = _dead_pid()
    record = {"pid": pid, "host": socket.gethostname(), "start_time": "2026-01-02T03:04:05Z"}
    lock_path(trace).write_text(json.dumps(record) + "\n")
    with caplog.at_level(logging.WARNING, logger="tokenlink"):
        with _writer(trace, resume=True) as tw:
            assert json.loads(lock_path(trace).read_text())["pid"] == os.getpid()
            tw.write_point("p1", 1, {}, {"ber": 0.1})
    notices = [r.getMessage() for r in caplog.records if "taking over" in r.getMessage()]
    assert len(notices) == 1 and "\n" not in notices[0], notices
    assert f"pid {pid} on {socket.gethostname()}, started 2026-01-02T03:04:05Z" in notices[0]
    assert "no longer runs" in notices[0] and str(trace) in notices[0]
    assert not lock_path(trace).exists() and read_trace(trace).attrs["status"] == "complete"


def test_a_killed_holder_frees_the_lock(tmp_path, holder, caplog):
    trace = tmp_path / "t.h5"
    proc = holder(trace)
    with pytest.raises(TraceLockError):
        TraceLock(trace).acquire()
    proc.kill()
    proc.wait()
    assert lock_path(trace).exists()  # left behind, with the dead holder's record
    with caplog.at_level(logging.WARNING, logger="tokenlink"):
        with TraceLock(trace):
            pass
    assert any(f"pid {proc.pid}" in r.getMessage() and "no longer runs" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------ two real runs
def _start_run(tmp_path, trace, *extra):
    scenario = tmp_path / "slow.yaml"
    scenario.write_text(yaml.safe_dump(SLOW))
    log = (tmp_path / "first.log").open("w")
    return subprocess.Popen([sys.executable, "-m", "tokenlink.cli", "run", str(scenario), "-o", str(trace),
                             "--no-plots", *extra], stdout=log, stderr=log)


def _stop_when_points_are_complete(proc, trace, at_least=1) -> int:
    """SIGSTOP the run once the trace has ``at_least`` complete points; returns how many."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if len(read_trace(trace).complete_points) >= at_least:
                break
        except TraceError:  # not created yet
            pass
        time.sleep(0.01)
    proc.send_signal(signal.SIGSTOP)
    assert proc.poll() is None, "the run ended before it could be stopped; make its points slower"
    done = len(read_trace(trace).complete_points)
    assert at_least <= done < N_POINTS, "the run ended before it could be stopped; make its points slower"
    return done


def _resume_and_wait(proc) -> int:
    proc.send_signal(signal.SIGCONT)
    return proc.wait(timeout=300)


def _content(trace) -> tuple[dict, list]:
    """A trace without its times: root attributes and points (elapsed_s dropped)."""
    t = read_trace(trace)
    attrs = {k: v for k, v in t.attrs.items() if k not in ("start_time", "end_time")}
    points = [(p.key, p.index, p.params, p.complete, p.raw_status, p.metrics) for p in t.points]
    return attrs, points


def _assert_same_trace(a, b) -> None:
    (attrs_a, points_a), (attrs_b, points_b) = _content(a), _content(b)
    assert attrs_a == attrs_b
    assert len(points_a) == len(points_b) == N_POINTS
    for pa, pb in zip(points_a, points_b, strict=True):
        assert pa[:5] == pb[:5]
        assert pa[5].keys() == pb[5].keys()
        for name in pa[5]:
            np.testing.assert_array_equal(pa[5][name], pb[5][name], err_msg=f"{pa[0]}/{name}")


def test_two_runs_on_one_trace_the_second_refuses_and_the_first_is_unchanged(tmp_path, capsys, monkeypatch):
    trace = tmp_path / "r.h5"
    first = _start_run(tmp_path, trace)
    try:
        _stop_when_points_are_complete(first, trace)
        before = trace.read_bytes()
        _forbid_simulation(monkeypatch)
        for mode in ("--resume", "--overwrite"):
            code, _, err = _cli(capsys, "run", tmp_path / "slow.yaml", "-o", trace, "--no-plots", mode)
            assert code == 2
            _assert_refusal(err, trace, first.pid)
        assert trace.read_bytes() == before
        monkeypatch.undo()
        assert _resume_and_wait(first) == 0
    finally:
        if first.poll() is None:
            first.kill()
    assert not lock_path(trace).exists()
    reference = run(SLOW, tmp_path / "ref.h5", progress=False, plots=False)
    t = read_trace(trace)
    assert t.attrs["status"] == "complete" and t.attrs["resumes_json"] == "[]" and len(t.complete_points) == N_POINTS
    _assert_same_trace(trace, reference.trace_path)


def test_info_and_export_during_a_run_show_the_points_so_far_and_status_running(tmp_path, capsys):
    trace = tmp_path / "r.h5"
    first = _start_run(tmp_path, trace)
    try:
        done = _stop_when_points_are_complete(first, trace)
        record = lock_path(trace).read_bytes()
        code, out, err = _cli(capsys, "info", trace)
        assert code == 0 and err == ""
        assert "status     running\n" in out and f"points     {done}/{N_POINTS} complete" in out
        rows = [r for r in out.split("\n\n", 1)[1].splitlines()[1:] if not r.startswith("other metrics")]
        assert [row.split()[-1] for row in rows] == ["yes"] * done
        code, out, _ = _cli(capsys, "export", trace, "--csv", "-o", tmp_path / "so_far.csv")
        assert code == 0 and len((tmp_path / "so_far.csv").read_text().splitlines()) == 1 + done
        with h5py.File(trace, "r") as f:  # plain h5py too
            assert f.attrs["status"] == "running" and int(f.attrs["num_points_complete"]) == done
        assert lock_path(trace).read_bytes() == record  # readers leave the lock alone
        assert _resume_and_wait(first) == 0
    finally:
        if first.poll() is None:
            first.kill()
    code, out, _ = _cli(capsys, "info", trace)
    assert "status     complete\n" in out and f"points     {N_POINTS}/{N_POINTS} complete" in out
