"""CDL with the rays summed directly (phy/cdl_rays.py) is Sionna's CDL channel: the same
values for the same seed, on the frequency grid and as path coefficients."""

import pytest
import torch
from sionna.phy.channel.tr38901.channel_coefficients import ChannelCoefficientsGenerator
from sionna.phy.ofdm import ResourceGrid
from tokenlink.phy import set_seed
from tokenlink.phy.cdl_rays import RayDopplerCoefficients, sum_rays_directly
from tokenlink.phy.channels import OFDMChannelResponse, build_channel_model
from tokenlink.phy.config import BaseStationConfig, ChannelConfig


def _grid():
    return ResourceGrid(num_ofdm_symbols=14, fft_size=76, subcarrier_spacing=30e3,
                        pilot_pattern="kronecker", pilot_ofdm_symbol_indices=[2, 11])


@pytest.mark.parametrize("precision, rtol", [("double", 1e-13), ("single", 5e-6)])
@pytest.mark.parametrize("profile, speed, num_rx, direction", [
    ("C", 3.0, 1, "uplink"), ("A", 0.0, 2, "uplink"), ("D", 30.0, 1, "downlink"), ("E", 120 / 3.6, 4, "uplink"),
    ("B", 10.0, 3, "downlink"),
])
def test_same_seed_gives_sionnas_cdl_channel(precision, rtol, profile, speed, num_rx, direction):
    cfg = ChannelConfig(model="cdl", profile=profile, speed_mps=0.0, max_speed_mps=speed, direction=direction)
    bs = BaseStationConfig(num_rx_antennas=num_rx)
    fast = OFDMChannelResponse(cfg, _grid(), precision=precision, base_station=bs)
    slow = OFDMChannelResponse(cfg, _grid(), precision=precision, base_station=bs, fast=False)
    assert type(fast.channel_model._cir_gen) is RayDopplerCoefficients
    assert type(slow.channel_model._cir_gen) is ChannelCoefficientsGenerator
    set_seed(11)
    h_fast, next_fast = fast(24), fast(3)
    set_seed(11)
    h_slow, next_slow = slow(24), slow(3)
    assert h_fast.shape == h_slow.shape and h_fast.numel() == 24 * num_rx * 14 * 76  # downlink: BS antennas transmit
    assert h_fast.dtype == h_slow.dtype
    assert float((h_fast - h_slow).abs().max()) <= rtol * float(h_slow.abs().max())
    # the generator advanced alike: the next draws agree too
    assert float((next_fast - next_slow).abs().max()) <= rtol * float(h_slow.abs().max())


@pytest.mark.parametrize("num_time_steps, start", [(1, None), (5, None), (6, 7)])
def test_path_coefficients_equal_sionnas_for_any_time_axis(num_time_steps, start):
    """One sample, several, and a time axis that does not start at 0 (the phase at t[0])."""
    cfg = ChannelConfig(model="cdl", profile="C", max_speed_mps=60.0)
    slow = build_channel_model(cfg, precision="double")
    fast = sum_rays_directly(build_channel_model(cfg, precision="double"))
    gen_slow, gen_fast = slow._cir_gen, fast._cir_gen
    if start is not None:  # Sionna's generator samples from 0; call its step with a shifted axis
        t = (start + torch.arange(num_time_steps, dtype=torch.float64)) * 35.7e-6
        set_seed(3)
        rays, topo = slow._create_rays(4), slow._create_topology(4, slow._get_velocity(4))
        phi = gen_slow._step_10(rays.aoa.shape)
        ref = gen_slow._step_11_reduce_nlos(ChannelCoefficientsGenerator._step_11_nlos(gen_slow, phi, topo, rays, t),
                                            rays, None)[0]
        out = gen_fast._step_11_reduce_nlos(gen_fast._step_11_nlos(phi, topo, rays, t), rays, None)[0]
    else:
        set_seed(3)
        ref, tau_ref = slow(4, num_time_steps, 1 / 35.7e-6)
        set_seed(3)
        out, tau = fast(4, num_time_steps, 1 / 35.7e-6)
        assert torch.equal(tau, tau_ref)
    assert out.shape == ref.shape
    assert float((out - ref).abs().max()) <= 1e-12 * float(ref.abs().max())


def test_sum_rays_directly_is_idempotent():
    cfg = ChannelConfig(model="cdl", profile="A")
    model = sum_rays_directly(sum_rays_directly(build_channel_model(cfg)))
    assert type(model._cir_gen) is RayDopplerCoefficients
