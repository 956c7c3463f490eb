"""HDF5 traces: round trip, size cap, completion flag, resume, refusal to
overwrite, one-line errors, crash safety under SIGKILL, bounded memory."""

import csv
import gc
import json
import os
import re
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest

from tokenlink.provenance import git_commit
from tokenlink.trace import TraceError, TraceWriter, export_csv, load_raw, read_trace, trace_summary

YAML = "name: test\nphy:\n  snr_db: [0, 10]\n"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _writer(path, **kw) -> TraceWriter:
    kw = {"scenario_yaml": YAML, "fingerprint": "fp-1", "seed": 7, **kw}
    return TraceWriter(path, **kw)


def _params(i: int) -> dict:
    return {"phy.snr_db": float(2 * i), "channel.model": ("awgn", "tdl")[i % 2], "link.analog": i % 3 == 0,
            "phy.link_budget.distance_m": None if i % 2 else 100.0 * i, "batch": 8 + i}


def _metrics(i: int) -> dict:
    return {"ber": 1.0 / (i + 3), "bits": 1000 * (i + 1), "bit_errors": 17 * i,
            "nmse_per_frame": np.linspace(0.0, 1.0, 5) * i}


def _raw(i: int) -> dict:
    rng = np.random.default_rng(i)
    h = rng.standard_normal((4, 14, 16)) + 1j * rng.standard_normal((4, 14, 16))
    return {"h_freq": h.astype(np.complex64), "tokens_tx": rng.integers(0, 256, (4, 32), dtype=np.int32)}


def _one_line_error(excinfo, path) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and str(path) in message, message
    return message


# ----------------------------------------------------------------------------- round trip

def test_params_metrics_and_raw_arrays_round_trip(tmp_path):
    path = tmp_path / "run" / "trace.h5"
    with _writer(path, name="rt", num_points=3, extra_attrs={"snr_definition": "esno", "device": "cpu"}) as tw:
        for i in (2, 0, 1):  # out of order: read back sorted by index
            tw.write_point(f"p{i}", i, _params(i), _metrics(i), raw=_raw(i), elapsed_s=0.5 + i)
    trace = read_trace(path)
    a = trace.attrs
    assert a["scenario_yaml"] == YAML and a["fingerprint"] == "fp-1" and a["seed"] == 7 and a["name"] == "rt"
    assert a["status"] == "complete" and a["num_points_complete"] == 3 and a["num_points_planned"] == 3
    assert ISO_UTC.match(a["start_time"]) and ISO_UTC.match(a["end_time"]) and a["start_time"] <= a["end_time"]
    assert a["git_commit"] == (git_commit() or "")
    assert {"python", "tokenlink", "torch", "sionna-no-rt", "h5py"} <= set(a["versions"])
    assert a["snr_definition"] == "esno" and a["device"] == "cpu"
    assert [p.index for p in trace.points] == [0, 1, 2]
    for p in trace.points:
        i = p.index
        assert p.key == f"p{i}" and p.complete and p.elapsed_s == 0.5 + i
        assert p.params == _params(i)
        assert [type(v) for v in p.params.values()] == [type(v) for v in _params(i).values()]  # bool stays bool
        assert p.metrics["ber"] == 1.0 / (i + 3) and isinstance(p.metrics["ber"], float)
        assert p.metrics["bits"] == 1000 * (i + 1) and isinstance(p.metrics["bits"], int)
        np.testing.assert_array_equal(p.metrics["nmse_per_frame"], _metrics(i)["nmse_per_frame"])
        assert p.raw_names == ["h_freq", "tokens_tx"] and set(p.raw_status.values()) == {"full"}
        for name, expected in _raw(i).items():
            got = load_raw(path, p.key, name)
            assert got.dtype == expected.dtype and got.shape == expected.shape
            np.testing.assert_array_equal(got, expected)
    with h5py.File(path) as f:  # the layout of docs/traces.md
        g = f["points/000001"]
        assert g.attrs["_complete"] == 1 and g.attrs["_key"] == "p1"
        assert isinstance(g.attrs["phy.link_budget.distance_m"], h5py.Empty)  # None
        assert json.loads(g.attrs["_params_json"]) == _params(1)  # null, false for other languages
        assert g["metrics/ber"].shape == () and g["raw/h_freq"].compression == "gzip"
        assert g["raw/h_freq"].chunks is not None


