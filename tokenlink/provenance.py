"""Where a result came from: software versions and the git commit."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Optional

__all__ = ["software_versions", "git_commit"]

_PACKAGES = ("tokenlink", "sionna-no-rt", "torch", "numpy", "scipy", "h5py", "pydantic", "matplotlib")


def software_versions() -> dict[str, str]:
    """Versions of Python and of the packages a result depends on."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(path: Optional[Path] = None) -> Optional[str]:
    """Commit of the source tree (with ``-dirty`` if it has local changes), or
    `None` outside a git checkout."""
    cwd = Path(path) if path else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"],
            cwd=cwd, capture_output=True, text=True, timeout=5, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
