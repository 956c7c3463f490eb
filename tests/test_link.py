"""OFDMLink as a block: shapes, dtypes, per-sample SNR, gradients, metadata."""

import numpy as np
import pytest
import torch

from tokenlink.phy import OFDMLink, set_seed


def test_output_shapes_and_dtypes_single_precision():
    link = OFDMLink({"modulation": "64qam", "channel": {"model": "tdl"}, "receiver": {"estimator": "ls"}})
    bits = link.source(3)
    out = link(bits, 0.1, return_channel=True)
    assert bits.shape == (3, link.num_data_symbols * 6) == (3, link.num_bits_per_slot)
    assert out.llr.shape == bits.shape and out.llr.dtype == torch.float32
    assert out.x_hat.shape == (3, link.num_data_symbols) and out.x_hat.dtype == torch.complex64
    assert out.no_eff.shape == (3, link.num_data_symbols) and out.no_eff.dtype == torch.float32
    assert out.h_freq.shape == (3, 1, 1, 1, 1, 14, 76) and out.h_freq.dtype == torch.complex64
    assert link(bits, 0.1).h_freq is None


def test_double_precision_is_selectable():
    link = OFDMLink({"channel": {"model": "rayleigh"}, "receiver": {"estimator": "lmmse"}}, precision="double")
    out = link(link.source(2), 0.1)
    assert out.llr.dtype == torch.float64 and out.x_hat.dtype == torch.complex128


def test_each_batch_sample_gets_its_own_noise_variance():
    link = OFDMLink({"grid": {"fft_size": 128, "pilot_pattern": "empty"}, "modulation": "qpsk"})
    no = torch.tensor([1e-3, 1e-2, 1e-1, 1.0]).repeat_interleave(64)
    x = link.modulate(link.source(no.numel()))
    h = link.generate_channel(no.numel())
    y = link.apply_channel(link.map_to_grid(x), h, no)
    noise_power = (y[:, 0, 0] - h[:, 0, 0, 0, 0] * link.map_to_grid(x)[:, 0, 0]).abs().pow(2).mean(dim=(1, 2))
    per_point = noise_power.view(4, 64).mean(1).numpy()
    np.testing.assert_allclose(per_point, [1e-3, 1e-2, 1e-1, 1.0], rtol=0.02)


def test_effective_noise_variance_is_no_over_channel_gain_with_perfect_csi():
    link = OFDMLink({"channel": {"model": "rayleigh"}, "receiver": {"equalizer": "zf"}})
    bits = link.source(4)
    out = link(bits, 0.05, return_channel=True)
    gain = out.h_freq[:, 0, 0, 0, 0, 0, 0].abs() ** 2  # block fading: one h per slot
    np.testing.assert_allclose(out.no_eff.numpy(), (0.05 / gain)[:, None].expand_as(out.no_eff).numpy(), rtol=1e-4)


@pytest.mark.parametrize("estimator", ["perfect", "ls", "lmmse"])
@pytest.mark.parametrize("equalizer", ["zf", "lmmse"])
def test_gradients_through_channel_estimator_and_equalizer_match_finite_differences(estimator, equalizer):
    """d/dx of a real loss of the equalized symbols, autograd vs central differences.
    The noise and channel draws are frozen by reseeding before every evaluation."""
    link = OFDMLink(
        {"grid": {"fft_size": 12, "num_ofdm_symbols": 4, "pilot_ofdm_symbol_indices": [1]},
         "channel": {"model": "tdl", "max_speed_mps": 20.0},
         "receiver": {"estimator": estimator, "equalizer": equalizer}},
        precision="double",
    )
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, link.num_data_symbols, dtype=torch.complex128, generator=gen)
    target = torch.randn(2, link.num_data_symbols, dtype=torch.complex128, generator=gen)

    def loss(x_in):
        set_seed(11)
        x_hat, no_eff, _ = link.transmit_symbols(x_in, 0.05)
        return ((x_hat - target).abs() ** 2).sum() + no_eff.sum()

    x_req = x.clone().requires_grad_(True)
    loss(x_req).backward()
    grad = x_req.grad
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    direction = torch.randn(x.shape, dtype=torch.complex128, generator=gen)
    eps = 1e-6
    with torch.no_grad():
        fd = (loss(x + eps * direction) - loss(x - eps * direction)) / (2 * eps)
    # For a real loss L(x), PyTorch's gradient g satisfies dL = Re(sum(conj(g) * dx)).
    analytic = torch.real((grad.conj() * direction).sum())
    assert float(analytic) == pytest.approx(float(fd), rel=1e-5, abs=1e-8)


def test_channel_generation_records_no_gradient():
    link = OFDMLink({"channel": {"model": "tdl"}})
    assert not link.generate_channel(2).requires_grad


def test_metadata_records_csi_and_equalizer():
    link = OFDMLink({"channel": {"model": "tdl", "profile": "A"},
                     "receiver": {"estimator": "ls", "interpolation": "nearest", "equalizer": "zf"}})
    meta = link.metadata
    assert (meta["estimator"], meta["interpolation"], meta["equalizer"]) == ("ls", "nearest", "zf")
    assert meta["channel"]["model"] == "tdl" and meta["channel"]["profile"] == "A"
    assert meta["grid"]["num_data_res"] == link.num_data_symbols == 912


def test_hard_decisions_recover_bits_at_high_snr():
    link = OFDMLink({"modulation": "256qam", "channel": {"model": "awgn"}})
    bits = link.source(4)
    out = link(bits, 1e-6)
    assert torch.equal(link.demap(out.x_hat, out.no_eff, hard=True), bits)
    assert torch.equal(link.demap(out.x_hat, out.no_eff, hard=True), (out.llr > 0).to(bits.dtype))


@pytest.mark.parametrize("estimator", ["perfect", "ls", "lmmse"])
@pytest.mark.parametrize("equalizer", ["zf", "lmmse"])
def test_noiseless_link_decides_every_bit_correctly(estimator, equalizer):
    """``no = 0`` adds no noise; the receiver's NO_FLOOR keeps LMMSE finite."""
    link = OFDMLink({"modulation": "64qam", "channel": {"model": "tdl"},
                     "receiver": {"estimator": estimator, "equalizer": equalizer}})
    bits = link.source(3)
    out = link(bits, 0.0)
    assert not torch.isnan(out.llr).any() and torch.isfinite(out.x_hat).all()
    assert torch.equal(link.demap(out.x_hat, out.no_eff, hard=True), bits)
