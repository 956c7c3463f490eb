"""Log-normal shadowing of the link-budget SNR, drawn per frame: its statistics,
the BER it gives against the closed form averaged over it, its seeding (points
differ, runs repeat, the other random streams stay), and ``std 0`` / ``off``
giving the numbers of the mean-SNR path bit for bit."""

import math

import numpy as np
import pytest
from numpy.polynomial.hermite import hermgauss

from tokenlink.phy.snr import LinkBudget, Shadowing
from tokenlink.phy.theory import ber_awgn, ber_rayleigh
from tokenlink.runner import run
from tokenlink.scenario import ScenarioError, load_scenario
from tokenlink.trace import load_raw, read_trace

#: UMa NLOS at 300 m: a mean link-budget SNR of 5.1 dB.
BUDGET = {"distance_m": 300.0}


def _metrics(path):
    return [p.metrics for p in read_trace(path).complete_points]


def _scenario(mode="bits", std=4.0, shadowing="per_frame", channel="awgn", **run_cfg):
    return {
        "name": "shadowed",
        "phy": {"modulation": "qpsk", "channel": {"model": channel}, "snr_type": "link_budget",
                "link_budget": {**BUDGET, "shadowing_std_db": std, "shadowing": shadowing}},
        "link": {"mode": mode, "tokens": {"num_tokens": 4, "dim": 8}, "digital": {"bits_per_value": 2}},
        "run": {"batch_size": 16, "max_bits": 40_000, "max_frames": 32, "early_stop": False, **run_cfg},
    }


def test_shadowing_draws_do_not_depend_on_how_frames_are_batched():
    chunks = Shadowing(4.0, seed=7)
    drawn = np.concatenate([chunks.draw_db(n) for n in (3, 10, 1, 50)])
    np.testing.assert_array_equal(drawn, Shadowing(4.0, seed=7).draw_db(64))
    assert not np.array_equal(drawn, Shadowing(4.0, seed=8).draw_db(64))
    np.testing.assert_array_equal(Shadowing(0.0, seed=7).esno_db(5.0, 4), np.full(4, 5.0))


def test_shadowing_draws_have_mean_zero_and_the_configured_std():
    n, s = 200_000, 6.0
    esno = Shadowing(s, seed=1).esno_db(5.0, n)
    assert abs(esno.mean() - 5.0) < 4 * s / math.sqrt(n)
    assert abs(esno.std() - s) < 4 * s / math.sqrt(2 * n)


def test_the_switch_and_the_model_default_decide_the_std_drawn():
    assert LinkBudget().frame_shadowing_std_db == 6.0  # uma_nlos, TR 38.901
    assert LinkBudget(shadowing_std_db=2.5).frame_shadowing_std_db == 2.5
    assert LinkBudget(shadowing="off").frame_shadowing_std_db == 0.0
    assert LinkBudget(path_loss_model="free_space").frame_shadowing_std_db == 0.0
    scenario = load_scenario(_scenario())
    assert scenario.phy.frame_shadowing_std_db() == 4.0
    assert load_scenario({"phy": {"snr_type": "es_no"}}).phy.frame_shadowing_std_db() == 0.0
    with pytest.raises(ScenarioError, match=r"phy.link_budget.shadowing: .*allowed: 'per_frame', 'off'"):
        load_scenario({"phy": {"link_budget": {"shadowing": "per_slot"}}})


def test_token_frames_draw_their_es_no_with_the_mean_link_budget_snr_and_the_std(tmp_path):
    s = 4.0
    scenario = _scenario("analog", std=s, batch_size=250, max_frames=2000)
    (m,) = _metrics(run(scenario, tmp_path / "t.h5", progress=False, plots=False).trace_path)
    per_frame, n = m["esno_db_per_frame"], 2000
    mean = LinkBudget(**BUDGET).mean_snr_db()
    assert per_frame.shape == (n,) and m["frames"] == n
    assert m["esno_db"] == pytest.approx(mean, abs=1e-12)
    assert abs(per_frame.mean() - mean) < 4 * s / math.sqrt(n)
    assert abs(per_frame.std() - s) < 4 * s / math.sqrt(2 * n)
    assert m["esno_db_std"] == pytest.approx(per_frame.std())


def _shadowed_closed_form(ber, mean_db: float, std_db: float, bits_per_symbol: int) -> float:
    """E[ber(mean - S)], S ~ N(0, std^2), by 60-point Gauss-Hermite quadrature."""
    x, w = hermgauss(60)
    return float(np.sum(w * ber(mean_db - math.sqrt(2.0) * std_db * x, bits_per_symbol)) / math.sqrt(math.pi))


@pytest.mark.parametrize("channel, closed_form, distance_m", [("awgn", ber_awgn, 300.0),
                                                              ("rayleigh", ber_rayleigh, 150.0)])
