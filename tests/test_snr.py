"""SNR conventions: Es/N0 <-> no, Eb/N0 <-> Es/N0 (with and without OFDM
overhead, as Sionna counts it), and link budgets against hand computations."""

import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from sionna.phy.ofdm import ResourceGrid
from sionna.phy.utils import ebnodb2no

from tokenlink.phy.snr import (
    LinkBudget,
    ebno_db_to_esno_db,
    ebno_db_to_no,
    esno_db_to_ebno_db,
    esno_db_to_no,
    no_to_esno_db,
    path_loss_db,
    thermal_noise_dbm,
)

RG = ResourceGrid(num_ofdm_symbols=14, fft_size=76, subcarrier_spacing=30e3, cyclic_prefix_length=6,
                  pilot_pattern="kronecker", pilot_ofdm_symbol_indices=[2, 11])


def test_esno_no_round_trip():
    esno = torch.linspace(-10, 40, 11, dtype=torch.float64)
    no = esno_db_to_no(esno)
    assert float(no[0]) == pytest.approx(10.0) and float(no[-1]) == pytest.approx(1e-4)
    torch.testing.assert_close(no_to_esno_db(no), esno)
    assert no_to_esno_db(esno_db_to_no(7.5)) == pytest.approx(7.5, abs=1e-12)


@pytest.mark.parametrize("bits", [1, 2, 4, 6, 8])
@pytest.mark.parametrize("grid", [None, RG])
def test_ebno_esno_round_trip(bits, grid):
    ebno = np.linspace(-5, 30, 8)
    back = esno_db_to_ebno_db(ebno_db_to_esno_db(ebno, bits, resource_grid=grid), bits, resource_grid=grid)
    np.testing.assert_allclose(back, ebno, atol=1e-9)


def test_16qam_esno_is_ebno_plus_6_02_db_without_overhead():
    assert ebno_db_to_esno_db(10.0, 4) == pytest.approx(10.0 + 10 * math.log10(4), abs=1e-9)
    assert 10 * math.log10(4) == pytest.approx(6.0206, abs=1e-4)


def test_overhead_counts_pilots_and_cyclic_prefix():
    """14 x 76 slot, 152 pilot REs of 1064, CP 6/76: Es_eff = 1064 * (82/76) / 912."""
    es_eff = 14 * 76 * (1 + 6 / 76) / 912
    expected = 10.0 + 10 * math.log10(4 / es_eff)
    assert ebno_db_to_esno_db(10.0, 4, resource_grid=RG) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("bits,coderate", [(2, 1.0), (4, 1.0), (6, 0.5)])
@pytest.mark.parametrize("grid", [None, RG])
def test_ebno_to_no_agrees_with_sionna(bits, coderate, grid):
    ebno = torch.tensor([0.0, 5.0, 12.5], dtype=torch.float64)
    ours = ebno_db_to_no(ebno, bits, coderate, grid)
    theirs = ebnodb2no(ebno, bits, coderate, resource_grid=grid, precision="double")
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=0)


def test_thermal_noise():
    # -174 dBm/Hz + 10 log10(20e6) = -174 + 73.0103 = -100.9897 dBm; + NF 7 dB
    assert thermal_noise_dbm(20e6, 7.0) == pytest.approx(-93.9897, abs=1e-4)


def test_link_budget_uma_nlos_equals_hand_computation():
    # UMa NLOS, fc 3.5 GHz, d2D 200 m, h_BS 25 m, h_UT 1.5 m:
    #   d3D = sqrt(200^2 + 23.5^2) = 201.3759 m, log10(d3D) = 2.304008, log10(3.5) = 0.544068
    #   d'_BP = 4 * 24 * 0.5 * 3.5e9 / c = 560.39 m > 200 m  -> PL1
    #   PL_LOS  = 28 + 22 * 2.304008 + 20 * 0.544068         =  89.5695 dB
    #   PL'_NLOS = 13.54 + 39.08 * 2.304008 + 20 * 0.544068   = 114.4620 dB
    #   PL = max = 114.4620 dB
    #   noise = -174 + 10 log10(20e6) + 7 = -93.9897 dBm
    #   SNR = 23 - 114.4620 + 93.9897 = 2.5277 dB
    lb = LinkBudget(tx_power_dbm=23, carrier_frequency_hz=3.5e9, distance_m=200, path_loss_model="uma_nlos",
                    noise_figure_db=7, bandwidth_hz=20e6)
    assert lb.path_loss_db() == pytest.approx(114.4620, abs=0.01)
    assert lb.mean_snr_db() == pytest.approx(2.5277, abs=0.01)


