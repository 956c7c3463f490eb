"""Analog tokens over the OFDM link: mapping, NMSE against theory, gradients."""

import math

import numpy as np
import pytest
import torch
from scipy.special import exp1
from tokenlink.bridge import AnalogMapper, TokenLink
from tokenlink.phy import set_seed

# One OFDM symbol of 12 subcarriers per token of 24 values, no pilots: each
# token sees one flat-fading draw when the channel changes every OFDM symbol.
SMALL_GRID = {"fft_size": 12, "pilot_pattern": "empty", "cyclic_prefix_length": 1}


def _link(channel: dict, equalizer: str = "zf", estimate: str = "unbiased", norm: str = "token", **phy):
    return TokenLink({
        "mode": "analog",
        "analog": {"power_normalization": norm, "estimate": estimate},
        "phy": {"grid": SMALL_GRID, "channel": channel,
                "receiver": {"estimator": "perfect", "equalizer": equalizer}, **phy},
    })


def _snr_batch(snrs_db, per_point):
    return torch.tensor(snrs_db, dtype=torch.float32).repeat_interleave(per_point)


@pytest.mark.parametrize("dim", [6, 7])
def test_mapping_round_trip_is_exact_and_pairs_values(dim):
    tokens = torch.randn(3, 5, dim, dtype=torch.float64)
    mapper = AnalogMapper("none")
    symbols, scale = mapper.map(tokens)
    assert symbols.shape == (3, 5 * math.ceil(dim / 2))
    # Value 2k -> real part, 2k+1 -> imaginary part of symbol k of the token.
    assert symbols[0, 1].real == tokens[0, 0, 2] and symbols[0, 1].imag == tokens[0, 0, 3]
    if dim % 2:
        assert torch.all(symbols.reshape(3, 5, -1)[..., -1].imag == 0)
    assert torch.equal(mapper.demap(symbols, scale, dim), tokens)


@pytest.mark.parametrize("norm", ["token", "frame"])
def test_power_normalization_gives_unit_power_per_channel_use(norm):
    tokens = 3.0 * torch.randn(4, 10, 33, dtype=torch.float64) + 1.0
    symbols, scale = AnalogMapper(norm).map(tokens)
    power = symbols.abs().square().reshape(4, 10, -1)
    per = power.mean(dim=-1) if norm == "token" else power.mean(dim=(-2, -1))
    torch.testing.assert_close(per, torch.ones_like(per))
    torch.testing.assert_close(AnalogMapper(norm).demap(symbols, scale, 33), tokens)


@pytest.mark.parametrize("dim", [24, 23])
def test_awgn_nmse_equals_inverse_snr(dim):
    """Perfect CSI, AWGN: NMSE = no * dim / (2 ceil(dim/2)) (the padded
    imaginary half of an odd token's last symbol carries no value)."""
    snrs = [0.0, 10.0, 20.0]
    link = _link({"model": "awgn"})
    tokens = torch.randn(3 * 6, 64, dim)
    out = link.transmit(tokens, snr_db=_snr_batch(snrs, 6), return_metrics=True)
    nmse = out.metrics.nmse.reshape(3, 6).mean(dim=1)
    theory = torch.tensor([10 ** (-s / 10) * dim / (2 * math.ceil(dim / 2)) for s in snrs])
    torch.testing.assert_close(nmse, theory, rtol=0.05, atol=0)


@pytest.mark.parametrize("equalizer", ["zf", "lmmse"])
def test_rayleigh_mmse_estimate_nmse_matches_closed_form(equalizer):
    """Flat Rayleigh, perfect CSI, biased MMSE estimate x_hat / (1 + no_eff):
    NMSE = (1/g) e^(1/g) E1(1/g), g = Es/N0."""
    snrs = [0.0, 10.0, 20.0]
    per_point = 2500
    link = _link({"model": "rayleigh", "coherence": "symbol"}, equalizer=equalizer, estimate="mmse")
    tokens = torch.randn(3 * per_point, 14, 24)  # one slot per frame, one h per token
    out = link.transmit(tokens, snr_db=_snr_batch(snrs, per_point), return_metrics=True)
    err = (out.tokens - tokens).square().sum(dim=-1)
    nmse = (err.reshape(3, -1).sum(dim=1) / tokens.square().sum(dim=-1).reshape(3, -1).sum(dim=1)).double()
    g = 10 ** (np.array(snrs) / 10)
    theory = torch.tensor((1 / g) * np.exp(1 / g) * exp1(1 / g))
    torch.testing.assert_close(nmse, theory, rtol=0.05, atol=0)


@pytest.mark.parametrize("equalizer", ["zf", "lmmse"])
def test_rayleigh_unbiased_error_follows_ratio_distribution(equalizer):
    """ZF (and Sionna's unbiased LMMSE, equal for one stream): per-symbol
    |e|^2 / no = |n|^2 / |h|^2, a ratio of two Exp(1) with CDF z / (1 + z)
    and median 1. Its mean is infinite, so the distribution is what we test."""
    link = _link({"model": "rayleigh", "coherence": "symbol"}, equalizer=equalizer, norm="none")
    snr_db = 10.0
    tokens = torch.randn(1500, 14, 24) / math.sqrt(2)  # unit power per symbol
    rx = link(tokens, snr_db=snr_db)
    e2 = (rx - tokens).reshape(-1, 2).square().sum(dim=-1).double() / 10 ** (-snr_db / 10)
    for z in (0.25, 1.0, 4.0):
        assert float((e2 <= z).double().mean()) == pytest.approx(z / (1 + z), abs=0.01)
    assert float(e2.median()) == pytest.approx(1.0, rel=0.05)


def test_lmmse_equalizer_output_equals_zf_for_one_stream_with_perfect_csi():
    tokens = torch.randn(8, 14, 24)
    outs = []
    for eq in ("zf", "lmmse"):
        set_seed(5)
        outs.append(_link({"model": "rayleigh", "coherence": "symbol"}, equalizer=eq)(tokens, snr_db=5.0))
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-5)


def test_gradients_match_finite_differences_through_ls_and_lmmse():
    link = TokenLink({
        "mode": "analog",
        "phy": {"grid": {"fft_size": 24}, "channel": {"model": "tdl", "speed_mps": 3.0},
                "receiver": {"estimator": "ls", "equalizer": "lmmse"}},
    }, precision="double")
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randn(2, 9, 31, dtype=torch.float64, generator=gen)
    target = torch.randn(tokens.shape, dtype=torch.float64, generator=gen)

    def loss(t):
        set_seed(3)  # same channel and noise for every evaluation
        return (link(t, snr_db=torch.tensor([5.0, 15.0])) - target).square().sum()

    t = tokens.clone().requires_grad_(True)
    loss(t).backward()
    assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    direction = torch.randn(tokens.shape, dtype=torch.float64, generator=gen)
    eps = 1e-6
    with torch.no_grad():
        fd = (loss(tokens + eps * direction) - loss(tokens - eps * direction)) / (2 * eps)
    assert float((t.grad * direction).sum()) == pytest.approx(float(fd), rel=1e-5)


def test_gradient_reaches_encoder_parameters_through_the_channel():
    link = TokenLink({"mode": "analog", "phy": {"channel": {"model": "tdl"},
                      "receiver": {"estimator": "lmmse", "equalizer": "lmmse"}},
                      "train_snr_db_range": (0.0, 20.0)})
    encoder = torch.nn.Linear(16, 32)
    decoder = torch.nn.Linear(32, 16)
    x = torch.randn(4, 20, 16)
    link.train()
    loss = (decoder(link(encoder(x))) - x).square().mean()
    loss.backward()
    for p in encoder.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
