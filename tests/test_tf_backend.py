"""The TensorFlow backend (phy.backend: tensorflow, Sionna 1.x under XLA) against closed form,
against the torch backend, and its gradients against finite differences.

Runs in the environment ``make venv-tf`` creates (``make test-tf``); skipped where TensorFlow
is not installed (the default environment: Sionna 2.x and TensorFlow cannot share one).

Tolerances: slots are independent realizations, so a BER or NMSE estimate is a mean of
independent per-slot values with standard error ``se = std / sqrt(num_slots)`` (bits that
share a fade are correlated, so the binomial error would be too small for fading). Two
independent estimates (the two backends draw from different generators) agree when they
differ by less than 4 combined standard errors, ``4 sqrt(se1^2 + se2^2)``; an estimate
agrees with closed form within ``4 se`` (a false alarm about once in 16,000 comparisons).
Each test also bounds ``se`` so that a wide tolerance cannot hide a wrong curve.
"""

import fcntl
import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("tensorflow")
sionna = pytest.importorskip("sionna")
if not sionna.__version__.startswith("1."):  # pragma: no cover - TensorFlow next to Sionna 2.x
    pytest.skip("the TensorFlow backend needs Sionna 1.x", allow_module_level=True)

import sionna.phy  # noqa: E402

from tokenlink.bridge import TokenLink  # noqa: E402
from tokenlink.phy import build_link, set_seed  # noqa: E402
from tokenlink.phy.snr import esno_db_to_no  # noqa: E402
from tokenlink.phy.tf_link import TFOFDMLink, to_tf, to_torch  # noqa: E402
from tokenlink.phy.theory import ber_awgn, ber_rayleigh  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from backend_stats import link_stats  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TORCH_PYTHON = REPO / ".venv" / "bin" / "python"  # the default environment (Sionna 2.x)
SIGMAS = 4.0


def _phy(channel: str, estimator: str, backend: str = "tensorflow", modulation: str = "16qam",
         demapping: str = "maxlog") -> dict:
    """``channel``: a model, or ``"<model>_normalized"`` (``channel.normalize: true``)."""
    model, normalized = channel.removesuffix("_normalized"), channel.endswith("_normalized")
    return {"backend": backend, "modulation": modulation, "demapping": demapping,
            "channel": {"model": model, "profile": "C", "delay_spread_s": 100e-9, "normalize": normalized,
                        "k_factor": 4.0 if model == "rician" else 0.0},
            "receiver": {"estimator": estimator, "interpolation": "linear", "equalizer": "lmmse"}}


# ------------------------------------------------------------------ closed form
BITS = {"bpsk": 1, "qpsk": 2, "16qam": 4, "64qam": 6, "256qam": 8}


@pytest.mark.parametrize("modulation,esno_db", [("bpsk", 3.0), ("qpsk", 6.0), ("16qam", 12.0), ("64qam", 18.0),
                                                ("256qam", 24.0)])
def test_ber_awgn_matches_closed_form(modulation, esno_db):
    bps = BITS[modulation]
    got = link_stats(_phy("awgn", "perfect", modulation=modulation), esno_db, num_slots=256, seed=1)
    theory = float(ber_awgn(esno_db, bps))
    assert got["ber_se"] < 0.05 * theory
    assert abs(got["ber"] - theory) < SIGMAS * got["ber_se"], (got, theory)


@pytest.mark.parametrize("equalizer,coherence", [("lmmse", "block"), ("zf", "block"), ("lmmse", "symbol")])
def test_ber_rayleigh_matches_closed_form(equalizer, coherence):
    # Per-symbol fading (a new h per OFDM symbol) has the same per-RE statistics as block fading.
    phy = _phy("rayleigh", "perfect", modulation="qpsk")
    phy["receiver"]["equalizer"] = equalizer
    phy["channel"]["coherence"] = coherence
    got = link_stats(phy, 10.0, num_slots=2048, seed=2)
    theory = float(ber_rayleigh(10.0, 2))
    assert got["ber_se"] < 0.1 * theory
    assert abs(got["ber"] - theory) < SIGMAS * got["ber_se"], (got, theory)


def test_analog_nmse_awgn_matches_closed_form():
    # Unit-power Gaussian symbols, unit gain, perfect CSI: the biased MMSE estimate
    # x_hat / (1 + no) has error variance no / (1 + no).
    no = float(esno_db_to_no(10.0))
    got = link_stats(_phy("awgn", "perfect"), 10.0, num_slots=256, seed=3)
    assert abs(got["nmse"] - no / (1 + no)) < SIGMAS * got["nmse_se"] + 1e-4, got


