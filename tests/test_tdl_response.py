"""The direct TDL frequency response (phy/tdl_response.py) is Sionna's TDL channel:
the same values for the same seed, and the covariances Sionna's closed forms give."""

import numpy as np
import pytest
import torch
from sionna.phy.ofdm import ResourceGrid, tdl_freq_cov_mat, tdl_time_cov_mat
from tokenlink.phy import OFDMLink, set_seed
from tokenlink.phy.channels import OFDMChannelResponse
from tokenlink.phy.config import BaseStationConfig, ChannelConfig


def _grid(fft_size=76):
    return ResourceGrid(num_ofdm_symbols=14, fft_size=fft_size, subcarrier_spacing=30e3,
                        pilot_pattern="kronecker", pilot_ofdm_symbol_indices=[2, 11])


@pytest.mark.parametrize("precision, rtol", [("double", 1e-13), ("single", 5e-6)])
@pytest.mark.parametrize("profile, speed, num_rx", [("C", 3.0, 1), ("A", 0.0, 2), ("D", 30.0, 1), ("E", 120 / 3.6, 3)])
def test_same_seed_gives_sionnas_channel(precision, rtol, profile, speed, num_rx):
    cfg = ChannelConfig(model="tdl", profile=profile, speed_mps=0.0, max_speed_mps=speed)
    bs = BaseStationConfig(num_rx_antennas=num_rx)
    fast = OFDMChannelResponse(cfg, _grid(), precision=precision, base_station=bs)
    slow = OFDMChannelResponse(cfg, _grid(), precision=precision, base_station=bs, fast=False)
    assert fast._direct is not None and slow._direct is None
    set_seed(11)
    h_fast, next_fast = fast(40), fast(3)
    set_seed(11)
    h_slow, next_slow = slow(40), slow(3)
    assert h_fast.shape == h_slow.shape == (40, 1, num_rx, 1, 1, 14, 76)
    assert h_fast.dtype == h_slow.dtype
    assert float((h_fast - h_slow).abs().max()) <= rtol * float(h_slow.abs().max())
    # the generator advanced alike: the next draws agree too
    assert float((next_fast - next_slow).abs().max()) <= rtol * float(h_slow.abs().max())


def test_an_ofdma_users_subcarriers_hold_the_whole_band_values():
    cfg = ChannelConfig(model="tdl", profile="C", max_speed_mps=10.0)
    own = np.arange(24, 48)
    fast = OFDMChannelResponse(cfg, _grid(), precision="double", subcarriers=own)
    slow = OFDMChannelResponse(cfg, _grid(), precision="double", fast=False)
    set_seed(4)
    part = fast(6)
    set_seed(4)
    whole = slow(6)
    torch.testing.assert_close(part, whole[..., own], rtol=1e-12, atol=1e-13)


def test_links_choose_the_generator_with_receiver_implementation():
    phy = {"channel": {"model": "tdl"}, "receiver": {"estimator": "ls"}}
    assert OFDMLink(phy)._channel._direct is not None
    assert OFDMLink({**phy, "receiver": {"estimator": "ls", "implementation": "sionna"}})._channel._direct is None
    assert OFDMLink({"channel": {"model": "tdl", "normalize": True}})._channel._direct is None
    assert OFDMLink({"channel": {"model": "rayleigh"}})._channel._direct is None


def test_mean_gain_and_covariances_match_sionnas_closed_forms():
    """Statistics of 4,000 slots at a fixed speed (30 m/s): unit mean gain, the frequency
    covariance of the power-delay profile and the time covariance of the Doppler spectrum."""
    rg = _grid()
    cfg = ChannelConfig(model="tdl", profile="C", delay_spread_s=300e-9, speed_mps=30.0)
    response = OFDMChannelResponse(cfg, rg, precision="double")
    set_seed(2)
    h = torch.cat([response(1000) for _ in range(4)])[:, 0, 0, 0, 0]  # [slots, time, fft]
    n = h.shape[0]
    assert abs(float(h.abs().square().mean()) - 1.0) < 0.03
    sc = rg.effective_subcarrier_ind
    r_f = tdl_freq_cov_mat("C", 30e3, 76, 300e-9, precision="double")[sc][:, sc]
    emp_f = torch.einsum("bti,btj->ij", h[..., sc], h[..., sc].conj()) / (n * 14)
    r_t = tdl_time_cov_mat("C", 30.0, cfg.carrier_frequency_hz, rg.ofdm_symbol_duration, 14, precision="double")
    emp_t = torch.einsum("bif,bjf->ij", h, h.conj()) / (n * 76)
    # 4,000 independent slots: standard error about 1/sqrt(4000) = 0.016 per entry
    assert float((emp_f - r_f).abs().max()) < 0.08
    assert float((emp_t - r_t).abs().max()) < 0.08
    # the channel ages: the last OFDM symbol decorrelates from the first as the closed form says
    assert abs(float(emp_t[0, 13].real) - float(r_t[0, 13].real)) < 0.06 and float(r_t[0, 13].real) < 0.95
