"""The layers hold: runner (tokenlink.*) -> semantic -> bridge -> phy -> Sionna,
with tokenlink.common under all of them (the import-linter contracts of
pyproject.toml), and what crosses the layers has a public home."""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

#: Source folder -> folder in the installed layout (setup.py's mapping).
_LAYOUT = {"tokenlink": "tokenlink", "phy": "tokenlink/phy", "bridge": "tokenlink/bridge",
           "semantic": "tokenlink/semantic"}
#: The packages of tokenlink that are not the runner.
_BELOW_RUNNER = {"phy", "bridge", "semantic", "common"}


def _installed_tree(tmp_path: Path) -> Path:
    """A copy of the .py files in the installed layout (tokenlink/phy, ...): grimp
    builds the import graph by walking the package folder, and phy/, bridge/ and
    semantic/ live outside tokenlink/ in the repository."""
    tree = tmp_path / "tree"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for source, target in _LAYOUT.items():
        shutil.copytree(ROOT / source, tree / target, ignore=ignore, dirs_exist_ok=True)
    return tree


def _lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """import-linter with the contracts of pyproject.toml, over ``tree`` (a fresh
    interpreter: this one has the editable tokenlink imported already)."""
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, no_cache=True, no_logo=True))")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=120)


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def _runner_modules() -> set[str]:
    """Every top-level module and package of tokenlink/ that is not below the runner."""
    names = set()
    for path in (ROOT / "tokenlink").iterdir():
        if path.suffix == ".py" and path.stem != "__init__":
            names.add(path.stem)
        elif path.is_dir() and (path / "__init__.py").exists() and path.name not in _BELOW_RUNNER:
            names.add(path.name)
    return {f"tokenlink.{n}" for n in names}


def test_import_linter_contracts_are_kept(tmp_path):
    result = _lint_imports(_installed_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in result.stdout


def test_every_runner_module_is_forbidden_to_every_layer_below():
    runner = _runner_modules()
    assert {"tokenlink.cli", "tokenlink.runner", "tokenlink.scenario", "tokenlink.trace"} <= runner
    sources_checked = set()
    for contract in _contracts():
        if contract["type"] == "forbidden" and not contract.get("allow_indirect_imports"):
            missing = runner - set(contract["forbidden_modules"])
            assert not missing, f"contract {contract['name']!r} does not forbid {sorted(missing)}"
            sources_checked |= set(contract["source_modules"])
    assert sources_checked == {f"tokenlink.{p}" for p in _BELOW_RUNNER}


_VIOLATIONS = {
    # file of the installed tree, line appended, contract that must break
    "phy_imports_bridge": ("tokenlink/phy/grid.py", "from ..bridge import config",
                           "phy imports no bridge, semantic or runner module"),
    "phy_imports_runner": ("tokenlink/phy/snr.py", "import tokenlink.scenario",
                           "phy imports no bridge, semantic or runner module"),
    "bridge_imports_semantic": ("tokenlink/bridge/framing.py", "from ..semantic import losses",
                                "semantic above bridge above phy"),
    "bridge_imports_runner": ("tokenlink/bridge/resources.py", "from tokenlink import trace",
                              "bridge imports no semantic or runner module"),
    "semantic_imports_phy": ("tokenlink/semantic/config.py", "from ..phy.config import PhyConfig",
                             "semantic reaches phy and Sionna only through bridge"),
    "semantic_imports_sionna": ("tokenlink/semantic/train.py", "import sionna.phy",
                                "semantic reaches phy and Sionna only through bridge"),
    "semantic_imports_runner": ("tokenlink/semantic/cache.py", "from .. import runner",
                                "semantic imports no runner module"),
    "common_imports_phy": ("tokenlink/common/config.py", "from ..phy import snr",
                           "common imports nothing else of tokenlink, and no torch or Sionna"),
    "common_imports_torch": ("tokenlink/common/config.py", "import torch",
                             "common imports nothing else of tokenlink, and no torch or Sionna"),
}


@pytest.mark.parametrize("violation", sorted(_VIOLATIONS))
def test_a_forbidden_import_breaks_its_contract(tmp_path, violation):
    path, line, contract = _VIOLATIONS[violation]
    tree = _installed_tree(tmp_path)
    with open(tree / path, "a") as f:
        f.write(f"\n{line}\n")
    result = _lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{contract} BROKEN" in result.stdout, result.stdout


def test_every_config_model_derives_from_the_common_strict_base():
    from pydantic import ValidationError

    from tokenlink.bridge.config import AnalogConfig, DigitalConfig, TokenLinkConfig
    from tokenlink.common.config import StrictConfig
    from tokenlink.phy.config import ChannelConfig, GridConfig, PhyConfig, ReceiverConfig
    from tokenlink.phy.snr import LinkBudget
    from tokenlink.scenario import Scenario
    from tokenlink.semantic.config import SemanticConfig

    for model in (GridConfig, ChannelConfig, ReceiverConfig, PhyConfig, LinkBudget, AnalogConfig, DigitalConfig,
                  TokenLinkConfig, SemanticConfig, Scenario):
        assert issubclass(model, StrictConfig), model
    with pytest.raises(ValidationError, match="fft_sise"):
        GridConfig(fft_sise=64)
    grid = GridConfig()
    with pytest.raises(ValidationError, match="frozen"):
        grid.fft_size = 12


def test_bridge_saves_and_restores_the_random_state_of_the_link():
    from tokenlink.bridge import rng_state as bridge_rng_state
    from tokenlink.bridge.runtime import rng_state, set_rng_state
    from tokenlink.phy import runtime

    assert rng_state is runtime.rng_state and set_rng_state is runtime.set_rng_state
    assert bridge_rng_state is rng_state
    from sionna.phy import config as sionna_config

    state = rng_state("cpu")
    first = torch.rand(5, generator=sionna_config.torch_rng("cpu"))
    set_rng_state(state, "cpu")
    again = torch.rand(5, generator=sionna_config.torch_rng("cpu"))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    later = torch.rand(5, generator=sionna_config.torch_rng("cpu"))
    assert not torch.equal(first, later)