def test_the_ber_of_a_shadowed_flat_link_is_the_closed_form_averaged_over_the_shadowing(tmp_path, channel,
                                                                                         closed_form, distance_m):
    s = 6.0
    scenario = _scenario("bits", std=s, channel=channel, batch_size=64, max_bits=1824 * 640)  # 640 slots
    scenario["phy"]["link_budget"]["distance_m"] = distance_m  # mean SNR 5.1 dB (AWGN), 16.3 dB (Rayleigh)
    if channel == "rayleigh":
        scenario["phy"]["channel"]["coherence"] = "symbol"  # 14 fades per slot: a smaller per-slot spread
    (m,) = _metrics(run(scenario, tmp_path / "t.h5", progress=False, plots=False).trace_path)
    mean = LinkBudget(distance_m=distance_m).mean_snr_db()
    expected = _shadowed_closed_form(closed_form, mean, s, 2)
    unshadowed = float(closed_form(mean, 2))
    assert m["slots"] == 640 and abs(m["esno_db_std"] - s) < 4 * s / math.sqrt(2 * 640)
    # the per-slot standard error: slots are independent, their bits are not
    assert abs(m["ber"] - expected) < 4 * m["ber_stderr"], (m["ber"], expected, m["ber_stderr"])
    assert abs(unshadowed - expected) > 6 * m["ber_stderr"]  # and the test can tell shadowing from none


def test_a_shadowing_sweep_gives_different_points_that_repeat_with_the_seed(tmp_path):
    scenario = {**_scenario("digital"), "sweep": {"grid": {"phy.link_budget.shadowing_std_db": [0.0, 4.0, 8.0],
                                                          "link.mode": ["bits", "digital"]}}}
    first = _metrics(run(scenario, tmp_path / "a.h5", progress=False, plots=False).trace_path)
    again = _metrics(run(scenario, tmp_path / "b.h5", progress=False, plots=False).trace_path)
    for a, b in zip(first, again, strict=True):
        assert a.keys() == b.keys()
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    bits, digital = first[0::2], first[1::2]
    for points in (bits, digital):
        assert len({p["ber"] for p in points}) == 3
        assert [p["esno_db_std"] == 0 for p in points] == [True, False, False]
        assert points[1]["esno_db_std"] < points[2]["esno_db_std"]
    assert len({tuple(p["esno_db_per_frame"]) for p in digital}) == 3
    other_seed = {**scenario, "run": {**scenario["run"], "seed": 2}}
    other = _metrics(run(other_seed, tmp_path / "c.h5", progress=False, plots=False).trace_path)
    assert not np.array_equal(other[3]["esno_db_per_frame"], first[3]["esno_db_per_frame"])


@pytest.mark.parametrize("mode", ["bits", "analog", "digital"])
def test_std_0_and_shadowing_off_give_the_numbers_of_the_mean_snr_bit_for_bit(tmp_path, mode):
    mean = LinkBudget(**BUDGET).mean_snr_db()
    mean_only = {**_scenario(mode), "phy": {**_scenario(mode)["phy"], "snr_type": "es_no", "snr_db": mean}}
    reference = _metrics(run(mean_only, tmp_path / "ref.h5", progress=False, plots=False).trace_path)[0]
    for name, scenario in (("std0", _scenario(mode, std=0.0)), ("off", _scenario(mode, std=8.0, shadowing="off"))):
        (m,) = _metrics(run(scenario, tmp_path / f"{name}.h5", progress=False, plots=False).trace_path)
        assert m.keys() == reference.keys()
        for metric in m:
            np.testing.assert_array_equal(m[metric], reference[metric], err_msg=f"{name}: {metric}")
        assert m["esno_db_std"] == 0.0


def test_shadowing_leaves_the_bits_channels_and_noise_streams_as_they_are(tmp_path):
    """The same slots and noise with and without shadowing: at a very high mean SNR both are error-free,
    and the recorded channel realizations are the same."""
    high = {"tx_power_dbm": 60.0}
    quiet = _scenario("bits", std=0.0, channel="rayleigh", raw={"arrays": ["h_freq"]})
    loud = _scenario("bits", std=6.0, channel="rayleigh", raw={"arrays": ["h_freq"]})
    for scenario in (quiet, loud):
        scenario["phy"]["link_budget"].update(high)
    paths = [run(s, tmp_path / f"{n}.h5", progress=False, plots=False).trace_path for n, s in (("a", quiet),
                                                                                              ("b", loud))]
    a, b = (read_trace(p).complete_points[0] for p in paths)
    assert a.metrics["slots"] == b.metrics["slots"] and a.metrics["bit_errors"] == b.metrics["bit_errors"] == 0
    np.testing.assert_array_equal(load_raw(paths[0], a.key, "h_freq"), load_raw(paths[1], b.key, "h_freq"))
    assert "esno_db" not in a.raw_names and load_raw(paths[1], b.key, "esno_db").shape == (16,)
