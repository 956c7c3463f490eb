"""Where semantic/ keeps what it derives once: unzipped model folders,
generated data sets, pretrained encoder weights, cached encoder outputs.

Everything lives under one root, ``$TOKENLINK_CACHE`` or
``~/.cache/tokenlink``, in a folder per kind, and each entry is named by a
key derived from the configuration that made it (:func:`config_key`), so a
changed configuration never reads a stale entry. Entries are written to a
temporary name and renamed into place (:func:`atomic_dir`), so an
interrupted write leaves no half-written entry behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from ..common.digest import json_digest

__all__ = ["cache_root", "cache_dir", "config_key", "atomic_dir"]

ENV_VAR = "TOKENLINK_CACHE"


def cache_root() -> Path:
    """``$TOKENLINK_CACHE`` if set, else ``~/.cache/tokenlink``."""
    root = os.environ.get(ENV_VAR)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "tokenlink"


def cache_dir(kind: str, root: Union[str, os.PathLike, None] = None) -> Path:
    """The folder for one kind of entry (``"models"``, ``"datasets"``, ``"encoders"``, ...), created."""
    path = (Path(root).expanduser() if root is not None else cache_root()) / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_key(config: Any, length: int = 16) -> str:
    """A short hex key for a JSON-serialisable configuration (dict keys sorted,
    so equal configurations give equal keys)."""
    return json_digest(config, length, separators=(",", ":"), default=str)


@contextlib.contextmanager
def atomic_dir(final: Union[str, os.PathLike]) -> Iterator[Optional[Path]]:
    """Build a cache entry in a temporary sibling folder, renamed to ``final`` on success.

    Yields the temporary folder to fill, or `None` when ``final`` already
    exists (another process made it: nothing to do). On an exception the
    temporary folder is removed and ``final`` is untouched.
    """
    final = Path(final)
    if final.exists():
        yield None
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.exists():  # lost a race only if the winner's entry is there
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