def test_raw_arrays_beyond_the_cap_are_truncated_then_skipped_and_recorded(tmp_path):
    path = tmp_path / "t.h5"
    rows = (np.arange(8 * 125, dtype=np.float64).reshape(8, 125))  # 8 rows of 1000 bytes
    with _writer(path, raw_max_mb=0.0105) as tw:  # 10 500 bytes
        for i in range(3):
            tw.write_point(f"p{i}", i, {"i": i}, {"ber": 0.1}, raw={"x": rows + i, "c": np.ones(3, np.complex64)})
        assert tw.raw_bytes <= 10_500
    trace = read_trace(path)
    status = [p.raw_status for p in trace.points]
    # 10 500 - 8 024 = 2 476 bytes left: 2 rows of x; then 452: no row of x, but c (24 bytes) fits
    assert status == [{"x": "full", "c": "full"}, {"x": "truncated", "c": "full"}, {"x": "skipped", "c": "full"}]
    np.testing.assert_array_equal(load_raw(path, "p1", "x"), (rows + 1)[:2])
    assert load_raw(path, "p2", "x").shape == (0, 125)
    assert load_raw(path, "p2", "c").dtype == np.complex64
    assert trace.attrs["raw_bytes"] == 8024 + 2024 + 24
    assert trace.attrs["raw_arrays_truncated"] == 1 and trace.attrs["raw_arrays_skipped"] == 1
    with h5py.File(path) as f:
        assert list(f["points/000001/raw/x"].attrs["original_shape"]) == [8, 125]
    with pytest.raises(TraceError, match="no raw array 'y'"):
        load_raw(path, "p1", "y")


# ----------------------------------------------------------------------------- completion flag and resume

def _drop_flag(path, index):
    with h5py.File(path, "r+") as f:
        del f[f"points/{index:06d}"].attrs["_complete"]


def test_point_without_completion_flag_is_incomplete_excluded_and_redone_on_resume(tmp_path):
    path = tmp_path / "t.h5"
    with _writer(path) as tw:
        for i in range(3):
            tw.write_point(f"p{i}", i, _params(i), _metrics(i))
    _drop_flag(path, 1)
    assert [p.complete for p in read_trace(path).points] == [True, False, True]
    rows = list(csv.DictReader(export_csv(path, tmp_path / "t.csv").open()))
    assert [r["key"] for r in rows] == ["p0", "p2"]

    with _writer(path, resume=True) as tw:
        assert tw.completed_keys == {"p0", "p2"}
        with pytest.raises(TraceError, match="'p0' is already complete"):
            tw.write_point("p0", 0, _params(0), _metrics(0))
        tw.write_point("p1", 1, _params(1), _metrics(1))
    trace = read_trace(path)
    assert all(p.complete for p in trace.points) and trace.points[1].params == _params(1)
    assert trace.attrs["status"] == "complete" and "resumes_json" in trace.attrs
    with _writer(path, resume=True) as tw:
        assert tw.completed_keys == {"p0", "p1", "p2"}


@pytest.mark.parametrize("change,what", [({"fingerprint": "fp-2"}, "fingerprint differs"),
                                         ({"seed": 8}, "seed differs")])
def test_resume_refuses_another_scenario_and_leaves_the_file_alone(tmp_path, change, what):
    path = tmp_path / "t.h5"
    with _writer(path) as tw:
        tw.write_point("p0", 0, _params(0), _metrics(0))
    before = path.read_bytes()
    with pytest.raises(TraceError) as excinfo:
        _writer(path, resume=True, **change)
    assert what in _one_line_error(excinfo, path)
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["t.h5"]


def test_resume_without_a_file_starts_a_new_trace(tmp_path):
    with _writer(tmp_path / "t.h5", resume=True) as tw:
        assert tw.completed_keys == set()
        tw.write_point("p0", 0, {}, {"ber": 0.5})
    assert read_trace(tmp_path / "t.h5").points[0].complete


# ----------------------------------------------------------------------------- refusals and errors

def test_existing_trace_is_not_overwritten_without_the_flag_and_stays_byte_identical(tmp_path):
    path = tmp_path / "t.h5"
    with _writer(path) as tw:
        tw.write_point("p0", 0, _params(0), _metrics(0))
    before = path.read_bytes()
    with pytest.raises(TraceError) as excinfo:
        _writer(path)
    assert "overwrite=True" in _one_line_error(excinfo, path)
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["t.h5"]
    with _writer(path, overwrite=True, seed=9):
        pass
    assert read_trace(path).points == [] and read_trace(path).attrs["seed"] == 9


