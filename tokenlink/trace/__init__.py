"""HDF5 run traces: one file per run, one group per sweep point.

A run is a sweep over points; for each point the runner simulates a link and
hands the metrics to a :class:`TraceWriter`, which streams them to disk. The
file can be read back with :func:`read_trace`, :func:`load_raw`,
:func:`trace_summary` and :func:`export_csv`, or from any language that reads
HDF5: the layout is in ``docs/traces.md``.

One module per job:

* :mod:`~tokenlink.trace.layout`: format name and version, statuses, reserved names, :class:`TraceError`;
* :mod:`~tokenlink.trace.codec`: Python values <-> HDF5 attributes;
* :mod:`~tokenlink.trace.atomic`: the crash-safe twin-file publish protocol (``kill -9`` at any
  moment leaves the last published file, complete and readable);
* :mod:`~tokenlink.trace.lock`: one writer per trace, an OS lock on ``<trace>.lock`` (:class:`TraceLock`);
* :mod:`~tokenlink.trace.writer`: :class:`TraceWriter`;
* :mod:`~tokenlink.trace.reader`: :func:`read_trace`, :func:`load_raw`, :class:`Trace`, :class:`TracePoint`;
* :mod:`~tokenlink.trace.report`: :func:`trace_summary`, :func:`export_csv`, :func:`swept_params`.

Example::

    with TraceWriter("results/run/trace.h5", scenario_yaml=text, fingerprint=fp, seed=1) as tw:
        for i, (key, params) in enumerate(points):
            if key in tw.completed_keys:
                continue
            tw.write_point(key, i, params, {"ber": 1e-3, "bits": 3648000})
    read_trace("results/run/trace.h5").points[0].metrics["ber"]
"""

from .codec import ParamValue
from .layout import FORMAT, FORMAT_VERSION, STATUSES, TraceError
from .lock import TraceLock, TraceLockError
from .reader import Trace, TracePoint, load_raw, read_trace
from .report import MAIN_METRICS, export_csv, label_names, swept_params, trace_summary
from .writer import TraceWriter

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Trace",
    "TraceError",
    "TraceLock",
    "TraceLockError",
    "TracePoint",
    "TraceWriter",
    "export_csv",
    "label_names",
    "load_raw",
    "read_trace",
    "swept_params",
    "trace_summary",
]