def test_link_budget_free_space_equals_hand_computation():
    # FSPL(1 km, 2.4 GHz) = 20 log10(4 pi 1000 2.4e9 / c) = 100.0520 dB
    # noise = -174 + 60 + 5 = -109 dBm; SNR = 20 - 100.0520 + 109 = 28.9480 dB
    lb = LinkBudget(tx_power_dbm=20, carrier_frequency_hz=2.4e9, distance_m=1000, path_loss_model="free_space",
                    noise_figure_db=5, bandwidth_hz=1e6)
    assert lb.path_loss_db() == pytest.approx(100.0520, abs=0.01)
    assert lb.mean_snr_db() == pytest.approx(28.9480, abs=0.01)


def test_link_budget_umi_los_beyond_breakpoint_equals_hand_computation():
    # UMi LOS, 3.5 GHz, 500 m, h_BS 10 m: d3D = 500.0722, d'_BP = 4 * 9 * 0.5 * 3.5e9 / c = 210.145 m < 500 -> PL2
    #   PL2 = 32.4 + 40 * 2.699033 + 20 * 0.544068 - 9.5 log10(210.145^2 + 8.5^2) = 107.1080 dB
    #   noise = -174 + 80 + 9 = -85 dBm; SNR = 30 + 3 (tx gain) - 107.1080 + 85 = 10.8920 dB
    lb = LinkBudget(tx_power_dbm=30, tx_antenna_gain_dbi=3, carrier_frequency_hz=3.5e9, distance_m=500,
                    path_loss_model="umi_los", noise_figure_db=9, bandwidth_hz=100e6)
    assert lb.path_loss_db() == pytest.approx(107.1080, abs=0.01)
    assert lb.mean_snr_db() == pytest.approx(10.8920, abs=0.01)


@pytest.mark.parametrize("family,fc", [("uma", 3.5e9), ("umi", 3.5e9), ("uma", 28e9)])
def test_los_path_loss_is_continuous_at_breakpoint(family, fc):
    h_bs = 25.0 if family == "uma" else 10.0
    d_bp = 4 * (h_bs - 1) * 0.5 * fc / 299_792_458.0
    if d_bp > 5000:
        pytest.skip("breakpoint beyond the 5 km validity range")
    below = path_loss_db(f"{family}_los", d_bp * (1 - 1e-9), fc)
    above = path_loss_db(f"{family}_los", d_bp * (1 + 1e-9), fc)
    assert above == pytest.approx(below, abs=1e-6)


@pytest.mark.parametrize("model", ["uma_los", "uma_nlos", "umi_los", "umi_nlos", "free_space"])
def test_path_loss_grows_with_distance_and_nlos_exceeds_los(model):
    d = np.geomspace(10, 5000, 50)
    pl = path_loss_db(model, d, 3.5e9)
    assert np.all(np.diff(pl) > 0)
    if model.endswith("nlos"):
        assert np.all(pl >= path_loss_db(model.replace("nlos", "los"), d, 3.5e9))
    torch.testing.assert_close(path_loss_db(model, torch.tensor(d), 3.5e9), torch.tensor(pl))


def test_shadowing_draws_have_the_model_mean_and_sigma():
    lb = LinkBudget(path_loss_model="umi_nlos")  # sigma = 7.82 dB
    gen = torch.Generator().manual_seed(3)
    snr = lb.sample_snr_db(200_000, generator=gen, dtype=torch.float64)
    n = snr.numel()
    assert abs(float(snr.mean()) - lb.mean_snr_db()) < 4 * 7.82 / math.sqrt(n)
    assert abs(float(snr.std()) - 7.82) < 4 * 7.82 / math.sqrt(2 * n)


def test_shadowing_is_reproducible_and_switchable():
    lb = LinkBudget()
    a = lb.sample_snr_db(16, generator=torch.Generator().manual_seed(1))
    b = lb.sample_snr_db(16, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    flat = LinkBudget(shadowing_std_db=0.0).sample_snr_db(16)
    torch.testing.assert_close(flat, torch.full([16], LinkBudget().mean_snr_db()))


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"path_loss_model": "rma_nlos"}, "path_loss_model"),
        ({"shadowing_std_db": -1.0}, "shadowing_std_db"),
        ({"bandwidth_hz": 0.0}, "bandwidth_hz"),
        ({"distance_km": 1.0}, "distance_km"),
    ],
)
def test_bad_link_budget_fields_are_named(kwargs, field):
    with pytest.raises(ValidationError, match=field):
        LinkBudget(**kwargs)


def test_distance_outside_3gpp_validity_is_rejected():
    with pytest.raises(ValueError, match=r"distance_m must be within 10..5000 m for uma_nlos"):
        LinkBudget(distance_m=5.0)
    with pytest.raises(ValueError, match="carrier_frequency_hz must be within 0.5..100 GHz"):
        path_loss_db("umi_los", 100.0, 200e9)