def _make_unwritable(folder: Path) -> str:
    """chmod for ordinary users, the immutable flag for root; '' when neither works here."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        method = "chmod"
    elif subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        method = "chattr"
    else:
        return ""
    try:
        (folder / "probe").touch()
    except OSError:
        return method
    (folder / "probe").unlink()
    _restore(folder, method)
    return ""


def _restore(folder: Path, method: str) -> None:
    if method == "chmod":
        folder.chmod(0o700)
    elif method == "chattr":
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_unwritable_folder_is_a_one_line_error_and_the_existing_trace_survives(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "t.h5"
    with _writer(path) as tw:
        tw.write_point("p0", 0, _params(0), _metrics(0))
    before = path.read_bytes()
    method = _make_unwritable(folder)
    if not method:
        pytest.skip("cannot make a folder unwritable here")
    try:
        for kw, target in (({"overwrite": True}, path), ({"resume": True}, path), ({}, folder / "new.h5")):
            with pytest.raises(TraceError) as excinfo:
                _writer(target, **kw)
            _one_line_error(excinfo, target)
        assert path.read_bytes() == before
    finally:
        _restore(folder, method)
    assert sorted(os.listdir(folder)) == ["t.h5"]


def test_directory_or_file_in_the_way_is_a_one_line_error(tmp_path):
    with pytest.raises(TraceError) as excinfo:
        _writer(tmp_path)
    assert "is a directory" in _one_line_error(excinfo, tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TraceError) as excinfo:
        _writer(blocker / "t.h5")
    _one_line_error(excinfo, blocker / "t.h5")
    assert blocker.read_text() == "not a folder"


def test_reading_something_that_is_not_a_trace_is_a_one_line_error(tmp_path):
    text = tmp_path / "x.h5"
    text.write_text("hello")
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = 1
    for path, what in ((tmp_path / "missing.h5", "no such trace"), (text, "cannot open as HDF5"),
                       (plain, "not a tokenlink trace"), (tmp_path, "is a directory")):
        with pytest.raises(TraceError) as excinfo:
            read_trace(path)
        assert what in _one_line_error(excinfo, path)


@pytest.mark.parametrize("params,metrics,raw,what", [
    ({"_private": 1}, {}, None, "must be a non-empty string not starting with '_'"),
    ({"x": [1, 2]}, {}, None, "must be float, int, str, bool or None"),
    ({}, {"ber": "high"}, None, "must be numeric"),
    ({}, {"a/b": 1.0}, None, "without '/'"),
    ({}, {}, {"tokens": np.array(["a"])}, "must be numeric"),
])
def test_bad_point_is_rejected_before_anything_is_written(tmp_path, params, metrics, raw, what):
    path = tmp_path / "t.h5"
    with _writer(path) as tw:
        tw.write_point("p0", 0, _params(0), _metrics(0))
        before = path.read_bytes()
        with pytest.raises(TraceError) as excinfo:
            tw.write_point("p1", 1, params, metrics, raw=raw)
        assert what in _one_line_error(excinfo, path)
        assert path.read_bytes() == before
        tw.write_point("p1", 1, _params(1), _metrics(1))  # the writer still works
    assert [p.key for p in read_trace(path).complete_points] == ["p0", "p1"]


@pytest.mark.parametrize("exc,status", [(RuntimeError, "failed"), (KeyboardInterrupt, "interrupted")])
def test_an_exception_in_the_run_records_its_status_and_end_time(tmp_path, exc, status):
    path = tmp_path / "t.h5"
    with pytest.raises(exc):
        with _writer(path) as tw:
            tw.write_point("p0", 0, _params(0), _metrics(0))
            raise exc()
    trace = read_trace(path)
    assert trace.attrs["status"] == status and ISO_UTC.match(trace.attrs["end_time"])
    assert trace.points[0].complete and sorted(os.listdir(tmp_path)) == ["t.h5"]


def test_a_reader_holding_the_trace_open_does_not_stop_the_writer(tmp_path):
    path = tmp_path / "t.h5"
    with _writer(path) as tw:
        tw.write_point("p0", 0, _params(0), _metrics(0))
        with h5py.File(path, "r") as reader:  # holds the published file while it becomes the twin
            for i in (1, 2, 3):
                tw.write_point(f"p{i}", i, _params(i), _metrics(i))
            assert list(reader["points"]) == ["000000"]  # its snapshot is unchanged
    assert [p.key for p in read_trace(path).complete_points] == ["p0", "p1", "p2", "p3"]


# ----------------------------------------------------------------------------- summary and CSV

def test_csv_has_one_row_per_complete_point_with_params_and_scalar_metrics(tmp_path):
    path = tmp_path / "t.h5"
    with _writer(path) as tw:
        for i in range(4):
            tw.write_point(f"p{i}", i, _params(i), _metrics(i))
    _drop_flag(path, 3)
    out = export_csv(path, tmp_path / "out" / "t.csv")
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["index", "key", *_params(0), "ber", "bits", "bit_errors"]  # no array metric
    assert len(rows) == 1 + 3
    assert rows[2] == ["1", "p1", "2.0", "tdl", "False", "", "9", repr(1 / 4), "2000", "17"]


def test_summary_lists_run_attributes_versions_and_points(tmp_path):
    path = tmp_path / "t.h5"
    with _writer(path, name="demo", num_points=4) as tw:
        for i in range(3):
            tw.write_point(f"p{i}", i, _params(i), _metrics(i))
    _drop_flag(path, 2)
    text = trace_summary(path)
    assert "2/4 complete" in text and "demo" in text and "fp-1" in text and "sionna-no-rt" in text
    table = text.split("\n\n", 1)[1].splitlines()
    assert table[0].split()[:3] == ["index", "phy.snr_db", "channel.model"] and "ber" in table[0]
    assert table[3].split()[-1] == "NO" and table[1].split()[-1] == "yes"


# ----------------------------------------------------------------------------- crash safety

POINT_SRC = '''
import numpy as np

N_POINTS, RAW_MAX_MB = 160, 4.0


def point(i):
    rng = np.random.default_rng(1000 + i)
    h = rng.standard_normal((16, 14, 64)) + 1j * rng.standard_normal((16, 14, 64))
    params = {"phy.snr_db": float(i % 20), "channel.model": ("awgn", "tdl", "cdl")[i % 3], "odd": bool(i % 2),
              "note": None if i % 4 else "quarter"}
    metrics = {"ber": float(rng.random()), "bits": int(rng.integers(1, 10**9)), "per_frame": rng.random(64)}
    raw = {"h_freq": h.astype(np.complex64), "tokens_rx": rng.integers(0, 2**15, (16, 64), dtype=np.int16)}
    return f"point-{i}", params, metrics, raw
'''

CHILD_SRC = POINT_SRC + '''
import os
import shutil
import sys

import h5py

from tokenlink.trace import TraceWriter

path, n_points = sys.argv[1], int(sys.argv[2])
if len(sys.argv) > 3:  # die like kill -9 (no clean-up at all) on the n-th call of a function
    owner_name, attr = sys.argv[3].rsplit(".", 1)
    owner = {"os": os, "shutil": shutil, "h5py.Group": h5py.Group}[owner_name]
    original, nth, calls = getattr(owner, attr), int(sys.argv[4]), [0]

    def trap(*args, **kwargs):
        calls[0] += 1
        if calls[0] == nth:
            os._exit(9)
        return original(*args, **kwargs)

    setattr(owner, attr, trap)
print("ready", flush=True)
with TraceWriter(path, scenario_yaml="crash: test\\n", fingerprint="crash", seed=3, resume=True,
                 raw_max_mb=RAW_MAX_MB, num_points=n_points) as tw:
    for i in range(n_points):
        key, params, metrics, raw = point(i)
        if key not in tw.completed_keys:
            tw.write_point(key, i, params, metrics, raw=raw, elapsed_s=float(i))
'''


def _expected_raw_status(point, n, raw_max_mb):
    """Status of each point's raw arrays under the cap when points are written in index order."""
    budget, out = int(raw_max_mb * 1e6), []
    for i in range(n):
        status = {}
        for name, arr in point(i)[3].items():
            if arr.nbytes <= budget:
                status[name], used = "full", arr.nbytes
            elif arr.nbytes // arr.shape[0] <= budget:
                status[name], used = "truncated", budget // (arr.nbytes // arr.shape[0]) * (arr.nbytes // arr.shape[0])
            else:
                status[name], used = "skipped", 0
            budget -= used
        out.append(status)
    return out


