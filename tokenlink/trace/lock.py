"""One writer per trace: an exclusive OS lock on the sidecar file ``<trace>.lock``.

A process that writes a trace (``tokenlink run``, ``--resume``, ``--overwrite``,
or a :class:`~tokenlink.trace.TraceWriter` of your own) holds :class:`TraceLock`
for the whole time it writes. The lock is ``flock(LOCK_EX | LOCK_NB)`` on
``<trace>.lock``, whose content records the holder: one JSON line
``{"pid": ..., "host": ..., "start_time": ...}``. A second writer refuses at
once with :class:`TraceLockError`, one line naming the trace and the holder.

The operating system drops the lock when the holder's process ends in any way,
``kill -9`` included, so a crashed run never leaves a trace locked. A clean
release deletes the lock file; a killed holder leaves it behind with its
record, and the next writer takes it over with a one-line notice (logger
``tokenlink``) saying whether that process still runs.

Readers (``tokenlink info``, ``plot``, ``export``, :func:`~tokenlink.trace.read_trace`)
never take the lock. The lock is advisory and best-effort: on network or shared
file systems whose locks do not reach other hosts it may not see a writer
elsewhere (docs/traces.md). Without ``fcntl`` (Windows) writers are not
excluded.

Example::

    with TraceLock("results/run.h5") as lock:  # TraceLockError if another process writes it
        with TraceWriter("results/run.h5", ..., lock=lock) as tw:
            ...
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any, Optional, Union

from .atomic import prepare_folder
from .layout import TraceError, _one_line, now_utc

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; writers are not excluded
    fcntl = None

__all__ = ["TraceLock", "TraceLockError", "lock_path"]

_log = logging.getLogger("tokenlink")


class TraceLockError(TraceError):
    """Another process holds the trace's lock (it is writing the trace)."""


def lock_path(trace: Union[str, os.PathLike]) -> Path:
    """The sidecar lock file of a trace: ``<trace>.lock`` (``run.h5`` -> ``run.h5.lock``)."""
    trace = Path(trace)
    return trace.with_name(trace.name + ".lock")


class TraceLock:
    """Exclusive right to write the trace ``trace`` (see the module docstring).

    :param trace: the trace file, e.g. ``results/run.h5``; its folder is created if needed.

    :attr path: the lock file, ``<trace>.lock``.
    :attr held: whether this object holds the lock now.
    """

    def __init__(self, trace: Union[str, os.PathLike]) -> None:
        self.trace = Path(trace)
        self.path = lock_path(self.trace)
        self._fd: Optional[int] = None
        self._pid = 0

    @property
    def held(self) -> bool:
        return self._fd is not None and self._pid == os.getpid()

    def acquire(self) -> "TraceLock":
        """Take the lock at once or raise :class:`TraceLockError` (nothing is waited for).

        A lock file left by a process that ended without releasing it is taken over with a
        one-line warning on the ``tokenlink`` logger."""
        if self._fd is not None:
            raise TraceError(f"{self.trace}: this TraceLock is already held")
        prepare_folder(self.trace)
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise TraceError(f"{self.trace}: cannot create the lock file {self.path}: {_one_line(err)}") from None
            try:
                if not _try_lock(fd, self.trace):
                    raise TraceLockError(_refusal(self.trace, _read_record(fd, wait=True) or {}))
                if _same_file(fd, self.path):
                    break
                # the holder released (and deleted) the file between our open and our lock: again
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        try:
            left = _read_record(fd, wait=False)
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            mine = {"pid": os.getpid(), "host": socket.gethostname(), "start_time": now_utc()}
            os.write(fd, (json.dumps(mine) + "\n").encode())
        except OSError as err:
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # still ours: leave no record that names nobody
            os.close(fd)
            raise TraceError(f"{self.trace}: cannot write the lock file {self.path}: {_one_line(err)}") from None
        self._fd, self._pid = fd, os.getpid()
        if left is not None:
            _log.warning("tokenlink: %s", _takeover_notice(self.trace, left))
        return self

    def release(self) -> None:
        """Delete the lock file and drop the lock. Does nothing if not held (or in a forked
        child, which shares the parent's lock)."""
        if not self.held:
            return
        fd, self._fd = self._fd, None
        try:
            os.unlink(self.path)  # while still locked: a waiting writer sees a new file
        except OSError:
            pass
        finally:
            os.close(fd)

    def __enter__(self) -> "TraceLock":
        return self.acquire()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.release()

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:
            pass


# ------------------------------------------------------------------ helpers
def _try_lock(fd: int, trace: Path) -> bool:
    """Lock ``fd`` without waiting; False if another process holds it. Where the file system
    has no locks (``ENOLCK``, ``EOPNOTSUPP``, ...) or there is no ``fcntl``: True, with a notice."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as err:
        _log.warning("tokenlink: %s: this file system does not lock files (%s); writing without the one-writer "
                     "check (docs/traces.md)", trace, _one_line(err))
    return True


def _same_file(fd: int, path: Path) -> bool:
    """Is the open file ``fd`` still the one named ``path``?"""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _read_record(fd: int, wait: bool) -> Optional[dict[str, Any]]:
    """The holder record in the lock file: ``None`` if the file is empty, ``{}`` if it is not
    a record. With ``wait``, retry for ~0.2 s while the file is empty (its holder may be
    writing it just now)."""
    tries = 10 if wait else 1
    for attempt in range(tries):
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            text = os.read(fd, 4096).decode("utf-8", "replace").strip()
        except OSError:
            text = ""
        if text:
            try:
                record = json.loads(text)
            except ValueError:
                return {}
            return record if isinstance(record, dict) else {}
        if attempt + 1 < tries:
            time.sleep(0.02)
    return None


def _who(record: dict[str, Any]) -> str:
    pid, host, start = record.get("pid", "?"), record.get("host", "?"), record.get("start_time", "?")
    return f"pid {pid} on {host}, started {start}"


def _refusal(trace: Path, holder: dict[str, Any]) -> str:
    if not holder:
        who = "another process (its lock file has no record yet)"
    elif holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        who = f"this process ({_who(holder)}; close its other writer first)"
    else:
        who = f"another process ({_who(holder)})"
    return (f"{trace}: this trace is being written by {who}; wait for that run to end, "
            f"or write to another trace (another -o / output path)")


def _alive(pid: Any) -> Optional[bool]:
    """Does process ``pid`` of this host run (zombies count as ended)? None if unknown."""
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # runs, under another user
    except OSError:
        return None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _takeover_notice(trace: Path, left: dict[str, Any]) -> str:
    if not left:
        return f"{trace}: taking over a lock file left without a holder record"
    who = _who(left)
    if left.get("host") != socket.gethostname():
        return (f"{trace}: taking over the lock left by {who}; its lock is free, so it ended, unless "
                "this shared file system does not share locks between hosts (check that no run writes it there)")
    alive = _alive(left.get("pid"))
    if alive is False:
        return f"{trace}: taking over the lock left by {who}, which no longer runs"
    if left.get("pid") == os.getpid():
        return f"{trace}: taking over the lock left by this process ({who}; a writer that was not closed)"
    return (f"{trace}: taking over the lock left by {who}; that pid runs but does not hold the lock "
            "(its number was reused, or this file system does not support locks)")
