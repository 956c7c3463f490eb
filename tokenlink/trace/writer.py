"""Writing a trace: :class:`TraceWriter` streams a sweep into one HDF5 file, one group
per point, each change published atomically (:mod:`tokenlink.trace.atomic`), under the
trace's lock (:mod:`tokenlink.trace.lock`). Example: :mod:`tokenlink.trace`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Optional, Union

import h5py
import numpy as np

from ..provenance import git_commit, software_versions
from .atomic import TwinFile, prepare_folder
from .codec import ParamValue, attr_value, check_name, from_attr, json_value, numeric_array
from .lock import TraceLock
from .layout import (FORMAT, FORMAT_VERSION, ROOT_RESERVED, STATUSES, VERSION_PREFIX, TraceError, _one_line,
                     group_name, now_utc)
from .reader import check_format

__all__ = ["TraceWriter"]

_BIG_METRIC_BYTES = 64 * 1024  # metric arrays above this are chunked and compressed


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
    """Streams a sweep to one HDF5 file, crash safe (see :mod:`tokenlink.trace.atomic`).

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
    :param lock: the trace's :class:`~tokenlink.trace.lock.TraceLock`, already held by the caller
        (the runner takes it before anything else). Without it the writer takes the lock itself
        and releases it on :meth:`close`. Another process writing the trace ->
        :class:`~tokenlink.trace.lock.TraceLockError`, before anything is touched.

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
        lock: Optional[TraceLock] = None,
    ) -> None:
        self.path = Path(path)
        self._file = TwinFile(self.path, fsync=fsync)
        self._closed = False
        self._own_lock: Optional[TraceLock] = None
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
        prepare_folder(self.path)
        if lock is None:
            self._own_lock = TraceLock(self.path).acquire()
        elif not lock.held or os.path.abspath(lock.trace) != os.path.abspath(self.path):
            self._fail(f"the lock given is not held or is another trace's ({lock.trace})")
        try:
            self._open(resume, overwrite, scenario_yaml, fingerprint, int(seed), name, raw_compression,
                       extra_attrs, num_points)
        except BaseException:
            self._release_lock()
            raise

    def _open(self, resume: bool, overwrite: bool, scenario_yaml: str, fingerprint: str, seed: int, name: str,
              raw_compression: Optional[str], extra_attrs: Optional[Mapping[str, ParamValue]],
              num_points: Optional[int]) -> None:
        """Resume the trace, or write a new one (the lock is held)."""
        if resume and self.path.exists():
            self._resume(fingerprint, seed, num_points)
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
            "start_time": now_utc(),
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
            root[VERSION_PREFIX + pkg] = version
        for key, value in (extra_attrs or {}).items():
            if not isinstance(key, str) or not key or key in ROOT_RESERVED or key.startswith(VERSION_PREFIX):
                self._fail(f"extra attribute name {key!r} is empty or reserved")
            root[key] = attr_value(value, f"extra attribute {key!r}")
        self._raw_bytes = 0

        def create(f: h5py.File) -> None:
            f.attrs.update(root)
            f.create_group("points", track_order=True)

        self._file.create(create)

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
        """Write one complete sweep point and publish it atomically.

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
            self._file.update(lambda f: self._write_point(f, point),
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
        end = now_utc()

        def finish(f: h5py.File) -> None:
            f.attrs["status"] = status
            f.attrs["end_time"] = end

        with self._errors("cannot write the final status"):
            self._file.update(finish, keep_twin=False)
        self._closed = True
        self._file.discard_scratch()
        self._release_lock()

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
            finally:
                self._closed = True
                self._release_lock()

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

    def _release_lock(self) -> None:
        if self._own_lock is not None:
            self._own_lock.release()
            self._own_lock = None

    def _check_open(self) -> None:
        if self._closed:
            self._fail("the trace writer is closed")

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
                attrs[pname] = attr_value(value, f"parameter {pname!r}")
            params_json = json.dumps({k: json_value(v) for k, v in params.items()})
            metric_arrays = {}
            for mname, value in metrics.items():
                check_name(mname, "metric")
                metric_arrays[mname] = numeric_array(value, f"metric {mname!r}")
            raw_list, raw_bytes = [], 0
            budget = max(0, self._raw_max_bytes - self._raw_bytes)
            for rname, value in raw.items():
                check_name(rname, "raw array")
                arr = np.atleast_1d(numeric_array(value, f"raw array {rname!r}"))
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
        gname = group_name(p.index)
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
        points, gname = f["points"], group_name(p.index)
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

    def _resume(self, fingerprint: str, seed: int, num_points: Optional[int]) -> None:
        try:
            with h5py.File(self.path, "r") as f:
                check_format(f, self.path)
                old_fp = str(from_attr(f.attrs.get("fingerprint", "")))
                old_seed = from_attr(f.attrs.get("seed"))
                self._raw_bytes = int(f.attrs.get("raw_bytes", 0))
                for g in f["points"].values():
                    if int(g.attrs.get("_complete", 0)):
                        self.completed_keys.add(str(from_attr(g.attrs["_key"])))
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
        self._file.discard_scratch(prev_only=True)
        entry = {"time": now_utc(), "git_commit": git_commit() or "", "versions": software_versions()}

        def reopen(f: h5py.File) -> None:
            log = json.loads(str(from_attr(f.attrs["resumes_json"])))
            f.attrs["resumes_json"] = json.dumps([*log, entry])
            f.attrs["status"] = "running"
            f.attrs["end_time"] = ""
            f.attrs["raw_max_bytes"] = np.int64(self._raw_max_bytes)
            if num_points is not None:
                f.attrs["num_points_planned"] = np.int64(num_points)

        with self._errors("cannot resume"):
            self._file.update(reopen)
