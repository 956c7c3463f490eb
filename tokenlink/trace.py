"""HDF5 run traces: one file per run, one group per sweep point.

A run is a sweep over points; for each point the runner simulates a link and
hands the metrics to a :class:`TraceWriter`, which streams them to disk. The
file can be read back with :func:`read_trace`, :func:`load_raw`,
:func:`trace_summary` and :func:`export_csv`, or from any language that reads
HDF5: the layout is in ``docs/traces.md``.

Crash safety. HDF5 updates its metadata in place, so a process killed while
it writes can leave a file that no longer opens. The writer therefore never
writes to ``path`` itself. It keeps a twin file ``path.tmp`` that holds the
same content as ``path``, writes each change (a new point, the final status)
into the twin, closes it, fsyncs it and publishes it with
``os.replace(path.tmp, path)``, an atomic rename. Before the rename the old
file is hard-linked to ``path.prev``; after it, that old file becomes the new
twin and receives the same change (a new point group is copied over from the
published file, compressed chunks as they are), so the two files are equal
again without copying the whole trace. ``kill -9`` at any moment leaves
``path`` as the last published file: closed, complete and readable.
Leftover ``path.tmp`` / ``path.prev`` files are scratch space, removed on
resume or close. Without hard links (some network or FAT file systems) the
twin is re-made by copying ``path`` instead.

Example::

    with TraceWriter("results/run/trace.h5", scenario_yaml=text, fingerprint=fp, seed=1) as tw:
        for i, (key, params) in enumerate(points):
            if key in tw.completed_keys:
                continue
            tw.write_point(key, i, params, {"ber": 1e-3, "bits": 3648000})
    read_trace("results/run/trace.h5").points[0].metrics["ber"]
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn, Optional, Union

import h5py
import numpy as np

from .provenance import git_commit, software_versions

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Trace",
    "TraceError",
    "TracePoint",
    "TraceWriter",
    "export_csv",
    "load_raw",
    "read_trace",
    "swept_params",
    "trace_summary",
]

FORMAT = "tokenlink-trace"
FORMAT_VERSION = 1
STATUSES = ("running", "complete", "interrupted", "failed")
#: Metrics shown in the table of :func:`trace_summary`, in this order.
MAIN_METRICS = ("esno_db", "ber", "ser", "ter", "nmse", "accuracy", "bits", "frames")

ParamValue = Union[float, int, str, bool, None]
_ROOT_RESERVED = {
    "format", "format_version", "name", "scenario_yaml", "fingerprint", "seed", "git_commit",
    "start_time", "end_time", "status", "num_points_planned", "num_points_complete",
    "raw_max_bytes", "raw_bytes", "raw_compression", "raw_arrays_truncated", "raw_arrays_skipped",
    "resumes_json",
}
_VERSION_PREFIX = "version."
_BIG_METRIC_BYTES = 64 * 1024  # metric arrays above this are chunked and compressed


class TraceError(ValueError):
    """A trace cannot be written or read; the message is one line naming the file."""


# --------------------------------------------------------------------------- helpers

def _now() -> str:
    """Current time, ISO 8601 UTC with a ``Z``, e.g. ``2026-05-09T07:35:25Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _one_line(err: BaseException) -> str:
    text = getattr(err, "strerror", None) if isinstance(err, OSError) and err.strerror else str(err)
    return " ".join(str(text).split()) or type(err).__name__


def _attr_value(value: ParamValue, what: str) -> Any:
    """A parameter (or extra attribute) as an HDF5 attribute value; None -> null dataspace."""
    if value is None:
        return h5py.Empty("f8")
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    if isinstance(value, (int, np.integer)):
        if not -2**63 <= int(value) < 2**63:
            raise TraceError(f"{what} = {value} does not fit in int64")
        return np.int64(value)
    if isinstance(value, (float, np.floating)):
        return np.float64(value)
    if isinstance(value, str):
        return value
    raise TraceError(f"{what} must be float, int, str, bool or None, got {type(value).__name__}")


