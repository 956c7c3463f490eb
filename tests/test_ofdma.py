"""OFDMA uplink: users on their own resource blocks of one grid, each with its own channel and SNR.

One user owning the whole grid is today's single-user link bit for bit; the fast receiver
on a user's grid (others' REs masked, its own pilots only) equals Sionna's blocks; per-user
BER over AWGN and Rayleigh matches the closed form at each user's own Es/N0, which comes
from its own link budget over its own bandwidth.
"""

import numpy as np
import pytest
import torch

from tokenlink.phy import OFDMLink, set_seed
from tokenlink.phy.multiuser import NetworkConfig, OFDMAUplink, network_summary, simulate_ber_per_user
from tokenlink.phy.theory import ber_awgn, ber_rayleigh


@pytest.mark.parametrize("estimator", ["perfect", "ls"])
def test_one_user_with_the_whole_grid_is_the_single_user_link_bit_for_bit(estimator):
    cfg = {"grid": {"fft_size": 72}, "channel": {"model": "tdl", "max_speed_mps": 10.0},
           "receiver": {"estimator": estimator}}
    set_seed(3)
    single = OFDMLink(cfg)
    bits = single.source(8)
    reference = single(bits, 0.1)
    x = torch.randn(8, single.num_data_symbols, dtype=torch.complex64, generator=torch.Generator().manual_seed(1))
    analog = single.transmit_symbols(x, 0.2)
    set_seed(3)
    uplink = OFDMAUplink(cfg, {"users": [{}]})
    assert uplink.allocations[0].num_subcarriers == 72 and uplink.links[0].num_data_symbols == single.num_data_symbols
    assert torch.equal(uplink.links[0].source(8), bits)
    out = uplink([bits], [0.1])[0]
    assert torch.equal(out.llr, reference.llr) and torch.equal(out.x_hat, reference.x_hat)
    (x_hat, no_eff, h), = uplink.transmit_symbols([x], [0.2])
    assert torch.equal(x_hat, analog[0]) and torch.equal(no_eff, analog[1]) and torch.equal(h, analog[2])


@pytest.mark.parametrize("layout", ["contiguous", "interleaved"])
@pytest.mark.parametrize("step", [1, 2])
@pytest.mark.parametrize("estimator", ["ls", "lmmse"])
def test_a_users_receiver_uses_only_its_own_pilots_and_equals_sionna_blocks(layout, step, estimator):
    cfg = {"grid": {"pilot_subcarrier_step": step}, "channel": {"model": "tdl", "max_speed_mps": 10.0},
           "receiver": {"estimator": estimator, "interpolation": "linear"}}
    ofdma = {"users": [{}, {}, {}], "layout": layout}
    fast = OFDMAUplink(cfg, ofdma, precision="double")
    slow = OFDMAUplink({**cfg, "receiver": {**cfg["receiver"], "implementation": "sionna"}}, ofdma,
                       precision="double")
    seen = np.zeros(76, int)
    for f, s, a in zip(fast.links, slow.links, fast.allocations, strict=True):
        pp = f.resource_grid.pilot_pattern
        mask = pp.mask[0, 0].numpy().astype(bool)
        sent = np.zeros_like(mask)
        sent[mask] = pp.pilots.reshape(-1).numpy() != 0
        assert set(np.flatnonzero(sent.any(0))) <= set(a.subcarriers.tolist())   # pilots inside its RBs
        data = ~mask
        assert set(np.flatnonzero(data.any(0))) == set(a.subcarriers.tolist())  # data on all of them
        seen[np.flatnonzero(data.any(0))] += 1
        bits = f.source(3)
        h = f.generate_channel(3)
        y = f.apply_channel(f.map_to_grid(f.modulate(bits)), h, 0.05)
        # another user's pilots on the REs outside the allocation change nothing
        other = torch.zeros_like(y)
        other[..., torch.as_tensor(np.setdiff1d(np.arange(76), a.subcarriers))] = 5.0
        for out_f, out_s in zip(f.equalize(y + other, 0.05, h), s.equalize(y, 0.05, h), strict=True):
            torch.testing.assert_close(out_f, out_s, rtol=1e-10, atol=1e-12)
    assert seen[:72].tolist() == [1] * 72 and seen[72:].tolist() == [0] * 4  # no overlap; leftovers unused


