"""The closed-form error floor of the channel estimate (tokenlink.phy.limits)
against the error of the simulated estimators at a negligible noise level."""

import numpy as np
import pytest
import torch
from scipy.special import j0

from tokenlink.phy import OFDMLink, set_seed
from tokenlink.phy.config import PhyConfig
from tokenlink.phy.limits import bessel_j0, estimation_floor, max_doppler_hz, ofdm_symbol_duration_s


def _measured_error(cfg: PhyConfig, n: int = 256) -> float:
    """Mean |h_hat - h|^2 / E|h|^2 over the data REs, Es/N0 = 60 dB."""
    set_seed(2)
    link = OFDMLink(cfg, device="cpu")
    h = link.generate_channel(n)
    y = link.apply_channel(link.map_to_grid(link.modulate(link.source(n))), h, 1e-6)
    h_hat, _ = link._estimator(y, torch.tensor(1e-6), h)
    err = (h_hat - h).abs().square()[:, 0, 0, 0, 0].mean(0).numpy()  # [ofdm symbols, subcarriers]
    data = link.resource_grid.pilot_pattern.mask[0, 0].cpu().numpy() == 0
    return float(err[data].mean() / h.abs().square().mean())


@pytest.mark.parametrize("channel, receiver", [
    ({"model": "rayleigh", "coherence": "symbol"}, {"estimator": "ls"}),
    ({"model": "rician", "k_factor": 10, "coherence": "symbol"}, {"estimator": "ls", "interpolation": "nearest"}),
    ({"model": "rician", "k_factor": 3, "coherence": "symbol"}, {"estimator": "lmmse"}),
    ({"model": "tdl", "speed_mps": 100}, {"estimator": "ls"}),
    ({"model": "tdl", "speed_mps": 100}, {"estimator": "ls", "interpolation": "nearest"}),
    ({"model": "tdl", "speed_mps": 60}, {"estimator": "ls", "interpolation": "linear_time_avg"}),
    ({"model": "tdl", "speed_mps": 50, "max_speed_mps": 150}, {"estimator": "lmmse"}),
])
def test_the_floor_is_the_error_of_the_simulated_estimate(channel, receiver):
    cfg = PhyConfig(channel=channel, receiver=receiver)
    floor = estimation_floor(cfg)
    assert floor.mean_error == pytest.approx(_measured_error(cfg), rel=0.08)
    assert floor.sinr_ceiling_db == pytest.approx(-10 * np.log10(floor.mean_error))


def test_no_floor_for_perfect_csi_and_channels_constant_over_the_slot():
    for cfg in (PhyConfig(channel={"model": "tdl", "speed_mps": 100}),  # perfect CSI
                PhyConfig(channel={"model": "rayleigh"}, receiver={"estimator": "ls"}),
                PhyConfig(channel={"model": "tdl"}, receiver={"estimator": "lmmse"}),  # 0 m/s
                PhyConfig(receiver={"estimator": "ls"})):  # AWGN
        assert estimation_floor(cfg) is None


def test_more_pilots_and_shorter_symbols_lower_the_floor():
    fast = {"model": "tdl", "speed_mps": 100}
    base = estimation_floor(PhyConfig(channel=fast, receiver={"estimator": "ls"})).mean_error
    denser = estimation_floor(PhyConfig(channel=fast, receiver={"estimator": "ls"},
                                        grid={"pilot_ofdm_symbol_indices": [2, 5, 8, 11]})).mean_error
    shorter = estimation_floor(PhyConfig(channel=fast, receiver={"estimator": "ls"},
                                         grid={"subcarrier_spacing_hz": 120e3})).mean_error
    assert denser < base / 4 and shorter < base / 4


def test_the_doppler_helpers():
    x = np.linspace(0, 60, 500)
    np.testing.assert_allclose(bessel_j0(x), j0(x), atol=1e-12)
    cfg = PhyConfig(channel={"model": "tdl", "speed_mps": 10, "max_speed_mps": 100})
    assert max_doppler_hz(cfg.channel) == pytest.approx(100 * 3.5e9 / 299_792_458.0)
    assert ofdm_symbol_duration_s(cfg.grid) == pytest.approx((76 + 6) / 76 / 30e3)
