"""The trace format's fixed names: format id and version, run statuses, reserved root
attributes, point group names, and :class:`TraceError` (the layout is in ``docs/traces.md``)."""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["FORMAT", "FORMAT_VERSION", "STATUSES", "ROOT_RESERVED", "VERSION_PREFIX", "TraceError",
           "group_name", "now_utc"]

FORMAT = "tokenlink-trace"
FORMAT_VERSION = 1
#: Values of the root attribute ``status``; the first while a writer holds the trace.
STATUSES = ("running", "complete", "interrupted", "failed")
#: Root attributes the writer sets itself (``extra_attrs`` may not use them).
ROOT_RESERVED = frozenset({
    "format", "format_version", "name", "scenario_yaml", "fingerprint", "seed", "git_commit",
    "start_time", "end_time", "status", "num_points_planned", "num_points_complete",
    "raw_max_bytes", "raw_bytes", "raw_compression", "raw_arrays_truncated", "raw_arrays_skipped",
    "resumes_json",
})
#: Root attributes ``version.<package>`` record the software versions.
VERSION_PREFIX = "version."


class TraceError(ValueError):
    """A trace cannot be written or read; the message is one line naming the file."""


def _one_line(err: BaseException) -> str:
    """An exception's text on one line (an OSError's ``strerror`` without the errno)."""
    text = getattr(err, "strerror", None) if isinstance(err, OSError) and err.strerror else str(err)
    return " ".join(str(text).split()) or type(err).__name__


def now_utc() -> str:
    """Current time, ISO 8601 UTC with a ``Z``, e.g. ``2026-05-09T07:35:25Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def group_name(index: int) -> str:
    """Name of the group of sweep point ``index`` under ``/points``: ``000042``."""
    return f"{index:06d}"