def _uplink(model, distances, layout="contiguous"):
    # 4 RBs of 12 subcarriers, no pilots, flat fading redrawn every OFDM symbol: 14 fades per slot.
    phy = {"modulation": "qpsk", "demapping": "maxlog",
           "grid": {"fft_size": 48, "cyclic_prefix_length": 0, "pilot_pattern": "empty"},
           "channel": {"model": model, "coherence": "symbol"}, "receiver": {"estimator": "perfect"}}
    users = [{"link_budget": {"distance_m": d, "path_loss_model": "uma_nlos", "shadowing": "off"}}
             for d in distances]
    return OFDMAUplink(phy, {"users": users, "layout": layout})


@pytest.mark.parametrize("model, distances", [("awgn", [500.0, 700.0]), ("rayleigh", [150.0, 250.0, 350.0, 450.0])])
def test_per_user_ber_matches_closed_form_at_each_users_own_snr(model, distances):
    uplink = _uplink(model, distances, layout="interleaved")
    esno = uplink.mean_esno_db()
    assert np.all(np.diff(esno) < -1.0), esno  # farther users: lower Es/N0
    curves = simulate_ber_per_user(uplink, batch_size=2048, max_bits=1_000_000, min_bit_errors=10**9)
    formula = ber_awgn if model == "awgn" else ber_rayleigh
    for k, curve in enumerate(curves):
        theory = formula(np.array(esno[k]), 2)
        se = (np.sqrt(theory * (1 - theory) / curve.num_bits[0]) if model == "awgn" else curve.ber_stderr[0])
        assert se < 0.1 * theory, (k, se, theory)
        assert abs(curve.ber[0] - theory) < 3 * se, (k, esno[k], curve.ber[0], theory)


def test_a_users_snr_comes_from_its_budget_over_its_own_bandwidth():
    """Same distance, 1 vs 3 resource blocks: the user with fewer subcarriers has 10 log10(3) dB more
    Es/N0 per RE (the same transmit power on a third of the REs)."""
    phy = {"grid": {"fft_size": 48}}
    budget = {"distance_m": 200.0, "shadowing": "off"}
    uplink = OFDMAUplink(phy, {"users": [{"link_budget": budget}, {"link_budget": budget}], "shares": [0.25, 0.75]})
    assert [len(a.resource_blocks) for a in uplink.allocations] == [1, 3]
    assert uplink.occupied_bandwidth_hz() == [360e3, 1080e3]
    low, high = uplink.mean_esno_db()
    assert low - high == pytest.approx(10 * np.log10(3), abs=1e-9)
    assert uplink.user_link_budgets()[0].summary()["mean_snr_db"] == pytest.approx(low)


def test_shadowing_per_user_is_its_own_seeded_stream():
    phy = {"modulation": "qpsk", "grid": {"fft_size": 24}, "channel": {"model": "awgn"}}
    users = [{"link_budget": {"distance_m": 400.0, "shadowing_std_db": 4.0}}, {"esno_db": 3.0}]
    runs = []
    for _ in range(2):
        set_seed(1)
        runs.append(simulate_ber_per_user(OFDMAUplink(phy, {"users": users}), seed=7, batch_size=512,
                                          max_bits=300_000, min_bit_errors=10**9))
    (a0, a1), (b0, b1) = runs
    assert a0.bit_errors[0] == b0.bit_errors[0] and a1.bit_errors[0] == b1.bit_errors[0]  # seeded
    assert 3.7 < a0.esno_db_drawn_std[0] < 4.3 and a1.esno_db_drawn_std[0] == 0.0
    mean = OFDMAUplink(phy, {"users": users}).mean_esno_db()[0]
    assert abs(a0.esno_db_drawn_mean[0] - mean) < 4 * 4.0 / np.sqrt(a0.num_slots[0])