def _check_trace(path, point, expected_status) -> int:
    """Every complete point holds exactly what was written for its index; returns how many."""
    trace = read_trace(path)
    complete = trace.complete_points
    for p in complete:
        key, params, metrics, raw = point(p.index)
        assert p.key == key and p.params == params and p.elapsed_s == float(p.index)
        assert p.metrics["ber"] == metrics["ber"] and p.metrics["bits"] == metrics["bits"]
        np.testing.assert_array_equal(p.metrics["per_frame"], metrics["per_frame"])
        assert p.raw_status == expected_status[p.index]
        with h5py.File(path, "r") as f:
            for name, arr in raw.items():
                got = f[f"points/{p.index:06d}/raw/{name}"][()]
                assert got.dtype == arr.dtype
                np.testing.assert_array_equal(got, arr[: len(got)])
    if complete:
        np.testing.assert_array_equal(load_raw(path, complete[0].key, "tokens_rx"), point(0)[3]["tokens_rx"])
    # points are written in order: the complete ones are a prefix of the sweep
    assert [p.index for p in complete] == list(range(len(complete)))
    return len(complete)


def _crash_setup(tmp_path):
    ns: dict = {}
    exec(POINT_SRC, ns)
    point, n_points = ns["point"], ns["N_POINTS"]
    script = tmp_path / "child.py"
    script.write_text(CHILD_SRC)
    return point, n_points, _expected_raw_status(point, n_points, ns["RAW_MAX_MB"]), script


