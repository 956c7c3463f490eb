"""The two set-up paths (pip/pyproject and conda/environment.yml) pin the same
packages, and the README, Makefile and CI agree on the commands."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_pins() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        pins += extra
    return {p.replace(" ", "").lower() for p in pins}


def _environment_pins() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {p.replace(" ", "").lower() for p in pip if not p.startswith("-e")}


def test_environment_yml_and_pyproject_list_the_same_pinned_dependencies():
    assert _environment_pins() == _pyproject_pins()


def test_every_dependency_is_pinned_exactly():
    for pin in _pyproject_pins():
        assert re.fullmatch(r"[a-z0-9_.\-]+==[0-9][0-9a-z.+]*", pin), pin


def test_environment_python_matches_requires_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11" and python == "python=3.11"


def test_makefile_installs_the_pinned_torch_first():
    makefile = (ROOT / "Makefile").read_text()
    assert 'pip install --quiet "$(TORCH)"' in makefile
    assert makefile.index('"$(TORCH)"') < makefile.index('-e ".[dev]"')
    assert "torch==2.13.0" in _pyproject_pins()


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme and "make test-tf" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line for line in ci.splitlines() if line.strip() and not line.startswith("#")]
    # the README's test command, then the TensorFlow backend's tests in their own environment
    assert commands[-1] == "make test-tf" and "make test" in commands
    assert commands.index("make test") < commands.index("make test-tf")


def test_results_folder_is_ignored_except_its_readme():
    gitignore = (ROOT / ".gitignore").read_text().splitlines()
    assert "results/*" in gitignore and "!results/README.md" in gitignore
    assert (ROOT / "results" / "README.md").exists()
