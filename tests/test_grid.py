"""Resource grid: counts of data/pilot/null resource elements and where the
transmitter puts them."""

import numpy as np
import pytest
import torch

from tokenlink.phy import GridConfig, OFDMLink
from tokenlink.phy.grid import build_resource_grid, grid_summary


@pytest.mark.parametrize(
    "cfg,data,pilot,null",
    [
        # 14 x 76, pilots on all subcarriers of symbols 2 and 11
        (dict(fft_size=76, num_ofdm_symbols=14, pilot_ofdm_symbol_indices=[2, 11]), 12 * 76, 2 * 76, 0),
        # 14 x 512 with 5 + 6 guard carriers and a DC null: 500 effective subcarriers
        (dict(fft_size=512, num_guard_carriers=(5, 6), dc_null=True, pilot_ofdm_symbol_indices=[2, 11]),
         12 * 500, 2 * 500, 14 * 12),
        # comb pilots on every other subcarrier: the rest of the pilot symbols carry data
        (dict(fft_size=76, pilot_ofdm_symbol_indices=[2, 11], pilot_subcarrier_step=2), 14 * 76 - 76, 76, 0),
        # comb with step 4 over 3 pilot symbols
        (dict(fft_size=64, pilot_ofdm_symbol_indices=[0, 4, 8], pilot_subcarrier_step=4), 14 * 64 - 48, 48, 0),
        # no pilots
        (dict(fft_size=64, pilot_pattern="empty"), 14 * 64, 0, 0),
    ],
)
def test_grid_reports_data_pilot_and_null_resource_elements(cfg, data, pilot, null):
    rg = build_resource_grid(GridConfig(**cfg))
    s = grid_summary(rg)
    assert (s["num_data_res"], s["num_pilot_res"], s["num_null_res"]) == (data, pilot, null)
    assert data + pilot + null == s["fft_size"] * s["num_ofdm_symbols"]


def test_grid_summary_numerology():
    rg = build_resource_grid(GridConfig(fft_size=76, subcarrier_spacing_hz=30e3, cyclic_prefix_length=6))
    s = grid_summary(rg)
    assert s["ofdm_symbol_duration_s"] == pytest.approx((1 + 6 / 76) / 30e3)
    assert s["slot_duration_s"] == pytest.approx(14 * (1 + 6 / 76) / 30e3)
    assert s["occupied_bandwidth_hz"] == pytest.approx(76 * 30e3)


def test_transmit_grid_places_data_pilots_and_nulls_where_configured():
    cfg = GridConfig(fft_size=16, num_ofdm_symbols=6, num_guard_carriers=(2, 1), dc_null=True,
                     pilot_ofdm_symbol_indices=[1, 4], pilot_subcarrier_step=2)
    link = OFDMLink({"grid": cfg.model_dump(), "modulation": "qpsk"})
    x = torch.full([1, link.num_data_symbols], 5.0 + 0j, dtype=torch.complex64)  # a marker value
    grid = link.map_to_grid(x)[0, 0, 0].numpy()  # [6, 16]
    effective = np.array([i for i in range(2, 15) if i != 8])  # guards 0,1 and 15; DC is 16//2
    nulls = np.setdiff1d(np.arange(16), effective)
    assert np.all(grid[:, nulls] == 0)
    pilot_sc = effective[::2]
    for s in range(6):
        if s in (1, 4):
            assert np.allclose(np.abs(grid[s, pilot_sc]), 1.0)  # unit-energy QPSK pilots
            assert np.all(grid[s, np.setdiff1d(effective, pilot_sc)] == 5.0)
        else:
            assert np.all(grid[s, effective] == 5.0)
    assert int((grid == 5.0).sum()) == link.num_data_symbols


def test_pilots_match_sionna_kronecker_mask_and_do_not_depend_on_the_random_state():
    from sionna.phy.ofdm import ResourceGrid

    from tokenlink.phy import set_seed

    cfg = GridConfig(fft_size=48, pilot_ofdm_symbol_indices=[2, 11])
    sionna_rg = ResourceGrid(num_ofdm_symbols=14, fft_size=48, subcarrier_spacing=30e3,
                             pilot_pattern="kronecker", pilot_ofdm_symbol_indices=[2, 11])
    set_seed(1)
    a = build_resource_grid(cfg).pilot_pattern
    set_seed(2)
    b = build_resource_grid(cfg).pilot_pattern
    assert torch.equal(a.mask.cpu(), sionna_rg.pilot_pattern.mask.cpu())
    assert torch.equal(a.pilots, b.pilots)
    np.testing.assert_allclose(a.pilots.abs().numpy(), 1.0, rtol=1e-6)


def test_data_symbols_come_back_in_order_after_a_clean_channel():
    """map_to_grid and the receiver agree on where each data symbol sits."""
    link = OFDMLink({"grid": {"fft_size": 24, "dc_null": True, "num_guard_carriers": (1, 2)},
                     "modulation": "qpsk", "receiver": {"estimator": "perfect"}})
    x = torch.randn(3, link.num_data_symbols, dtype=torch.complex64)
    h = link.generate_channel(3)
    x_hat, no_eff, _ = link.transmit_symbols(x, 1e-9, h)
    np.testing.assert_allclose(x_hat.numpy(), x.numpy(), atol=1e-3)
