"""Receive diversity: one device, a base station with N_r antennas, maximum-ratio combining.

The fast elementwise receiver equals Sionna's general blocks (LS / perfect CSI,
ZF / LMMSE equalizers with StreamManagement over N_r antennas) on identical
inputs: values, effective noise variances, LLRs and gradients. The BER of
L-branch MRC over i.i.d. Rayleigh fading matches Proakis' closed form, and the
diversity order shows as the slope. Es/N0 is per resource element and antenna.
"""

import numpy as np
import pytest
import torch

from tokenlink.phy import OFDMLink, PhyConfig, set_seed, simulate_ber
from tokenlink.phy.theory import ber_awgn, ber_rayleigh, ber_rayleigh_mrc


def _pair(num_rx, estimator="ls", interpolation="linear", equalizer="lmmse", model="tdl"):
    cfg = {"modulation": "16qam", "channel": {"model": model, "max_speed_mps": 30.0},
           "receiver": {"estimator": estimator, "interpolation": interpolation, "equalizer": equalizer},
           "base_station": {"num_rx_antennas": num_rx}}
    fast = OFDMLink(cfg, precision="double")
    slow = OFDMLink({**cfg, "receiver": {**cfg["receiver"], "implementation": "sionna"}}, precision="double")
    assert fast.metadata["receiver_implementation"] == "fast" and fast.metadata["num_rx_antennas"] == num_rx
    assert slow.metadata["receiver_implementation"] == "sionna"
    return fast, slow


@pytest.mark.parametrize("num_rx", [2, 4])
@pytest.mark.parametrize("estimator, interpolation", [("perfect", "linear"), ("ls", "nearest"), ("ls", "linear"),
                                                     ("lmmse", "linear")])