def _from_attr(value: Any) -> Any:
    """Inverse of :func:`_attr_value`: plain Python values, None for a null dataspace."""
    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return value.tolist() if value.ndim else value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _json_value(value: ParamValue) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _numeric_array(value: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception as err:  # e.g. a CUDA tensor
        raise TraceError(f"{what} cannot be converted to a numpy array ({_one_line(err)})") from None
    if arr.dtype.kind not in "biufc":
        raise TraceError(f"{what} must be numeric, got dtype {arr.dtype}")
    return arr


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise TraceError(f"{what} name {name!r} must be a non-empty string without '/'")
    return name


def _fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _group_name(index: int) -> str:
    return f"{index:06d}"


# --------------------------------------------------------------------------- writer

@dataclass
class _PreparedPoint:
    """A point converted and checked before anything touches the disk."""

    key: str
    index: int
    params: dict[str, Any]
    params_json: str
    metrics: dict[str, np.ndarray]
    raw: list[tuple[str, np.ndarray, str, tuple[int, ...]]]  # name, data, status, original shape
    raw_bytes: int
    elapsed_s: float


class TraceWriter:
    """Streams a sweep to one HDF5 file, crash safe (see the module docstring).

    :param path: the trace file, e.g. ``results/run/trace.h5``. Its folder is created if needed.
    :param scenario_yaml: the full scenario as YAML text (root attribute ``scenario_yaml``).
    :param fingerprint: a digest of the scenario that decides whether a trace may be resumed.
    :param seed: the run's seed.
    :param name: a human-readable run name.
    :param resume: continue an existing trace with the same fingerprint (and seed);
        :attr:`completed_keys` then lists the points already done. Without a file, start one.
    :param overwrite: replace an existing trace. The old file stays intact until the new
        one has been written.
    :param raw_max_mb: cap on the raw arrays of the whole run, in MB (10^6 bytes) of
        uncompressed data; arrays beyond it are truncated along axis 0 or skipped, and
        the trace records which.
    :param raw_compression: ``"gzip"`` (level 4, readable everywhere), ``"lzf"`` (faster,
        h5py only) or ``None``.
    :param extra_attrs: more root attributes (str, int, float, bool or None values).
    :param num_points: number of points the sweep will have, if known (for ``N/M complete``).
    :param fsync: flush each published file to the disk, so that a power cut (not only a
        killed process) also keeps every published point. Costs a few ms per point.

    :attr completed_keys: keys of the points already complete in the file, ``set[str]``.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike],
        *,
        scenario_yaml: str,
        fingerprint: str,
        seed: int,
        name: str = "",
        resume: bool = False,
        overwrite: bool = False,
        raw_max_mb: float = 64.0,
        raw_compression: Optional[str] = "gzip",
        extra_attrs: Optional[Mapping[str, ParamValue]] = None,
        num_points: Optional[int] = None,
        fsync: bool = True,
    ) -> None:
        self.path = Path(path)
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._prev = self.path.with_name(self.path.name + ".prev")
        self._fsync = fsync
        self._twin_ready = False  # does path.tmp hold exactly what path holds?
        self._hardlinks = True
        self._closed = False
        self.completed_keys: set[str] = set()
        if resume and overwrite:
            self._fail("choose resume=True or overwrite=True, not both")
        if raw_compression not in ("gzip", "lzf", None):
            self._fail(f"raw_compression must be 'gzip', 'lzf' or None, got {raw_compression!r}")
        if not math.isfinite(raw_max_mb) or raw_max_mb < 0:
            self._fail(f"raw_max_mb must be a finite number >= 0, got {raw_max_mb}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            self._fail(f"seed must be an int, got {seed!r}")
        self._compression = raw_compression
        self._raw_max_bytes = int(raw_max_mb * 1e6)
        self._check_target()

        if resume and self.path.exists():
            self._resume(fingerprint, int(seed), num_points)
            return
        if self.path.exists() and not overwrite:
            self._fail("a trace already exists; pass overwrite=True to replace it or resume=True to continue it")

        root: dict[str, Any] = {
            "format": FORMAT,
            "format_version": np.int64(FORMAT_VERSION),
            "name": str(name),
            "scenario_yaml": str(scenario_yaml),
            "fingerprint": str(fingerprint),
            "seed": np.int64(seed),
            "git_commit": git_commit() or "",
            "start_time": _now(),
            "end_time": "",
            "status": "running",
            "num_points_complete": np.int64(0),
            "raw_max_bytes": np.int64(self._raw_max_bytes),
            "raw_bytes": np.int64(0),
            "raw_compression": raw_compression or "none",
            "raw_arrays_truncated": np.int64(0),
            "raw_arrays_skipped": np.int64(0),
            "resumes_json": "[]",
        }
        if num_points is not None:
            root["num_points_planned"] = np.int64(num_points)
        for pkg, version in software_versions().items():
            root[_VERSION_PREFIX + pkg] = version
        for key, value in (extra_attrs or {}).items():
            if not isinstance(key, str) or not key or key in _ROOT_RESERVED or key.startswith(_VERSION_PREFIX):
                self._fail(f"extra attribute name {key!r} is empty or reserved")
            root[key] = _attr_value(value, f"extra attribute {key!r}")
        self._raw_bytes = 0

        def create(f: h5py.File) -> None:
            f.attrs.update(root)
            f.create_group("points", track_order=True)

        self._create(create)

    # ----------------------------------------------------------------- public

    def write_point(
        self,
        key: str,
        index: int,
        params: Mapping[str, ParamValue],
        metrics: Mapping[str, Any],
        raw: Optional[Mapping[str, Any]] = None,
        elapsed_s: float = 0.0,
    ) -> None:
        """Write one complete sweep point and publish it (atomically, see the module docstring).

        :param key: unique name of the point in the sweep (the runner's key), any string.
        :param index: position of the point in the sweep, ``>= 0``; the group is ``/points/<index:06d>``.
        :param params: the point's parameters, e.g. ``{"phy.snr_db": 10.0, "channel.model": "tdl"}``;
            values float, int, str, bool or None. Names must not start with ``_``.
        :param metrics: scalars (stored as 0-d datasets) or numeric arrays, e.g. ``{"ber": 1e-3}``.
        :param raw: optional large arrays (e.g. ``h_freq`` complex64 ``[batch, ...]``), chunked and
            compressed, counted against the run's ``raw_max_mb`` cap.
        :param elapsed_s: wall time the point took to simulate, seconds.
        """
        self._check_open()
        point = self._prepare(key, index, params, metrics, raw or {}, elapsed_s)
        with self._errors(f"cannot write point {key!r}"):
            self._transaction(lambda f: self._write_point(f, point),
                              replay=lambda f, src: self._copy_point(f, src, point))
        self.completed_keys.add(point.key)
        self._raw_bytes += point.raw_bytes

    def close(self, status: str = "complete") -> None:
        """Write the run status (``"complete"``, ``"interrupted"`` or ``"failed"``) and the end
        time, publish, and remove the twin file. A second call does nothing."""
        if self._closed:
            return
        if status not in STATUSES[1:]:
            self._fail(f"status must be 'complete', 'interrupted' or 'failed', got {status!r}")
        end = _now()

        def finish(f: h5py.File) -> None:
            f.attrs["status"] = status
            f.attrs["end_time"] = end

        with self._errors("cannot write the final status"):
            self._transaction(finish, keep_twin=False)
        self._closed = True
        _remove(self._tmp)
        _remove(self._prev)

    def __enter__(self) -> "TraceWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._closed:
            return
        if exc_type is None:
            self.close("complete")
        else:
            status = "interrupted" if issubclass(exc_type, KeyboardInterrupt) else "failed"
            try:
                self.close(status)
            except TraceError:
                pass  # keep the original exception; the file still holds the last published state

    @property
    def raw_bytes(self) -> int:
        """Uncompressed bytes of raw arrays stored so far in the whole run."""
        return self._raw_bytes

    # ----------------------------------------------------------------- checks

    def _fail(self, what: str) -> NoReturn:
        raise TraceError(f"{self.path}: {what}")

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn file-system and HDF5 errors into one-line TraceErrors naming the file."""
        try:
            yield
        except TraceError:
            raise
        except Exception as err:
            raise TraceError(f"{self.path}: {what}: {_one_line(err)}") from err

    def _check_open(self) -> None:
        if self._closed:
            self._fail("the trace writer is closed")

    def _check_target(self) -> None:
        if self.path.is_dir():
            self._fail("is a directory, not a trace file")
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            self._fail(f"cannot create the folder {folder}: {_one_line(err)}")
        if not os.access(folder, os.W_OK | os.X_OK):
            self._fail(f"the folder {folder} is not writable")

    def _prepare(self, key, index, params, metrics, raw, elapsed_s) -> _PreparedPoint:
        if not isinstance(key, str) or not key:
            self._fail(f"point key must be a non-empty string, got {key!r}")
        if key in self.completed_keys:
            self._fail(f"point {key!r} is already complete")
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or index < 0:
            self._fail(f"point {key!r}: index must be an int >= 0, got {index!r}")
        try:
            attrs = {}
            for pname, value in params.items():
                if not isinstance(pname, str) or not pname or pname.startswith("_"):
                    raise TraceError(f"parameter name {pname!r} must be a non-empty string not starting with '_'")
                attrs[pname] = _attr_value(value, f"parameter {pname!r}")
            params_json = json.dumps({k: _json_value(v) for k, v in params.items()})
            metric_arrays = {}
            for mname, value in metrics.items():
                _check_name(mname, "metric")
                metric_arrays[mname] = _numeric_array(value, f"metric {mname!r}")
            raw_list, raw_bytes = [], 0
            budget = max(0, self._raw_max_bytes - self._raw_bytes)
            for rname, value in raw.items():
                _check_name(rname, "raw array")
                arr = np.atleast_1d(_numeric_array(value, f"raw array {rname!r}"))
                shape = arr.shape
                row_bytes = arr.nbytes // shape[0] if shape[0] else 0
                if arr.nbytes <= budget:
                    status = "full"
                elif row_bytes and row_bytes <= budget:
                    arr, status = arr[: budget // row_bytes], "truncated"
                else:
                    arr, status = arr[:0], "skipped"
                budget -= arr.nbytes
                raw_bytes += arr.nbytes
                raw_list.append((rname, arr, status, shape))
        except TraceError as err:
            raise TraceError(f"{self.path}: point {key!r}: {err}") from None
        return _PreparedPoint(key, int(index), attrs, params_json, metric_arrays, raw_list, raw_bytes,
                              float(elapsed_s))

    # ----------------------------------------------------------------- file updates

    def _write_point(self, f: h5py.File, p: _PreparedPoint) -> None:
        """One point group, its ``_complete`` flag written last, then the run's counters."""
        points = f["points"]
        gname = _group_name(p.index)
        if gname in points:
            old = points[gname]
            if int(old.attrs.get("_complete", 0)) and old.attrs.get("_key") != p.key:
                self._fail(f"index {p.index} already holds the complete point {old.attrs.get('_key')!r}")
            del points[gname]  # an incomplete leftover: redo it
        g = points.create_group(gname, track_order=True)
        g.attrs.update(p.params)
        g.attrs["_key"] = p.key
        g.attrs["_index"] = np.int64(p.index)
        g.attrs["_elapsed_s"] = np.float64(p.elapsed_s)
        g.attrs["_params_json"] = p.params_json
        m = g.create_group("metrics", track_order=True)
        for name, arr in p.metrics.items():
            if arr.ndim and arr.nbytes > _BIG_METRIC_BYTES:
                m.create_dataset(name, data=arr, chunks=True, compression="gzip", shuffle=True)
            else:
                m.create_dataset(name, data=arr)
        if p.raw:
            r = g.create_group("raw", track_order=True)
            for name, arr, status, shape in p.raw:
                if arr.size:
                    opts = {"compression": self._compression, "shuffle": True} if self._compression else {}
                    ds = r.create_dataset(name, data=arr, chunks=True, **opts)
                else:
                    ds = r.create_dataset(name, data=arr)
                ds.attrs["status"] = status
                ds.attrs["original_shape"] = np.asarray(shape, dtype=np.int64)
        g.attrs["_complete"] = np.int8(1)
        self._count(f, p)

    def _copy_point(self, f: h5py.File, src: h5py.File, p: _PreparedPoint) -> None:
        """Replay of :meth:`_write_point` on the twin: copy the group from the published file
        (HDF5 copies compressed chunks as they are), then the counters."""
        points, gname = f["points"], _group_name(p.index)
        if gname in points:
            del points[gname]
        src.copy(src["points"][gname], points, gname)
        self._count(f, p)

    @staticmethod
    def _count(f: h5py.File, p: _PreparedPoint) -> None:
        f.attrs["num_points_complete"] = np.int64(int(f.attrs["num_points_complete"]) + 1)
        f.attrs["raw_bytes"] = np.int64(int(f.attrs["raw_bytes"]) + p.raw_bytes)
        for status, attr in (("truncated", "raw_arrays_truncated"), ("skipped", "raw_arrays_skipped")):
            n = sum(s == status for _, _, s, _ in p.raw)
            if n:
                f.attrs[attr] = np.int64(int(f.attrs[attr]) + n)

    def _create(self, apply: Callable[[h5py.File], None]) -> None:
        """Write a new file into the twin and publish it (the old file, if any, stays until then)."""
        try:
            _remove(self._tmp)
            with h5py.File(self._tmp, "w", track_order=True) as f:
                apply(f)
            self._publish(keep_old=False)
        except Exception as err:
            _remove(self._tmp)
            if isinstance(err, TraceError):
                raise
            self._fail(f"cannot create the trace: {_one_line(err)}")

    def _transaction(self, apply: Callable[[h5py.File], None], keep_twin: bool = True,
                     replay: Optional[Callable[[h5py.File, h5py.File], None]] = None) -> None:
        """Apply one change to the twin, publish it as ``path``, then bring the new twin (the
        replaced file) up to date: with ``replay(twin, published)`` if given, else ``apply`` again."""
        if not self._twin_ready:
            _remove(self._tmp)
            shutil.copyfile(self.path, self._tmp)
        self._twin_ready = False
        try:
            with h5py.File(self._tmp, "r+") as f:
                apply(f)
        except BaseException:
            _remove(self._tmp)  # half-written twin; ``path`` is untouched
            raise
        behind = self._publish(keep_old=keep_twin)
        if behind:  # path.tmp is the previous state: make the same change to it
            try:
                with h5py.File(self._tmp, "r+") as f:
                    if replay is None:
                        apply(f)
                    else:
                        with h5py.File(self.path, "r") as src:
                            replay(f, src)
                self._twin_ready = True
            except Exception:  # e.g. a reader holds it open: copy at the next change
                _remove(self._tmp)

    def _publish(self, keep_old: bool) -> bool:
        """Atomically make the closed file ``path.tmp`` the trace. With ``keep_old``, the
        replaced file becomes the new ``path.tmp`` (via a hard link); returns whether it did."""
        if self._fsync:
            _fsync_path(self._tmp)
        linked = False
        if keep_old and self._hardlinks and self.path.exists():
            _remove(self._prev)
            try:
                os.link(self.path, self._prev)
                linked = True
            except OSError:
                self._hardlinks = False  # no hard links here: the twin is copied instead
        os.replace(self._tmp, self.path)
        if self._fsync:
            _fsync_path(self.path.parent, directory=True)
        if linked:
            os.replace(self._prev, self._tmp)
        return linked

    def _resume(self, fingerprint: str, seed: int, num_points: Optional[int]) -> None:
        try:
            with h5py.File(self.path, "r") as f:
                _check_format(f, self.path)
                old_fp = str(_from_attr(f.attrs.get("fingerprint", "")))
                old_seed = _from_attr(f.attrs.get("seed"))
                self._raw_bytes = int(f.attrs.get("raw_bytes", 0))
                for g in f["points"].values():
                    if int(g.attrs.get("_complete", 0)):
                        self.completed_keys.add(str(_from_attr(g.attrs["_key"])))
        except TraceError:
            raise
        except Exception as err:
            self._fail(f"cannot resume: not a readable trace ({_one_line(err)})")
        if old_fp != str(fingerprint):
            self._fail(f"cannot resume: the scenario fingerprint differs (trace {old_fp[:16]}, "
                       f"now {str(fingerprint)[:16]}); use another output path or overwrite=True")
        if old_seed != seed:
            self._fail(f"cannot resume: the seed differs (trace {old_seed}, now {seed}); "
                       "use another output path or overwrite=True")
        _remove(self._prev)
        entry = {"time": _now(), "git_commit": git_commit() or "", "versions": software_versions()}

        def reopen(f: h5py.File) -> None:
            log = json.loads(str(_from_attr(f.attrs["resumes_json"])))
            f.attrs["resumes_json"] = json.dumps([*log, entry])
            f.attrs["status"] = "running"
            f.attrs["end_time"] = ""
            f.attrs["raw_max_bytes"] = np.int64(self._raw_max_bytes)
            if num_points is not None:
                f.attrs["num_points_planned"] = np.int64(num_points)

        with self._errors("cannot resume"):
            self._transaction(reopen)


# --------------------------------------------------------------------------- reading

@dataclass
class TracePoint:
    """One sweep point as read back from a trace.

    :attr metrics: 0-d datasets as Python scalars (float/int), arrays as ``np.ndarray``.
    :attr raw_names: names of the raw arrays (load them with :func:`load_raw`).
    :attr raw_status: per raw array ``"full"``, ``"truncated"`` or ``"skipped"`` (size cap).
    """

    key: str
    index: int
    params: dict[str, ParamValue]
    metrics: dict[str, Any]
    complete: bool
    elapsed_s: float
    raw_names: list[str] = field(default_factory=list)
    raw_status: dict[str, str] = field(default_factory=dict)


@dataclass
class Trace:
    """A whole trace: root attributes and points sorted by index.

    :attr attrs: root attributes as Python values; the ``version.<package>`` attributes are
        gathered in ``attrs["versions"]`` (a dict).
    """

    path: Path
    attrs: dict[str, Any]
    points: list[TracePoint]

    @property
    def complete_points(self) -> list[TracePoint]:
        return [p for p in self.points if p.complete]


def _check_format(f: h5py.File, path: Path) -> None:
    if _from_attr(f.attrs.get("format")) != FORMAT or "points" not in f:
        raise TraceError(f"{path}: not a tokenlink trace (no format='{FORMAT}' attribute or no /points group)")


def _open(path: Union[str, os.PathLike]) -> tuple[Path, h5py.File]:
    path = Path(path)
    if not path.exists():
        raise TraceError(f"{path}: no such trace file")
    if path.is_dir():
        raise TraceError(f"{path}: is a directory, not a trace file")
    for attempt in range(3):
        try:
            f = h5py.File(path, "r")
            break
        except Exception as err:
            # A writer may be replaying a change on the file we opened just as it was replaced.
            if "lock" in str(err).lower() and attempt < 2:
                time.sleep(0.05)
                continue
            raise TraceError(f"{path}: cannot open as HDF5 ({_one_line(err)})") from None
    try:
        _check_format(f, path)
    except TraceError:
        f.close()
        raise
    return path, f


def _read_point(g: h5py.Group) -> TracePoint:
    params, internal = {}, {}
    for name, value in g.attrs.items():
        (internal if name.startswith("_") else params)[name] = _from_attr(value)
    metrics = {}
    if "metrics" in g:
        for name, ds in g["metrics"].items():
            value = ds[()]
            metrics[name] = value.item() if ds.ndim == 0 else value
    raw_status = {}
    if "raw" in g:
        raw_status = {name: str(_from_attr(ds.attrs.get("status", "full"))) for name, ds in g["raw"].items()}
    name = g.name.rsplit("/", 1)[-1]
    return TracePoint(
        key=str(internal.get("_key", name)),
        index=int(internal.get("_index", int(name) if name.isdigit() else -1)),
        params=params,
        metrics=metrics,
        complete=bool(internal.get("_complete", 0)),
        elapsed_s=float(internal.get("_elapsed_s", math.nan)),
        raw_names=list(raw_status),
        raw_status=raw_status,
    )


def read_trace(path: Union[str, os.PathLike]) -> Trace:
    """Read a trace's root attributes and all its points (metrics included, raw arrays not).

    Points without the completion flag are returned with ``complete=False``.
    """
    path, f = _open(path)
    with f:
        attrs: dict[str, Any] = {"versions": {}}
        for name, value in f.attrs.items():
            if name.startswith(_VERSION_PREFIX):
                attrs["versions"][name[len(_VERSION_PREFIX):]] = _from_attr(value)
            else:
                attrs[name] = _from_attr(value)
        points = [_read_point(g) for g in f["points"].values()]
    points.sort(key=lambda p: p.index)
    return Trace(path=path, attrs=attrs, points=points)


def load_raw(path: Union[str, os.PathLike], key: str, name: str) -> np.ndarray:
    """The raw array ``name`` of the point ``key`` (truncated or empty if the size cap hit it;
    see ``TracePoint.raw_status``)."""
    path, f = _open(path)
    with f:
        for g in f["points"].values():
            if _from_attr(g.attrs.get("_key")) == key:
                raw = g.get("raw")
                if raw is None or name not in raw:
                    have = ", ".join(raw) if raw is not None else "none"
                    raise TraceError(f"{path}: point {key!r} has no raw array {name!r} (has: {have})")
                return raw[name][()]
    raise TraceError(f"{path}: no point with key {key!r}")


# --------------------------------------------------------------------------- summaries

def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, np.ndarray):
        return f"array{list(value.shape)}"
    return str(value)


def swept_params(points: list[TracePoint]) -> list[str]:
    """Names of the parameters whose value differs between points, in order of appearance."""
    names: dict[str, None] = {}
    for p in points:
        names.update(dict.fromkeys(p.params))
    return [n for n in names if len({repr(p.params.get(n)) for p in points}) > 1]


def trace_summary(path: Union[str, os.PathLike], max_rows: int = 200) -> str:
    """Human-readable description of a trace (for ``tokenlink info``): run attributes,
    versions, points complete, and a table of the points with their swept parameters
    and main metrics."""
    trace = read_trace(path)
    a = trace.attrs
    done = trace.complete_points
    planned = a.get("num_points_planned", len(trace.points))
    resumes = json.loads(a.get("resumes_json", "[]") or "[]")
    versions = ", ".join(f"{k} {v}" for k, v in a["versions"].items())
    lines = [
        f"trace      {trace.path}",
        f"name       {a.get('name') or '-'}",
        f"status     {a.get('status')}" + (f" (resumed {len(resumes)}x)" if resumes else ""),
        f"started    {a.get('start_time')}   ended {a.get('end_time') or '-'}",
        f"seed       {a.get('seed')}   fingerprint {a.get('fingerprint')}",
        f"git        {a.get('git_commit') or 'unknown'}",
        f"versions   {versions}",
        f"points     {len(done)}/{planned} complete",
        f"raw arrays {a.get('raw_bytes', 0) / 1e6:.3g} MB of {a.get('raw_max_bytes', 0) / 1e6:.3g} MB cap"
        f" ({a.get('raw_arrays_truncated', 0)} truncated, {a.get('raw_arrays_skipped', 0)} skipped)",
    ]
    extra = {k: v for k, v in a.items() if k not in _ROOT_RESERVED and k != "versions"}
    if extra:
        lines.append("attributes " + ", ".join(f"{k}={_fmt(v)}" for k, v in extra.items()))
    if not trace.points:
        return "\n".join(lines)
    params = swept_params(trace.points) or list(trace.points[0].params)
    metric_names = {m for p in trace.points for m in p.metrics}
    metrics = [m for m in MAIN_METRICS if m in metric_names]
    header = ["index", *params, *metrics, "elapsed_s", "complete"]
    rows = [[str(p.index), *(_fmt(p.params.get(n)) for n in params),
             *(_fmt(p.metrics.get(m)) for m in metrics), f"{p.elapsed_s:.2f}", "yes" if p.complete else "NO"]
            for p in trace.points[:max_rows]]
    widths = [max(len(c) for c in col) for col in zip(header, *rows, strict=True)]
    lines.append("")
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in (header, *rows)]
    if len(trace.points) > max_rows:
        lines.append(f"... {len(trace.points) - max_rows} more points")
    others = sorted(metric_names - set(metrics))
    if others:
        lines.append(f"other metrics: {', '.join(others)}")
    return "\n".join(lines)


def export_csv(path: Union[str, os.PathLike], out_csv: Union[str, os.PathLike]) -> Path:
    """One row per complete point: ``index``, ``key``, every parameter, every scalar metric.

    None is an empty cell. A metric whose name is also a parameter's (or ``index``/``key``)
    gets the column ``metric.<name>``.
    """
    points = read_trace(path).complete_points
    params: dict[str, None] = {}
    metrics: dict[str, None] = {}
    for p in points:
        params.update(dict.fromkeys(p.params))
        metrics.update(dict.fromkeys(m for m, v in p.metrics.items() if not isinstance(v, np.ndarray)))
    header = ["index", "key", *params]
    header += [f"metric.{m}" if m in params or m in ("index", "key") else m for m in metrics]
    out = Path(out_csv)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for p in points:
                values = [p.index, p.key, *(p.params.get(n) for n in params), *(p.metrics.get(m) for m in metrics)]
                writer.writerow(["" if v is None else v for v in values])
    except OSError as err:
        raise TraceError(f"{out}: cannot write CSV: {_one_line(err)}") from None
    return out
