"""A non-editable install has every package: the wheel built from the repository
(no network, no build isolation) holds every folder with an ``__init__.py`` under
the mapped source folders, as its installed package, with all of its files."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Source folder -> installed package (the mapping of setup.py).
SOURCE_ROOTS = {"tokenlink": "tokenlink", "phy": "tokenlink.phy", "bridge": "tokenlink.bridge",
                "semantic": "tokenlink.semantic", "scenarios": "tokenlink.scenarios"}

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")


def _source_files() -> dict[str, Path]:
    """Wheel path (``tokenlink/semantic/data/base.py``) -> source file, for every file of every package."""
    files = {}
    for folder, package in SOURCE_ROOTS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            package_dir = init.parent
            if any(p.name == "__pycache__" for p in package_dir.parents):
                continue
            relative = package_dir.relative_to(ROOT / folder)
            target = Path(*package.split("."), relative)
            for path in package_dir.iterdir():
                if path.is_file() and path.suffix != ".pyc":
                    files[(target / path.name).as_posix()] = path
    return files


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel, built from a copy of the sources (the work tree gets no build/ or egg-info)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in SOURCE_ROOTS:
        shutil.copytree(ROOT / folder, source / folder, ignore=_IGNORED)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "--wheel-dir", str(tmp / "dist"), str(source)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = (tmp / "dist").glob("tokenlink-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def test_source_tree_has_the_packages_the_code_imports():
    # guards the test itself: an empty walk would make the wheel checks vacuous
    packages = {Path(p).parent.as_posix().replace("/", ".") for p in _source_files()}
    assert {"tokenlink", "tokenlink.common", "tokenlink.phy", "tokenlink.bridge",
            "tokenlink.semantic", "tokenlink.semantic.data", "tokenlink.scenarios"} <= packages


def test_wheel_contains_every_package_folder_as_its_installed_package(wheel):
    names = set(wheel.namelist())
    packages = sorted({Path(p).parent.as_posix() for p in _source_files()})
    missing = [p.replace("/", ".") for p in packages if f"{p}/__init__.py" not in names]
    assert not missing, f"packages missing from the wheel: {missing}"


def test_wheel_contains_every_file_of_every_package(wheel):
    # .py modules and any data file a package folder holds (the shipped scenarios' YAML
    # files: a new kind of file must be declared as package data in setup.py)
    names = set(wheel.namelist())
    missing = sorted(p for p in _source_files() if p not in names)
    assert not missing, f"files missing from the wheel: {missing}"


def test_wheel_installs_the_console_script(wheel):
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "tokenlink = tokenlink.cli:main" in wheel.read(entry_points).decode()


def test_wheel_has_no_stray_top_level_package(wheel):
    # phy/, bridge/ and semantic/ install under tokenlink only (no top-level `phy`)
    tops = {n.split("/")[0] for n in wheel.namelist() if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"tokenlink"}
