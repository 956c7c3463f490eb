"""MU-MIMO uplink on Sionna's blocks: K single-antenna users on all REs, N_r base-station antennas.

ZF with perfect CSI over i.i.d. Rayleigh fading gives every user the BER of N_r - K + 1
Rayleigh branches at its own Es/N0 (closed form); LMMSE is never worse than ZF on the same
realizations; pilots are orthogonal and LS estimates each user from its own.
"""

import numpy as np
import pytest
import torch

from tokenlink.phy import set_seed
from tokenlink.phy.config import GridConfig
from tokenlink.phy.mimo import MuMimoUplink, orthogonal_pilot_pattern
from tokenlink.phy.theory import ber_rayleigh_mrc


def _uplink(num_rx, num_users, equalizer="zf", estimator="perfect", pilots=False):
    grid = {"fft_size": 8, "cyclic_prefix_length": 0, "pilot_pattern": "kronecker" if pilots else "empty"}
    phy = {"modulation": "qpsk", "demapping": "maxlog", "grid": grid,
           "channel": {"model": "rayleigh", "coherence": "symbol"},
           "receiver": {"estimator": estimator, "equalizer": equalizer}, "base_station": {"num_rx_antennas": num_rx}}
    return MuMimoUplink(phy, [None] * num_users, precision="double")


def _errors(uplink, esno_db, batches, batch=2048, seed=1):
    """Bit errors per slot and user, [batch * batches, num_users]."""
    set_seed(seed)
    out = []
    with torch.no_grad():
        for _ in range(batches):
            bits = uplink.source(batch)
            llr, _, _ = uplink(bits, esno_db)
            out.append(((llr > 0).to(bits.dtype) != bits).sum(-1).numpy())
    return np.concatenate(out)


@pytest.mark.parametrize("num_rx, esno_db", [(2, [12.0, 16.0]), (4, [5.0, 9.0])])
def test_zf_per_user_ber_has_diversity_nr_minus_k_plus_1(num_rx, esno_db):
    uplink = _uplink(num_rx, 2)
    errors = _errors(uplink, esno_db, batches=8)
    bits = uplink.num_bits_per_slot
    ber = errors.mean(0) / bits
    se = errors.std(0, ddof=1) / np.sqrt(errors.shape[0]) / bits  # slots are independent trials
    theory = ber_rayleigh_mrc(np.array(esno_db), 2, num_rx - 2 + 1)
    assert np.all(se < 0.1 * theory), (se, theory)
    assert np.all(np.abs(ber - theory) < 3 * se), (ber, theory, se)


def test_lmmse_is_never_worse_than_zf_on_the_same_realizations():
    for esno_db in ([0.0, 0.0], [6.0, 12.0], [15.0, 15.0]):
        zf = _errors(_uplink(2, 2, "zf"), esno_db, batches=1).sum(0)
        lmmse = _errors(_uplink(2, 2, "lmmse"), esno_db, batches=1).sum(0)
        assert np.all(lmmse <= zf), (esno_db, lmmse, zf)


def test_pilots_are_orthogonal_and_ls_estimates_each_user_from_its_own():
    pp = orthogonal_pilot_pattern(GridConfig(), 3)
    pilots = pp.pilots.numpy()  # [K, 1, pilot REs]
    assert np.all((np.abs(pilots) > 0).sum(0) == 1)  # every pilot RE belongs to exactly one user
    assert np.all((np.abs(pilots) > 0).sum(-1) > 0)
    # noiseless flat fading, constant over the slot: LS with the users' own pilots recovers every symbol
    uplink = MuMimoUplink({"modulation": "16qam", "channel": {"model": "rayleigh"},
                           "receiver": {"estimator": "ls", "interpolation": "linear", "equalizer": "zf"},
                           "base_station": {"num_rx_antennas": 4}}, [None] * 3, precision="double")
    set_seed(2)
    bits = uplink.source(4)
    llr, x_hat, no_eff = uplink(bits, [90.0, 90.0, 90.0])
    assert torch.equal((llr > 0).to(bits.dtype), bits)
    x = uplink._mapper(bits)
    torch.testing.assert_close(x_hat, x, rtol=0, atol=1e-3)  # noise std 3e-5, amplified by ZF


def test_users_with_their_own_channels_and_the_errors_named():
    uplink = MuMimoUplink({"base_station": {"num_rx_antennas": 2}},
                          [None, {"model": "tdl", "max_speed_mps": 30.0}])
    h = uplink.generate_channel(3)
    assert h.shape == (3, 1, 2, 2, 1, 14, 76)
    with pytest.raises(ValueError, match="zf separates at most base_station.num_rx_antennas = 2 users, got 3"):
        MuMimoUplink({"base_station": {"num_rx_antennas": 2}, "receiver": {"equalizer": "zf"}}, [None] * 3)
    with pytest.raises(ValueError, match="esno_db needs one value per user"):
        uplink(uplink.source(2), [3.0])


def test_a_mu_mimo_network_point_records_every_user_and_zf_needs_the_antennas(tmp_path):
    from tokenlink import load_scenario
    from tokenlink.runner import run
    from tokenlink.scenario import ScenarioError
    from tokenlink.trace import read_trace

    scenario = {"phy": {"modulation": "qpsk", "channel": {"model": "rayleigh"},
                        "receiver": {"estimator": "ls", "equalizer": "zf"}, "base_station": {"num_rx_antennas": 4}},
                "link": {"mode": "bits"}, "run": {"max_bits": 20_000, "min_bit_errors": 100},
                "network": {"sharing": "mu_mimo", "users": [{"esno_db": 15.0}, {"esno_db": 5.0}, {}]}}
    m = read_trace(run(scenario, tmp_path / "m.h5", progress=False, plots=False).trace_path).points[0].metrics
    assert m["user_esno_db"].tolist() == [15.0, 5.0, 10.0]  # the third at the phy SNR
    assert m["user_resource_blocks"].tolist() == [6, 6, 6] and np.all(m["user_slots"] == m["user_slots"][0])
    assert m["user_ber"][0] < m["user_ber"][2] < m["user_ber"][1]
    scenario["phy"]["base_station"]["num_rx_antennas"] = 2
    with pytest.raises(ScenarioError, match="phy.receiver.equalizer: 'zf' separates at most .* = 2 users, "
                                            "network.users has 3") as err:
        load_scenario(scenario)
    assert "\n" not in str(err.value)
    with pytest.raises(ScenarioError, match="is not used by any point"):  # MU-MIMO shares no resource blocks
        load_scenario({**scenario, "phy": {**scenario["phy"], "receiver": {"equalizer": "lmmse"}},
                       "sweep": {"grid": {"network.layout": ["contiguous", "interleaved"]}}})
