"""Traces for people and spreadsheets: :func:`trace_summary` (the text of ``tokenlink
info``), :func:`export_csv` and :func:`swept_params`.

These only read the trace and never take its lock; on a trace a run is still
writing they describe the points complete so far.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Union

import numpy as np

from .atomic import remove_file
from .layout import ROOT_RESERVED, TraceError, _one_line
from .reader import TracePoint, read_trace

__all__ = ["MAIN_METRICS", "export_csv", "label_names", "swept_params", "trace_summary"]

#: Metrics shown in the table of :func:`trace_summary`, in this order.
MAIN_METRICS = ("esno_db", "ber", "ser", "ter", "nmse", "accuracy", "bits", "frames")


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


def label_names(points: list[TracePoint], names: list[str], label: str) -> list[str]:
    """``names`` without those the point parameter ``label`` decides (the ``variant`` of
    ``sweep.labels``: a labelled zip combination is named by its label alone); ``names``
    unchanged when it does not contain ``label``."""
    if label not in names:
        return names

    def decided(n: str) -> bool:
        seen: dict[Any, str] = {}
        return all(seen.setdefault(p.params.get(label), repr(p.params.get(n))) == repr(p.params.get(n))
                   for p in points)
    return [n for n in names if n == label or not decided(n)]


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
    extra = {k: v for k, v in a.items() if k not in ROOT_RESERVED and k not in ("versions", "warnings_json")}
    if extra:
        lines.append("attributes " + ", ".join(f"{k}={_fmt(v)}" for k, v in extra.items()))
    lines += [f"warning    {w}" for w in json.loads(a.get("warnings_json", "[]") or "[]")]
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
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")  # renamed when complete: no reader sees half a file
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for p in points:
                values = [p.index, p.key, *(p.params.get(n) for n in params), *(p.metrics.get(m) for m in metrics)]
                writer.writerow(["" if v is None else v for v in values])
        os.replace(tmp, out)
    except OSError as err:
        remove_file(tmp)
        raise TraceError(f"{out}: cannot write CSV: {_one_line(err)}") from None
    return out