# ------------------------------------------------------- against the torch backend
CROSS_CASES = ([(ch, est) for ch in ("awgn", "rayleigh", "tdl", "cdl") for est in ("perfect", "ls")]
               + [("rician", "ls"), ("tdl", "lmmse"), ("cdl", "lmmse"), ("tdl_normalized", "lmmse")])
CROSS_ESNO_DB = 12.0
CROSS_SLOTS = {"awgn": 256, "rayleigh": 1024, "rician": 512, "tdl": 512, "cdl": 256, "tdl_normalized": 512}


@pytest.fixture(scope="module")
def torch_backend_stats():
    """The torch backend's numbers for CROSS_CASES, computed in the default environment."""
    if not TORCH_PYTHON.exists():
        pytest.skip(f"the torch backend's environment ({TORCH_PYTHON}) is missing: run `make venv` first")
    cases = [{"phy": _phy(ch, est, backend="torch"), "esno_db": CROSS_ESNO_DB, "num_slots": CROSS_SLOTS[ch],
              "seed": 11} for ch, est in CROSS_CASES]
    blob = json.dumps(cases, sort_keys=True)
    # Under `pytest -n 2` (make test-tf) both workers need the numbers: the first computes them,
    # the other waits on the lock and reads them (the session's cache folder, tests/conftest.py).
    stored = Path(os.environ["TOKENLINK_TEST_CACHE"]) / f"torch-stats-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"
    with open(stored.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stored.exists():
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            run = subprocess.run([str(TORCH_PYTHON), str(REPO / "tests" / "backend_stats.py"), blob],
                                 capture_output=True, text=True, env=env, timeout=600)
            assert run.returncode == 0, run.stderr[-2000:]
            stored.with_suffix(".tmp").write_text(run.stdout.strip().splitlines()[-1])
            stored.with_suffix(".tmp").rename(stored)
    return dict(zip(CROSS_CASES, json.loads(stored.read_text())))


@pytest.mark.parametrize("channel,estimator", CROSS_CASES)
def test_ber_and_analog_nmse_agree_with_the_torch_backend(channel, estimator, torch_backend_stats):
    ref = torch_backend_stats[(channel, estimator)]
    got = link_stats(_phy(channel, estimator), CROSS_ESNO_DB, CROSS_SLOTS[channel], seed=12)
    print(f"{channel} {estimator}: tensorflow {got} torch {ref}")  # shown with pytest -rP
    for key in ("ber", "nmse"):
        se = math.hypot(got[f"{key}_se"], ref[f"{key}_se"])
        assert se < 0.1 * ref[key], (key, got, ref)
        assert abs(got[key] - ref[key]) < SIGMAS * se, (key, got, ref)


# ------------------------------------------------------------------- gradients
@pytest.fixture
def double_precision():
    """Sionna 1.x computes in its global precision (per block it silently falls back to single)."""
    old = sionna.phy.config.precision
    sionna.phy.config.precision = "double"
    yield
    sionna.phy.config.precision = old


SMALL_GRID = {"fft_size": 12, "num_ofdm_symbols": 4, "cyclic_prefix_length": 0, "pilot_ofdm_symbol_indices": [1]}


@pytest.mark.parametrize("estimator", ["perfect", "ls"])
def test_gradients_through_the_crossing_pass_gradcheck(estimator, double_precision):
    link = build_link({**_phy("rayleigh", estimator), "grid": SMALL_GRID})
    h, noise = link.generate_channel(2), link.draw_noise(2)
    no = torch.full([2], 0.1, dtype=torch.float64)
    x0 = link.modulate(link.source(2)).detach().clone().requires_grad_(True)

    def fn(x):
        return link.transmit_symbols(x, no, h, noise=noise)[0]

    assert torch.autograd.gradcheck(fn, (x0,), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_token_link_gradient_matches_finite_differences(double_precision):
    link = TokenLink({"mode": "analog", "phy": {**_phy("tdl", "ls"), "grid": SMALL_GRID}}, precision="double")
    tokens = torch.randn(2, 4, 6, dtype=torch.float64, requires_grad=True)
    direction = torch.randn_like(tokens)

    def loss(t):
        set_seed(5)  # the same channel and noise for every evaluation
        return (link(t, snr_db=15.0) ** 2).sum()

    loss(tokens).backward()
    eps = 1e-6
    fd = (loss(tokens.detach() + eps * direction) - loss(tokens.detach() - eps * direction)) / (2 * eps)
    analytic = (tokens.grad * direction).sum()
    print(f"directional derivative: autograd {float(analytic):.12g}, finite difference {float(fd):.12g}")
    assert abs(float(analytic) - float(fd)) < 1e-6 * max(1.0, abs(float(fd))), (float(analytic), float(fd))


# --------------------------------------------------------------- bridge, seeds
def test_token_link_drives_the_tensorflow_link_analog_and_digital():
    link = TokenLink({"mode": "digital", "digital": {"bits_per_value": 4},
                      "phy": _phy("tdl", "ls")})
    tokens = torch.randn(3, 16, 8)
    link.calibrate(tokens)
    both = link.transmit_both(tokens, snr_db=30.0)
    assert both["analog"].tokens.shape == tokens.shape and both["digital"].tokens.shape == tokens.shape
    analog_err = float(((both["analog"].tokens - tokens) ** 2).mean() / (tokens ** 2).mean())
    assert analog_err < 0.05
    assert link.metadata["phy"]["backend"] == "tensorflow"


def test_same_seed_same_results_on_the_tensorflow_backend():
    link = build_link(_phy("tdl", "ls"))
    outs = []
    for _ in range(2):
        set_seed(7)
        bits = link.source(4)
        outs.append(link(bits, no=0.1, return_channel=True))
    assert torch.equal(outs[0].llr, outs[1].llr) and torch.equal(outs[0].h_freq, outs[1].h_freq)
    set_seed(8)
    assert not torch.equal(link(link.source(4), no=0.1).llr, outs[0].llr)


def test_dlpack_crossing_is_zero_copy_both_ways():
    t = torch.randn(8, 912, dtype=torch.complex64)
    x = to_tf(t)
    back = to_torch(x)
    assert back.data_ptr() == t.data_ptr() and torch.equal(back, t)
    np.testing.assert_array_equal(x.numpy(), t.numpy())
    # A conjugate view is materialized (DLPack has no conjugate bit), with the conjugate values.
    np.testing.assert_array_equal(to_tf(t.conj()).numpy(), np.conj(t.numpy()))


def test_unsupported_features_fail_in_one_line():
    with pytest.raises(ValueError, match=r"backend 'tensorflow' does not support grid.pilot_subcarrier_step=2 "
                                         r"\(allowed: 1\): use backend 'torch'"):
        TFOFDMLink({"grid": {"pilot_subcarrier_step": 2}})
    with pytest.raises(ValueError, match=r"base_station.num_rx_antennas=2 \(allowed: 1\)"):
        TFOFDMLink({"base_station": {"num_rx_antennas": 2}})
    with pytest.raises(ValueError, match="global precision"):
        TFOFDMLink({}, precision="double" if sionna.phy.config.precision == "single" else "single")


def test_normalized_channel_has_unit_energy_per_grid_and_lmmse_uses_its_sample_covariances():
    """``channel.normalize``: every realization (and receive antenna) has unit mean energy over
    its resource grid, and the LMMSE estimator's sample covariances carry that power."""
    from tokenlink.phy.tf_channels import tf_empirical_covariances

    link = TFOFDMLink(_phy("tdl_normalized", "lmmse"))
    h = link.generate_channel(16).numpy()
    np.testing.assert_allclose(np.mean(np.abs(h) ** 2, axis=(-2, -1)), 1.0, rtol=1e-4)
    r_t, r_f = tf_empirical_covariances(link._draw_channel, link.resource_grid, link.precision, num_samples=256)
    np.testing.assert_allclose(np.diagonal(r_t.numpy()).real.mean(), 1.0, rtol=1e-6)
    # Each grid's energy is exactly 1 on average over all fft_size subcarriers, so about 1 on the used ones.
    assert abs(np.diagonal(r_f.numpy()).real.mean() - 1.0) < 0.05


def test_training_with_a_channel_bank_and_drawn_snr_runs_on_the_tensorflow_backend():
    link = TokenLink({"mode": "analog", "phy": _phy("rayleigh", "ls"), "train_snr_db_range": (0.0, 20.0),
                      "train_channel_bank_size": 32}).train()
    tokens = torch.randn(2, 8, 16, requires_grad=True)
    (link(tokens) ** 2).sum().backward()
    assert link.channel_bank() is not None and link.channel_bank().h_freq.shape[0] == 32
    assert torch.isfinite(tokens.grad).all() and float(tokens.grad.abs().sum()) > 0


def test_app_and_maxlog_demapping_give_the_same_llrs_for_qpsk():
    # Gray QPSK: each bit is decided by one real dimension with one point on each side, so
    # the APP sum has one term per hypothesis and equals max-log exactly.
    app, maxlog = (build_link(_phy("awgn", "perfect", modulation="qpsk", demapping=d)) for d in ("app", "maxlog"))
    set_seed(9)
    x = app.modulate(app.source(4))
    x_hat, no_eff, _ = app.transmit_symbols(x, 0.3)
    llr_app, llr_maxlog = app.demap(x_hat, no_eff), maxlog.demap(x_hat, no_eff)
    torch.testing.assert_close(llr_app, llr_maxlog, rtol=1e-5, atol=1e-4)
    assert float(llr_app.abs().mean()) > 1.0
