"""The CLI answers without loading torch or Sionna: the scenario schema, the
trace reader and the CLI import neither, the packages phy and bridge resolve
their public names on first use, and `run` loads torch only to simulate.
(Timings: benchmarks/cli_latency.py.)"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The public names of the packages, as they were when the packages imported eagerly.
PUBLIC_NAMES = {
    "tokenlink.phy": [
        "BERCurve", "BaseStationConfig", "ChannelConfig", "GridConfig", "LinkBudget", "LinkOutput", "OFDMLink", "PhyConfig",
        "ReceiverConfig", "build_link", "ebno_db_to_esno_db", "esno_db_to_ebno_db", "esno_db_to_no", "no_to_esno_db",
        "resolve_device", "set_seed", "simulate_ber",
    ],
    "tokenlink.bridge": [
        "AnalogConfig", "AnalogMapper", "CodesOutput", "DigitalConfig", "EmbeddingAWGN", "LinkMetrics", "MultiUserTokenLink", "Realization",
        "ResourceUsage", "ScalarQuantizer", "TokenLink", "TokenLinkConfig", "TokenLinkOutput", "VectorQuantizer",
        "bit_error_rate", "from_numpy", "link_metrics", "mse", "nmse", "rng_state", "set_rng_state", "shares_memory",
        "symbols_per_token", "to_numpy", "token_error_rate",
    ],
}


def _heavy_modules_after(code: str, cwd: Path = ROOT) -> dict:
    """Run ``code`` in a fresh interpreter; which of torch / sionna it loaded, and what it printed."""
    probe = textwrap.dedent(code) + textwrap.dedent("""
        import json, sys
        print(json.dumps({"heavy": sorted(m for m in ("torch", "sionna") if m in sys.modules)}))
    """)
    result = subprocess.run([sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    *output, last = result.stdout.strip().splitlines()
    return {**json.loads(last), "output": "\n".join(output)}


def test_scenario_cli_and_trace_modules_import_without_torch_or_sionna():
    probe = _heavy_modules_after("""
        import tokenlink.scenario, tokenlink.cli, tokenlink.trace, tokenlink.runner
        import tokenlink.phy, tokenlink.phy.config, tokenlink.phy.snr
        import tokenlink.bridge, tokenlink.bridge.config, tokenlink.semantic, tokenlink.semantic.config
        import tokenlink.common.config, tokenlink.common.lazy
    """)
    assert probe["heavy"] == []


def test_loading_and_validating_scenarios_loads_no_torch_or_sionna(tmp_path):
    (tmp_path / "two.yaml").write_text("name: two\nphy: {snr_db: 5}\n")
    probe = _heavy_modules_after(f"""
        import contextlib, glob, io
        from tokenlink.cli import main
        from tokenlink.scenario import load_scenario

        scenario = load_scenario({str(tmp_path / 'two.yaml')!r}, ["phy.channel.model=tdl"])
        scenario.to_yaml(), scenario.fingerprint(), scenario.esno_db()
        codes = []
        for path in [{str(tmp_path / 'two.yaml')!r}, *sorted(glob.glob({str(ROOT / 'scenarios' / '*.yaml')!r}))]:
            with contextlib.redirect_stdout(io.StringIO()):
                codes.append(main(["validate", path, "--set", "run.seed=3"]))
        print(codes)
    """)
    codes = eval(probe["output"])
    assert len(codes) > 1 and set(codes) == {0}
    assert probe["heavy"] == []


def test_info_and_export_of_a_trace_load_no_torch_or_sionna(tmp_path):
    from tokenlink.trace import TraceWriter

    path = tmp_path / "t.h5"
    writer = TraceWriter(path, scenario_yaml="name: t\n", fingerprint="f", seed=1, name="t", num_points=1)
    writer.write_point("k0", 0, {"phy.snr_db": 5.0}, {"ber": 0.1}, {}, 0.5)
    writer.close("complete")
    probe = _heavy_modules_after(f"""
        import contextlib, io
        from tokenlink.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            codes = [main(["info", {str(path)!r}]), main(["export", {str(path)!r}, "--csv"])]
        print(codes)
    """)
    assert eval(probe["output"]) == [0, 0]
    assert probe["heavy"] == []


def test_run_that_is_refused_before_simulating_loads_no_torch(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: bad\nphy: {snr_dbb: 5}\n")
    (tmp_path / "two.yaml").write_text("name: two\nphy: {snr_db: 5}\n")
    (tmp_path / "exists.h5").write_bytes(b"")
    probe = _heavy_modules_after(f"""
        import contextlib, io
        from tokenlink.cli import main
        with contextlib.redirect_stderr(io.StringIO()) as err:
            codes = [main(["run", {str(tmp_path / 'bad.yaml')!r}]),
                     main(["run", {str(tmp_path / 'two.yaml')!r}, "-o", {str(tmp_path / 'exists.h5')!r}])]
        print(codes, err.getvalue().count("error"))
    """)
    assert probe["output"] == "[2, 2] 2"
    assert probe["heavy"] == []


@pytest.mark.parametrize("package", sorted(PUBLIC_NAMES))
def test_lazy_package_resolves_every_public_name(package):
    probe = _heavy_modules_after(f"""
        import importlib, inspect
        package = importlib.import_module({package!r})
        names = list(package.__all__)
        listed = set(dir(package))
        namespace = {{}}
        exec("from {package} import *", namespace)
        resolved = {{n: getattr(package, n) is getattr(importlib.import_module(
                        {package!r} + "." + package._EXPORTS[n]), n) for n in names}}
        print(names)
        print(sorted(set(names) - listed))
        print(sorted(set(names) - set(namespace)))
        print(resolved)
    """)
    names, not_listed, not_starred, resolved = (eval(line) for line in probe["output"].splitlines())
    assert names == PUBLIC_NAMES[package]
    assert not_listed == [] and not_starred == []
    assert all(resolved.values()), resolved


def test_lazy_package_names_are_the_objects_of_their_modules():
    import tokenlink.bridge
    import tokenlink.bridge.layer
    import tokenlink.phy
    import tokenlink.phy.ber
    import tokenlink.phy.snr

    assert tokenlink.phy.simulate_ber is tokenlink.phy.ber.simulate_ber
    assert tokenlink.phy.LinkBudget is tokenlink.phy.snr.LinkBudget
    assert tokenlink.bridge.TokenLink is tokenlink.bridge.layer.TokenLink
    from tokenlink.phy import OFDMLink
    from tokenlink.phy.link import OFDMLink as from_module

    assert OFDMLink is from_module


def test_lazy_package_submodules_are_attributes_and_unknown_names_fail():
    probe = _heavy_modules_after("""
        import tokenlink.phy, tokenlink.bridge
        print(tokenlink.phy.theory.__name__, tokenlink.bridge.resources.__name__)
        try:
            tokenlink.phy.OFDMLinq
        except AttributeError as err:
            print(err)
    """)
    first, error = probe["output"].splitlines()
    assert first == "tokenlink.phy.theory tokenlink.bridge.resources"
    assert error == "module 'tokenlink.phy' has no attribute 'OFDMLinq'"


def test_snr_conversions_accept_tensors_once_torch_is_loaded():
    import numpy as np
    import torch

    from tokenlink.phy.snr import LinkBudget, no_to_esno_db, path_loss_db

    assert isinstance(no_to_esno_db(torch.tensor([0.1, 1.0])), torch.Tensor)
    torch.testing.assert_close(no_to_esno_db(torch.tensor([0.1, 1.0])), torch.tensor([10.0, 0.0]))
    d = np.array([20.0, 900.0])
    numpy_pl = path_loss_db("uma_nlos", d, 3.5e9)
    torch_pl = path_loss_db("uma_nlos", torch.tensor(d), 3.5e9)
    assert isinstance(torch_pl, torch.Tensor)
    np.testing.assert_allclose(torch_pl.numpy(), numpy_pl)
    assert LinkBudget().sample_snr_db(4).dtype == torch.float32
    assert LinkBudget().sample_snr_db(4, dtype=torch.float64).dtype == torch.float64