def _run_child(script, path, n_points, *trap) -> int:
    proc = subprocess.run([sys.executable, str(script), str(path), str(n_points), *map(str, trap)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == (9 if trap else 0), proc.stderr
    return proc.returncode


# Calls while a fresh run writes its first points: os.replace 1 publishes the new file, 2/3
# publish point 0 / turn the replaced file into the twin, 4/5 the same for point 1;
# h5py.Group.create_dataset 1-5 write point 0's 5 datasets, 6-10 point 1's; h5py.Group.copy
# n copies point n-1 from the published file into the twin.
@pytest.mark.parametrize("trap,nth,complete", [
    ("os.replace", 1, None),  # the first file was never published
    ("os.fsync", 3, 0),  # point 0 written to the twin, not yet published
    ("os.replace", 2, 0),  # same, after the old file was hard-linked to path.prev
    ("os.replace", 3, 1),  # point 0 published, path.tmp missing, path.prev left over
    ("h5py.Group.copy", 1, 1),  # while copying point 0 into the twin
    ("os.link", 2, 1),  # point 1 written to the twin, not yet published
    ("h5py.Group.create_dataset", 8, 1),  # half-way through writing point 1
    ("shutil.copyfile", 1, 0),  # copying the new file to make the first twin
])
def test_trace_survives_death_at_every_step_of_a_commit(tmp_path, trap, nth, complete):
    point, _, expected_status, script = _crash_setup(tmp_path)
    path = tmp_path / "crash.h5"
    _run_child(script, path, 4, trap, nth)
    if complete is None:
        assert not path.exists()
    else:
        assert _check_trace(path, point, expected_status) == complete
        assert read_trace(path).attrs["status"] == "running"
    _run_child(script, path, 4)  # resume to the end
    assert _check_trace(path, point, expected_status) == 4
    assert read_trace(path).attrs["status"] == "complete"
    assert sorted(os.listdir(tmp_path)) == ["child.py", "crash.h5"]


def test_trace_survives_sigkill_at_random_moments_and_resumes_to_completion(tmp_path):
    point, n_points, expected_status, script = _crash_setup(tmp_path)
    assert {"full", "truncated", "skipped"} <= {s for st in expected_status for s in st.values()}
    path = tmp_path / "crash.h5"
    trials = int(os.environ.get("TOKENLINK_CRASH_TRIALS", "5"))
    rng = np.random.default_rng(int(os.environ.get("TOKENLINK_CRASH_SEED", "11")))
    done = 0
    for trial in range(trials):
        proc = subprocess.Popen([sys.executable, str(script), str(path), str(n_points)], stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.0, 0.6)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        if not path.exists():  # killed before the first publish
            assert done == 0
            continue
        now = _check_trace(path, point, expected_status)
        assert now >= done, f"trial {trial}: complete points went from {done} to {now}"
        done = now
    _run_child(script, path, n_points)
    assert _check_trace(path, point, expected_status) == n_points
    trace = read_trace(path)
    assert trace.attrs["status"] == "complete" and trace.attrs["num_points_complete"] == n_points
    assert sorted(os.listdir(tmp_path)) == ["child.py", "crash.h5"]  # no scratch files left


# ----------------------------------------------------------------------------- streaming memory

def test_writer_memory_does_not_grow_with_the_number_of_points(tmp_path):
    big = np.arange(2000.0)  # 16 kB per point: any point kept in memory shows up at once
    tracemalloc.start()
    try:
        with _writer(tmp_path / "t.h5", fsync=False) as tw:
            for i in range(300):
                tw.write_point(f"p{i}", i, _params(i), {**_metrics(i), "curve": big * i})
                if i == 49:
                    gc.collect()
                    after_50 = tracemalloc.get_traced_memory()[0]
            gc.collect()
            after_300 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    per_point = (after_300 - after_50) / 250
    assert per_point < 1024, f"writer keeps {per_point:.0f} bytes per point"  # only the set of completed keys
