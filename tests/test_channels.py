"""Channel models: power normalization, fading statistics, Doppler, and the
handling of realizations (independence, reuse, reproducibility)."""

import numpy as np
import pytest
import torch
from scipy.special import j0

from tokenlink.phy import ChannelConfig, GridConfig, OFDMLink, set_seed
from tokenlink.phy.channels import OFDMChannelResponse
from tokenlink.phy.grid import build_resource_grid

GRID = GridConfig(fft_size=64, subcarrier_spacing_hz=30e3, num_ofdm_symbols=14, cyclic_prefix_length=4)


def _h(channel: dict, n: int, grid: GridConfig = GRID) -> np.ndarray:
    """[n, num_ofdm_symbols, fft_size] complex frequency responses."""
    rg = build_resource_grid(grid)
    gen = OFDMChannelResponse(ChannelConfig(**channel), rg)
    return gen(n)[:, 0, 0, 0, 0].numpy().astype(np.complex128)


def _mean_within(samples: np.ndarray, expected: float, k: float = 3.0) -> tuple[bool, float, float]:
    m = samples.mean()
    se = samples.std(ddof=1) / np.sqrt(samples.size)
    return abs(m - expected) < k * se, m, se


@pytest.mark.parametrize("model", ["tdl", "cdl"])
@pytest.mark.parametrize("profile", ["A", "B", "C", "D", "E"])
def test_3gpp_channel_has_unit_average_gain(model, profile):
    h = _h({"model": model, "profile": profile, "delay_spread_s": 300e-9, "max_speed_mps": 10.0}, 1500)
    per_slot_gain = (np.abs(h) ** 2).mean(axis=(1, 2))  # one independent value per realization
    ok, m, se = _mean_within(per_slot_gain, 1.0)
    assert ok, f"mean gain {m:.4f} +- {se:.4f}"
    assert se < 0.04  # the test can tell 1.0 from 1.12


@pytest.mark.parametrize("model", ["rayleigh", "rician", "tdl", "cdl"])
def test_normalized_channel_has_unit_gain_per_realization(model):
    h = _h({"model": model, "k_factor": 2.0, "normalize": True}, 64)
    np.testing.assert_allclose((np.abs(h) ** 2).mean(axis=(1, 2)), 1.0, rtol=1e-4)


@pytest.mark.parametrize("k_factor", [0.0, 1.0, 10.0])
def test_rician_moments_match_k_factor(k_factor):
    """E|h|^2 = 1 and E|h|^4 = (2 + 4K + K^2) / (K + 1)^2 (Rayleigh: 2)."""
    h = _h({"model": "rician", "k_factor": k_factor, "coherence": "symbol"}, 4000)[:, :, 0].ravel()
    p = np.abs(h) ** 2
    ok, m, se = _mean_within(p, 1.0)
    assert ok, (m, se)
    m4 = (2 + 4 * k_factor + k_factor**2) / (k_factor + 1) ** 2
    ok, m, se = _mean_within(p**2, m4)
    assert ok, f"E|h|^4 = {m:.4f} +- {se:.4f}, expected {m4:.4f}"


def test_rician_with_zero_k_is_rayleigh_distributed():
    """|h|^2 of Rayleigh fading is Exp(1): P(|h|^2 < 0.1) = 1 - e^-0.1."""
    for cfg in ({"model": "rician", "k_factor": 0.0}, {"model": "rayleigh"}):
        p = np.abs(_h(cfg, 20000)[:, 0, 0]) ** 2
        frac = (p < 0.1).mean()
        expected = 1 - np.exp(-0.1)
        assert abs(frac - expected) < 3 * np.sqrt(expected * (1 - expected) / p.size)


@pytest.mark.parametrize("model", ["rayleigh", "rician"])
def test_block_fading_is_constant_over_the_slot_and_flat(model):
    h = _h({"model": model, "k_factor": 3.0, "coherence": "block"}, 32)
    np.testing.assert_allclose(h, np.broadcast_to(h[:, :1, :1], h.shape), rtol=1e-6)


@pytest.mark.parametrize("k_factor", [0.0, 3.0])
def test_per_symbol_fading_decorrelates_across_symbols(k_factor):
    """Scattered part redrawn per OFDM symbol: corr(h_s, h_t) = K / (K + 1) for s != t."""
    h_full = _h({"model": "rician", "k_factor": k_factor, "coherence": "symbol"}, 8000)
    np.testing.assert_allclose(h_full, np.broadcast_to(h_full[:, :, :1], h_full.shape))  # flat in frequency
    h = h_full[:, :, 0]
    corr = np.mean(h[:, 0] * np.conj(h[:, 7]))
    assert abs(corr - k_factor / (k_factor + 1)) < 4 / np.sqrt(h.shape[0])


