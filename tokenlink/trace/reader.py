"""Reading a trace back: :func:`read_trace` (attributes and points, metrics included) and
:func:`load_raw` (one raw array).

Readers never take the trace's lock: the published file is always complete
(see :mod:`tokenlink.trace.atomic`), so reading while a run writes gives the
points complete so far and the status ``running``.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import h5py
import numpy as np

from .codec import ParamValue, from_attr
from .layout import FORMAT, VERSION_PREFIX, TraceError, _one_line

__all__ = ["Trace", "TracePoint", "read_trace", "load_raw", "check_format"]


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


def check_format(f: h5py.File, path: Path) -> None:
    """Raise a one-line :class:`TraceError` unless the open file ``f`` is a tokenlink trace."""
    if from_attr(f.attrs.get("format")) != FORMAT or "points" not in f:
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
        check_format(f, path)
    except TraceError:
        f.close()
        raise
    return path, f


def _read_point(g: h5py.Group) -> TracePoint:
    params, internal = {}, {}
    for name, value in g.attrs.items():
        (internal if name.startswith("_") else params)[name] = from_attr(value)
    metrics = {}
    if "metrics" in g:
        for name, ds in g["metrics"].items():
            value = ds[()]
            metrics[name] = value.item() if ds.ndim == 0 else value
    raw_status = {}
    if "raw" in g:
        raw_status = {name: str(from_attr(ds.attrs.get("status", "full"))) for name, ds in g["raw"].items()}
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
            if name.startswith(VERSION_PREFIX):
                attrs["versions"][name[len(VERSION_PREFIX):]] = from_attr(value)
            else:
                attrs[name] = from_attr(value)
        points = [_read_point(g) for g in f["points"].values()]
    points.sort(key=lambda p: p.index)
    return Trace(path=path, attrs=attrs, points=points)


def load_raw(path: Union[str, os.PathLike], key: str, name: str) -> np.ndarray:
    """The raw array ``name`` of the point ``key`` (truncated or empty if the size cap hit it;
    see ``TracePoint.raw_status``)."""
    path, f = _open(path)
    with f:
        for g in f["points"].values():
            if from_attr(g.attrs.get("_key")) == key:
                raw = g.get("raw")
                if raw is None or name not in raw:
                    have = ", ".join(raw) if raw is not None else "none"
                    raise TraceError(f"{path}: point {key!r} has no raw array {name!r} (has: {have})")
                return raw[name][()]
    raise TraceError(f"{path}: no point with key {key!r}")
