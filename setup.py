"""Package discovery for the folder layout of pyproject.toml.

The design card puts phy/, bridge/ and semantic/ at the repository root; they
install as subpackages of tokenlink (so that generic names such as ``phy``
never clash with other distributions). pyproject.toml cannot discover
packages under such a mapping, so it is done here: every folder with an
``__init__.py`` under a mapped root is a package, and none can be forgotten
(tests/test_wheel.py builds the wheel and checks). Everything else about the
distribution is in pyproject.toml.
"""

from setuptools import find_packages, setup

#: Installed package name -> source folder (relative to this file).
PACKAGE_DIR = {
    "tokenlink": "tokenlink",
    "tokenlink.phy": "phy",
    "tokenlink.bridge": "bridge",
    "tokenlink.semantic": "semantic",
    "tokenlink.scenarios": "scenarios",
}

#: Files that are not Python but are read at run time: the shipped scenarios (``tokenlink demo``).
PACKAGE_DATA = {"tokenlink.scenarios": ["*.yaml", "README.md"]}

PACKAGES = [
    name
    for root, folder in PACKAGE_DIR.items()
    for name in [root, *(f"{root}.{sub}" for sub in find_packages(folder))]
]

setup(package_dir=PACKAGE_DIR, packages=PACKAGES, package_data=PACKAGE_DATA)