def test_batch_samples_are_independent_realizations():
    h = _h({"model": "rayleigh"}, 4000)[:, 0, 0]
    corr = np.mean(h[:-1] * np.conj(h[1:]))
    assert abs(corr) < 4 / np.sqrt(h.size)
    assert len(np.unique(np.round(h, 6))) == h.size


def _time_correlation(h: np.ndarray, lag: int) -> float:
    num = np.mean(h[:, 0, :] * np.conj(h[:, lag, :]))
    return float(np.real(num) / np.mean(np.abs(h[:, 0, :]) ** 2))


def test_tdl_time_correlation_follows_jakes_with_speed():
    """TDL-A (no line of sight): corr over 13 OFDM symbols ~ J0(2 pi f_d t)."""
    rg = build_resource_grid(GRID)
    lag = 13
    dt = lag * rg.ofdm_symbol_duration
    fc = 3.5e9
    corrs = []
    for speed in (0.0, 30.0, 60.0):
        h = _h({"model": "tdl", "profile": "A", "carrier_frequency_hz": fc, "speed_mps": speed}, 3000)
        rho = _time_correlation(h, lag)
        f_d = speed * fc / 299_792_458.0
        assert abs(rho - j0(2 * np.pi * f_d * dt)) < 0.06, (speed, rho, j0(2 * np.pi * f_d * dt))
        corrs.append(rho)
    assert corrs[0] > 0.999 and corrs[0] > corrs[1] > corrs[2]


def test_cdl_doppler_reduces_time_correlation():
    slow = _h({"model": "cdl", "profile": "A", "speed_mps": 0.0}, 1000)
    fast = _h({"model": "cdl", "profile": "A", "speed_mps": 60.0}, 1000)
    assert _time_correlation(slow, 13) > 0.999
    assert _time_correlation(fast, 13) < 0.7


def test_one_realization_carries_two_transmit_grids():
    """The analog and the digital path see the same h on every resource element."""
    link = OFDMLink({"channel": {"model": "tdl", "max_speed_mps": 30.0}, "grid": {"fft_size": 32}})
    h = link.generate_channel(4)
    xa = link.map_to_grid(torch.randn(4, link.num_data_symbols, dtype=torch.complex64))
    xd = link.map_to_grid(link.modulate(link.source(4)))
    no = 1e-12
    ya, yd = link.apply_channel(xa, h, no), link.apply_channel(xd, h, no)
    h_re = h[:, 0, 0, 0, 0]  # [4, 14, 32]: one response per resource element
    np.testing.assert_allclose(ya[:, 0, 0].numpy(), (h_re * xa[:, 0, 0]).numpy(), atol=1e-5)
    np.testing.assert_allclose(yd[:, 0, 0].numpy(), (h_re * xd[:, 0, 0]).numpy(), atol=1e-5)
    assert float(h_re[:, 0, 0].abs().std()) > 0.1  # the realizations really fade


def test_returned_realization_is_the_one_applied_and_reusable():
    link = OFDMLink({"channel": {"model": "rayleigh"}, "grid": {"fft_size": 16}, "modulation": "qpsk"})
    bits = link.source(8)
    out = link(bits, 1e-9, return_channel=True)
    assert out.h_freq.shape == (8, 1, 1, 1, 1, 14, 16)
    again = link(bits, 1e-9, h_freq=out.h_freq, return_channel=True)
    assert torch.equal(again.h_freq, out.h_freq)
    # perfect CSI + tiny noise: the equalized symbols are the transmitted ones
    np.testing.assert_allclose(again.x_hat.numpy(), link.modulate(bits).numpy(), atol=2e-3)


def test_same_seed_reproduces_channel_noise_and_bits():
    cfg = {"channel": {"model": "tdl", "max_speed_mps": 10.0}, "receiver": {"estimator": "ls"}}
    results = []
    for seed in (5, 5, 6):
        set_seed(seed)
        link = OFDMLink(cfg)
        bits = link.source(4)
        results.append(link(bits, torch.tensor([0.1, 0.2, 0.3, 0.4]), return_channel=True))
    assert torch.equal(results[0].llr, results[1].llr)
    assert torch.equal(results[0].h_freq, results[1].h_freq)
    assert not torch.equal(results[0].h_freq, results[2].h_freq)


def test_flat_fading_rejects_a_negative_k_factor_and_an_unknown_coherence():
    from tokenlink.phy.channels import FlatFading
    from tokenlink.phy.config import check_flat_fading

    assert check_flat_fading(3, "symbol") == (3.0, "symbol")
    with pytest.raises(ValueError, match="k_factor must be >= 0"):
        FlatFading(k_factor=-0.5)
    with pytest.raises(ValueError, match="k_factor must be >= 0"):
        FlatFading(k_factor=float("nan"))
    with pytest.raises(ValueError, match="coherence must be 'block' or 'symbol'"):
        FlatFading(coherence="slot")