def test_network_summary_sum_rate_fairness_and_worst_user():
    """Throughput = bits x (1 - H2(BER)) / slot: the rate of the hard-decision binary symmetric channel."""
    s = network_summary([1000, 1000, 2000], [0.0, 0.11, 0.5], slot_duration_s=1e-3)
    h = -0.11 * np.log2(0.11) - 0.89 * np.log2(0.89)  # 0.4999 bit
    assert s.throughput_bps[0] == 1e6 and s.throughput_bps[2] == 0.0 and s.worst_user == 2 and s.worst_ber == 0.5
    assert s.throughput_bps[1] == pytest.approx(1e6 * (1 - h)) and s.throughput_bps[1] == pytest.approx(5e5, rel=1e-3)
    assert s.sum_rate_bps == pytest.approx(1e6 * (2 - h))
    assert s.jain_fairness == pytest.approx((2 - h) ** 2 / (3 * (1 + (1 - h) ** 2)))
    assert network_summary([10, 10], [0.1, 0.1], 1.0).jain_fairness == pytest.approx(1.0)
    assert network_summary([10, 10], [0.7, 0.0], 1.0).throughput_bps == (0.0, 10.0)


@pytest.mark.parametrize("ofdma, message", [
    ({"users": [{}] * 7}, "num_users \\(7\\) exceeds the number of resource blocks \\(6 of 12 subcarriers in 76\\)"),
    ({"users": [{}, {}], "shares": [0.7, 0.5]}, "shares must sum to <= 1, got 1.2 \\(0.7 \\+ 0.5\\)"),
])
def test_a_network_that_does_not_fit_the_grid_is_one_line(ofdma, message):
    with pytest.raises(ValueError, match=message) as err:
        OFDMAUplink({}, ofdma)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("ofdma, message", [
    ({"users": [{}, {}], "shares": "proportional"}, "users\\[0\\].demand_res"),
    ({"users": []}, "users"),
    ({"users": [{"esno_db": 3.0, "link_budget": {}}]}, "esno_db or link_budget, not both"),
    ({"users": [{}], "layout": "random"}, "layout"),
])
def test_bad_network_config_is_refused_naming_the_field(ofdma, message):
    with pytest.raises(ValueError, match=message):
        NetworkConfig(**ofdma)


def test_a_user_without_snr_needs_one_from_the_caller():
    uplink = OFDMAUplink({}, {"users": [{"esno_db": 5.0}, {}]})
    assert uplink.mean_esno_db(default_esno_db=1.0) == [5.0, 1.0]
    with pytest.raises(ValueError, match=r"users\[1\] has neither esno_db nor link_budget"):
        uplink.mean_esno_db()


def _run(tmp_path, scenario, name):
    from tokenlink.runner import run
    from tokenlink.trace import read_trace

    return read_trace(run(scenario, tmp_path / f"{name}.h5", progress=False, plots=False).trace_path)


def test_a_network_of_one_user_with_the_whole_grid_runs_as_the_single_user_scenario(tmp_path):
    base = {"phy": {"grid": {"fft_size": 72}, "modulation": "16qam", "snr_db": 12.0,
                    "channel": {"model": "tdl", "max_speed_mps": 3.0}, "receiver": {"estimator": "ls"}},
            "link": {"mode": "bits"}, "run": {"max_bits": 60_000, "min_bit_errors": 100, "seed": 4}}
    single = _run(tmp_path, base, "single").points[0].metrics
    network = _run(tmp_path, {**base, "network": {"users": [{}]}}, "network").points[0].metrics
    for key in ("ber", "bits", "bit_errors"):
        assert network[key] == single[key], key
    assert network["user_slots"].tolist() == [single["slots"]] and network["num_users"] == 1


def test_a_network_point_records_every_user_and_the_summary_and_is_reproducible(tmp_path):
    scenario = {"phy": {"modulation": "qpsk", "channel": {"model": "rayleigh"}, "receiver": {"estimator": "ls"}},
                "link": {"mode": "bits"}, "run": {"max_bits": 40_000, "min_bit_errors": 200},
                "network": {"users": [{"link_budget": {"distance_m": 150.0}}, {"esno_db": 8.0},
                                      {"demand_res": 400, "channel": {"model": "awgn"}}],
                            "shares": "proportional", "layout": "interleaved"}}
    with pytest.raises(Exception, match="demand_res"):  # proportional needs every user's demand
        _run(tmp_path, scenario, "bad")
    for user in scenario["network"]["users"][:2]:
        user["demand_res"] = 100
    first, again = (_run(tmp_path, scenario, name).points[0].metrics for name in ("a", "b"))
    for key, value in first.items():
        assert np.array_equal(value, again[key]), key
    assert first["user_resource_blocks"].tolist() == [1, 1, 4]  # 100 : 100 : 400 of 6 RBs
    assert first["user_esno_db"][1] == 8.0 and first["user_esno_db"][2] == 10.0  # the phy SNR (default 10 dB)
    assert first["user_bandwidth_hz"].tolist() == [360e3, 360e3, 1440e3]
    np.testing.assert_allclose(first["sum_rate_bps"], first["user_throughput_bps"].sum())
    assert first["worst_ber"] == first["user_ber"].max() and first["user_ber"][2] < first["user_ber"][1]
    assert first["ber"] == first["user_bit_errors"].sum() / first["user_bits"].sum()


