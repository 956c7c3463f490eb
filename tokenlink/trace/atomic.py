"""Crash-safe updates of one HDF5 file: the twin-file publish protocol.

HDF5 updates its metadata in place, so a process killed while it writes can
leave a file that no longer opens. :class:`TwinFile` therefore never writes to
``path`` itself. It keeps a twin file ``path.tmp`` that holds the same content
as ``path``, writes each change (a new point, the final status) into the twin,
closes it, fsyncs it and publishes it with ``os.replace(path.tmp, path)``, an
atomic rename. Before the rename the old file is hard-linked to
``path.prev``; after it, that old file becomes the new twin and receives the
same change (a new point group is copied over from the published file,
compressed chunks as they are), so the two files are equal again without
copying the whole file. ``kill -9`` at any moment leaves ``path`` as the last
published file: closed, complete and readable. Leftover ``path.tmp`` /
``path.prev`` files are scratch space, removed on resume or close. Without
hard links (some network or FAT file systems) the twin is re-made by copying
``path`` instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import h5py

from .layout import TraceError, _one_line

__all__ = ["TwinFile", "prepare_folder", "remove_file"]


def _fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_file(path: Path) -> None:
    """Delete ``path`` if it exists."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def prepare_folder(path: Path) -> None:
    """Check that ``path`` can be written as a file: not a directory, its folder created and
    writable. Raises a one-line :class:`TraceError` naming ``path``."""
    if path.is_dir():
        raise TraceError(f"{path}: is a directory, not a trace file")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TraceError(f"{path}: cannot create the folder {folder}: {_one_line(err)}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise TraceError(f"{path}: the folder {folder} is not writable")


class TwinFile:
    """Atomic updates of the HDF5 file ``path`` (see the module docstring).

    :param path: the published file, e.g. ``results/run/trace.h5``; scratch files are
        ``path.tmp`` and ``path.prev`` next to it.
    :param fsync: flush each published file and its folder to the disk, so that a power cut
        (not only a killed process) also keeps every published change.
    """

    def __init__(self, path: Path, fsync: bool = True) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.prev = self.path.with_name(self.path.name + ".prev")
        self._fsync = fsync
        self._twin_ready = False  # does path.tmp hold exactly what path holds?
        self._hardlinks = True

    def create(self, apply: Callable[[h5py.File], None]) -> None:
        """Write a new file with ``apply(file)`` into the twin and publish it (an old file at
        ``path``, if any, stays untouched until then)."""
        try:
            remove_file(self.tmp)
            with h5py.File(self.tmp, "w", track_order=True) as f:
                apply(f)
            self._publish(keep_old=False)
        except Exception as err:
            remove_file(self.tmp)
            if isinstance(err, TraceError):
                raise
            raise TraceError(f"{self.path}: cannot create the trace: {_one_line(err)}") from None

    def update(self, apply: Callable[[h5py.File], None], keep_twin: bool = True,
               replay: Optional[Callable[[h5py.File, h5py.File], None]] = None) -> None:
        """Apply one change to the twin, publish it as ``path``, then bring the new twin (the
        replaced file) up to date: with ``replay(twin, published)`` if given, else ``apply``
        again. With ``keep_twin=False`` (the last change) no new twin is kept."""
        if not self._twin_ready:
            remove_file(self.tmp)
            shutil.copyfile(self.path, self.tmp)
        self._twin_ready = False
        try:
            with h5py.File(self.tmp, "r+") as f:
                apply(f)
        except BaseException:
            remove_file(self.tmp)  # half-written twin; ``path`` is untouched
            raise
        behind = self._publish(keep_old=keep_twin)
        if behind:  # path.tmp is the previous state: make the same change to it
            try:
                with h5py.File(self.tmp, "r+") as f:
                    if replay is None:
                        apply(f)
                    else:
                        with h5py.File(self.path, "r") as src:
                            replay(f, src)
                self._twin_ready = True
            except Exception:  # e.g. a reader holds it open: copy at the next change
                remove_file(self.tmp)

    def discard_scratch(self, prev_only: bool = False) -> None:
        """Remove the scratch files ``path.prev`` and (unless ``prev_only``) ``path.tmp``."""
        if not prev_only:
            remove_file(self.tmp)
            self._twin_ready = False
        remove_file(self.prev)

    def _publish(self, keep_old: bool) -> bool:
        """Atomically make the closed file ``path.tmp`` the published file. With ``keep_old``,
        the replaced file becomes the new ``path.tmp`` (via a hard link); returns whether it did."""
        if self._fsync:
            _fsync_path(self.tmp)
        linked = False
        if keep_old and self._hardlinks and self.path.exists():
            remove_file(self.prev)
            try:
                os.link(self.path, self.prev)
                linked = True
            except OSError:
                self._hardlinks = False  # no hard links here: the twin is copied instead
        os.replace(self.tmp, self.path)
        if self._fsync:
            _fsync_path(self.path.parent, directory=True)
        if linked:
            os.replace(self.prev, self.tmp)
        return linked