@pytest.mark.parametrize("equalizer", ["zf", "lmmse"])
def test_mrc_on_the_fast_path_equals_sionna_blocks(num_rx, estimator, interpolation, equalizer):
    fast, slow = _pair(num_rx, estimator, interpolation, equalizer)
    bits = fast.source(4)
    h = fast.generate_channel(4)
    assert h.shape == (4, 1, num_rx, 1, 1, 14, 76)
    no = torch.tensor([1e-3, 0.05, 0.3, 2.0], dtype=torch.float64)
    y = fast.apply_channel(fast.map_to_grid(fast.modulate(bits)), h, no)
    x_fast, no_fast = fast.equalize(y, no, h)
    x_slow, no_slow = slow.equalize(y, no, h)
    torch.testing.assert_close(x_fast, x_slow, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(no_fast, no_slow, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(fast.demap(x_fast, no_fast), slow.demap(x_slow, no_slow), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("estimator", ["perfect", "ls", "lmmse"])
def test_mrc_transmit_equals_the_grid_path_values_and_gradients(estimator):
    """transmit_symbols (no grids, x_hat = g x + e) equals mapper -> ApplyOFDMChannel -> Sionna's
    blocks with the same noise draw, and so do the gradients with respect to the symbols."""
    fast, slow = _pair(3, estimator)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(4, fast.num_data_symbols, dtype=torch.complex128, generator=gen)
    target = torch.randn(x.shape, dtype=torch.complex128, generator=gen)
    h = fast.generate_channel(4)
    no = torch.tensor([0.0, 0.01, 0.1, 1.0], dtype=torch.float64)
    outs = []
    for link in (fast, slow):
        xr = x.clone().requires_grad_(True)
        set_seed(7)
        x_hat, no_eff, _ = link.transmit_symbols(xr, no, h)
        ((x_hat - target).abs().square().sum()).backward()
        outs.append((x_hat.detach(), no_eff, xr.grad))
    for a, b in zip(*outs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_mrc_gradient_equals_finite_differences():
    """d loss / d Re(x_k) of the fast SIMO link against a central difference (same channel, same noise)."""
    fast, _ = _pair(2, "ls")
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, fast.num_data_symbols, dtype=torch.complex128, generator=gen)
    h = fast.generate_channel(2)

    def loss(xv):
        set_seed(11)
        x_hat, no_eff, _ = fast.transmit_symbols(xv, 0.1, h)
        return (x_hat.abs().square() * torch.linspace(0.5, 1.5, x_hat.shape[-1])).sum() + no_eff.sum()

    xr = x.clone().requires_grad_(True)
    loss(xr).backward()
    for k in (0, 17, fast.num_data_symbols - 1):
        step = torch.zeros_like(x)
        step[1, k] = 1e-6
        numeric = (loss(x + step) - loss(x - step)) / 2e-6
        assert abs(float(numeric) - float(xr.grad[1, k].real)) < 1e-6 * max(1.0, abs(float(numeric)))


def _narrow_link(modulation, model, num_rx, coherence="symbol"):
    # No pilots, 14 x 8 REs: with per-OFDM-symbol fading every slot holds 14 independent fades per antenna.
    return OFDMLink({
        "modulation": modulation, "demapping": "maxlog",
        "grid": {"fft_size": 8, "num_ofdm_symbols": 14, "cyclic_prefix_length": 0, "pilot_pattern": "empty"},
        "channel": {"model": model, "coherence": coherence},
        "receiver": {"estimator": "perfect", "equalizer": "lmmse"},
        "base_station": {"num_rx_antennas": num_rx}})


@pytest.mark.parametrize("modulation, bits", [("bpsk", 1), ("qpsk", 2)])
@pytest.mark.parametrize("num_rx", [1, 2, 4])
def test_mrc_ber_over_iid_rayleigh_matches_the_l_branch_closed_form(modulation, bits, num_rx):
    esno_db = {1: [0.0, 10.0, 20.0], 2: [0.0, 5.0, 10.0], 4: [-5.0, 0.0, 5.0]}[num_rx]
    if bits == 2:
        esno_db = [e + 3.0 for e in esno_db]
    curve = simulate_ber(_narrow_link(modulation, "rayleigh", num_rx), esno_db, batch_size=4096,
                         max_bits=1_500_000, min_bit_errors=10**9)
    theory = ber_rayleigh_mrc(curve.esno_db, bits, num_rx)
    se = curve.ber_stderr
    assert np.all(se < 0.1 * theory), f"standard errors too large to test: {se / theory}"
    z = (curve.ber - theory) / se
    assert np.all(np.abs(z) < 3), f"z-scores {z} (sim {curve.ber}, theory {theory})"


def test_diversity_order_is_the_slope_of_the_measured_ber():
    """Between Es/N0 = 10 and 15 dB (BPSK) the measured BER falls by about 10**(0.5 L) for L antennas:
    log-log slopes near -1, -2, -4 per decade of SNR (the closed form's, which tends to -L)."""
    slopes = {}
    for num_rx in (1, 2, 4):
        points = [10.0, 15.0] if num_rx < 4 else [2.0, 7.0]
        curve = simulate_ber(_narrow_link("bpsk", "rayleigh", num_rx), points, batch_size=4096,
                             max_bits=3_000_000, min_bit_errors=10**9)
        slope = np.log10(curve.ber[1] / curve.ber[0]) / 0.5
        theory = ber_rayleigh_mrc(np.array(points), 1, num_rx)
        assert abs(slope - np.log10(theory[1] / theory[0]) / 0.5) < 0.15 * num_rx, (num_rx, slope)
        slopes[num_rx] = slope
    assert -1.1 < slopes[1] < -0.9 and -2.2 < slopes[2] < -1.6 and slopes[4] < -2.5, slopes


def test_mrc_over_awgn_gains_the_array_gain():
    curve = simulate_ber(_narrow_link("qpsk", "awgn", 4), [-2.0, 1.0], batch_size=4096,
                         max_bits=1_000_000, min_bit_errors=10**9)
    theory = ber_awgn(curve.esno_db + 10 * np.log10(4), 2)
    z = (curve.ber - theory) / np.sqrt(theory * (1 - theory) / curve.num_bits)
    assert np.all(np.abs(z) < 3), (curve.ber, theory)


def test_block_fading_antennas_are_independent_with_unit_gain():
    """Sionna's RayleighBlockFading, TDL and the ULA of CDL towards N_r antennas: unit mean gain per
    antenna; i.i.d. models uncorrelated across antennas, CDL's half-wavelength ULA correlated."""
    set_seed(1)
    for model, correlated in (("rayleigh", False), ("tdl", False), ("rician", False), ("cdl", True)):
        link = OFDMLink({"channel": {"model": model, "k_factor": 2.0}, "base_station": {"num_rx_antennas": 4}})
        h = link.generate_channel(2000)[:, 0, :, 0, 0, 0, 0]  # [batch, antenna], first RE
        gain = h.abs().square().mean(0)
        assert torch.all((gain - 1).abs() < 0.12), (model, gain)
        rho = (h[:, 0] * h[:, 1].conj()).mean().abs() / gain[:2].prod().sqrt()
        assert (rho > 0.3) if correlated else (rho < 0.1), (model, float(rho))


def test_rician_with_one_antenna_draws_what_it_drew_before():
    """The multi-antenna channel shapes keep the single-antenna streams: N_r = 1 is today's link."""
    from tokenlink.phy.channels import FlatFading

    set_seed(5)
    a, _ = FlatFading(2.0, "symbol", 1)(3, 14)
    set_seed(5)
    b, _ = FlatFading(2.0, "symbol")(3, 14)
    assert a.shape == (3, 1, 1, 1, 1, 1, 14) and torch.equal(a, b)
    assert np.allclose(ber_rayleigh_mrc(np.array([0.0, 12.0]), 4, 1), ber_rayleigh(np.array([0.0, 12.0]), 4))


@pytest.mark.parametrize("phy, message", [
    ({"base_station": {"num_rx_antennas": 0}}, "num_rx_antennas"),
    ({"base_station": {"num_rx_antennas": 2}, "receiver": {"compile": True}}, "receiver.compile supports"),
    ({"base_station": {"antenna_pattern": "dipole"}}, "antenna_pattern"),
])
def test_bad_base_station_is_refused_naming_the_field(phy, message):
    with pytest.raises(ValueError, match=message):
        PhyConfig(**phy)


def test_tokens_over_four_antennas_get_the_array_gain_over_awgn():
    """bridge.TokenLink on a 4-antenna base station: analog tokens over AWGN at Es/N0 x have the NMSE
    of one antenna at x + 10 log10(4) dB (maximum-ratio combining of unit-gain antennas)."""
    from tokenlink.bridge import TokenLink

    def nmse(num_rx, snr_db):
        set_seed(4)
        link = TokenLink({"mode": "analog", "phy": {"channel": {"model": "awgn"},
                                                   "base_station": {"num_rx_antennas": num_rx}}})
        tokens = torch.randn(64, 32, 48, generator=torch.Generator().manual_seed(0))
        return float(link.transmit(tokens, snr_db=snr_db, return_metrics=True).metrics.nmse.mean())

    four, one_shifted, one = nmse(4, 0.0), nmse(1, 10 * np.log10(4)), nmse(1, 0.0)
    assert abs(four / one_shifted - 1) < 0.02, (four, one_shifted)
    assert four < 0.3 * one, (four, one)