@pytest.mark.parametrize("model", ["tdl", "cdl", "rayleigh"])
def test_a_users_channel_is_the_whole_band_channel_on_its_own_subcarriers(model):
    """Computed and held on the user's subcarriers only (from the same channel impulse response draw);
    widened to the whole FFT, zero elsewhere, where nothing of the user's is sent or read."""
    from tokenlink.phy.allocation import allocate_resource_blocks

    cfg = {"channel": {"model": model, "max_speed_mps": 10.0}, "base_station": {"num_rx_antennas": 2}}
    allocation = allocate_resource_blocks(76, 3, layout="interleaved")[1]
    set_seed(5)
    full = OFDMLink(cfg).generate_channel(4)
    set_seed(5)
    link = OFDMLink(cfg, allocation=allocation)
    user = link.generate_channel(4)
    own = torch.as_tensor(allocation.subcarriers.copy())  # no guard bands: effective = FFT indices
    others = torch.as_tensor(np.setdiff1d(np.arange(76), allocation.subcarriers))
    assert link.channel_subcarriers.tolist() == own.tolist() and link.num_channel_subcarriers == len(own)
    assert list(user.shape) == [4, 1, 2, 1, 1, 14, len(own)] and torch.equal(user, full[..., own])
    wide = link.whole_grid_channel(user)
    assert torch.equal(wide[..., own], full[..., own]) and not wide[..., others].any()
    assert torch.equal(link._own_channel(full), user)  # a whole-FFT realization is cut to the user's
    assert list(link.draw_noise(3).shape) == [3, 1, 2, 14, len(own)]


@pytest.mark.parametrize("estimator, num_rx", [("ls", 1), ("ls", 2), ("perfect", 1), ("perfect", 2), ("lmmse", 1),
                                               ("lmmse", 2)])
def test_a_users_fast_link_on_its_own_subcarriers_equals_sionna_blocks_on_the_whole_grid(estimator, num_rx):
    """The fast path reads channel and noise on the user's subcarriers only; Sionna's blocks
    get the same draws widened to the whole FFT (zero channel elsewhere)."""
    from tokenlink.phy.allocation import allocate_resource_blocks

    cfg = {"channel": {"model": "tdl", "max_speed_mps": 10.0}, "base_station": {"num_rx_antennas": num_rx},
           "receiver": {"estimator": estimator, "interpolation": "linear"}}
    allocation = allocate_resource_blocks(76, 3, layout="contiguous")[2]
    fast = OFDMLink(cfg, precision="double", allocation=allocation)
    slow = OFDMLink({**cfg, "receiver": {**cfg["receiver"], "implementation": "sionna"}}, precision="double",
                    allocation=allocation)
    set_seed(3)
    x = fast.modulate(fast.source(5))
    h, noise, no = fast.generate_channel(5), fast.draw_noise(5), torch.linspace(0.01, 0.3, 5, dtype=torch.float64)
    x_hat, no_eff, h_used = fast.transmit_symbols(x, no, h, noise=noise)
    assert h_used is h and noise.shape[-1] == 24
    wide_h, wide_n = slow.whole_grid_channel(h), slow.whole_grid_channel(noise)
    y = wide_h[:, :, :, 0, 0] * slow.map_to_grid(x) + no.sqrt().reshape(-1, 1, 1, 1, 1) * wide_n
    ref = slow.equalize(y, no, h)
    torch.testing.assert_close(x_hat, ref[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(no_eff, ref[1], rtol=1e-10, atol=1e-12)
