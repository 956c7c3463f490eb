"""Warnings for configurations that validate but cannot work as meant: each
fires on the bad combination and stays silent on good ones; ``tokenlink
validate`` and ``tokenlink run`` print them once (stderr), the trace keeps
them (``warnings_json``) and ``tokenlink info`` shows them."""

import json
import re

import pytest

from tokenlink.cli import main
from tokenlink.runner import run
from tokenlink.scenario import load_scenario
from tokenlink.scenario.sweep import distinct_points
from tokenlink.scenario.warnings import SINR_CEILING_DB, scenario_warnings
from tokenlink.trace import read_trace

LINE = re.compile(r"^tokenlink: warning: [a-z_.]+: [^\n]+ \([^\n]+\); [^\n]+$")


def _warnings(data):
    return scenario_warnings(load_scenario(data))


def _fields(data):
    return [w.field for w in _warnings(data)]


def _phy(channel=None, receiver=None, **more):
    return {"phy": {"modulation": "qpsk", "channel": channel or {}, "receiver": receiver or {}, **more}}


def test_flat_fading_redrawn_every_symbol_with_estimated_csi_warns_and_is_that_bad(tmp_path):
    bad = {**_phy({"model": "rayleigh", "coherence": "symbol"}, {"estimator": "ls"}, snr_db=25.0),
           "run": {"max_bits": 40_000, "early_stop": False}}
    (warning,) = _warnings(bad)
    assert warning.field == "phy.channel.coherence" and LINE.match(warning.line)
    assert "pilots on OFDM symbols 2, 11" in warning.why and "-2.8 dB" in warning.why
    assert "coherence: block" in warning.todo
    for good in ({"model": "rayleigh", "coherence": "block"}, {"model": "rician", "k_factor": 200.0,
                                                              "coherence": "symbol"}):
        assert _warnings(_phy(good, {"estimator": "ls"})) == []
    assert _warnings(_phy({"model": "rayleigh", "coherence": "symbol"}, {"estimator": "perfect"})) == []
    assert _fields(_phy({"model": "rician", "k_factor": 3.0, "coherence": "symbol"}, {"estimator": "lmmse"})) == [
        "phy.channel.coherence"]
    # the warning is real: 25 dB QPSK, LS CSI
    ber = {}
    for coherence in ("symbol", "block"):
        scenario = {**bad, "phy": {**bad["phy"], "channel": {"model": "rayleigh", "coherence": coherence}}}
        ber[coherence] = run(scenario, tmp_path / f"{coherence}.h5", progress=False, plots=False).points[0].metrics[
            "ber"]
    assert ber["symbol"] > 0.1 > 0.01 > ber["block"]


def test_a_ue_too_fast_for_the_pilots_warns_with_the_normalized_doppler():
    fast = {"model": "tdl", "speed_mps": 100.0}
    (warning,) = _warnings(_phy(fast, {"estimator": "ls"}))
    assert warning.field == "phy.channel.speed_mps" and LINE.match(warning.line)
    assert "1167 Hz x OFDM symbol 36.0 us = 0.042 per symbol" in warning.why
    assert "10.3 dB" in warning.why and "pilot_ofdm_symbol_indices" in warning.todo
    assert _fields(_phy({"model": "cdl", "max_speed_mps": 150.0}, {"estimator": "lmmse"})) == [
        "phy.channel.max_speed_mps"]
    for good in (_phy({"model": "tdl", "speed_mps": 30.0}, {"estimator": "ls"}),
                 _phy(fast, {"estimator": "perfect"}),
                 _phy(fast, {"estimator": "ls"}, grid={"pilot_ofdm_symbol_indices": [2, 5, 8, 11]}),
                 _phy(fast, {"estimator": "ls"}, grid={"subcarrier_spacing_hz": 120e3, "fft_size": 76})):
        assert _warnings(good) == [], good


def test_a_sweep_warns_once_for_its_worst_point_and_counts_the_points():
    sweep = {**_phy({"model": "tdl"}, {"estimator": "ls", "interpolation": "linear_time_avg"}),
             "sweep": {"grid": {"phy.channel.speed_mps": [0.0, 3.0, 30.0, 60.0], "phy.snr_db": [0.0, 10.0, 20.0]}}}
    (warning,) = _warnings(sweep)
    assert "up to 60 m/s" in warning.what and "6 of 12 points" in warning.why
    ceiling = float(re.search(r"about (-?[0-9.]+) dB", warning.why).group(1))
    assert ceiling < SINR_CEILING_DB


def test_checks_see_each_combination_of_the_fields_they_read_once():
    scenario = load_scenario({"phy": {"channel": {"model": "rician"}},
                              "sweep": {"grid": {"phy.snr_db": list(range(1000)),
                                                 "phy.channel.k_factor": [0.0, 1.0, 2.0]}}})
    points = list(distinct_points(scenario, lambda key: key.startswith("phy.channel")))
    assert [(p.index, n) for p, n in points] == [(0, 1000), (1, 1000), (2, 1000)]
    assert [p.scenario.phy.channel.k_factor for p, _ in points] == [0.0, 1.0, 2.0]


def test_normalizing_flat_block_fading_warns():
    (warning,) = _warnings(_phy({"model": "rayleigh", "normalize": True}))
    assert warning.field == "phy.channel.normalize" and "|h| = 1" in warning.why
    assert _warnings(_phy({"model": "tdl", "normalize": True})) == []
    assert _warnings(_phy({"model": "rayleigh", "coherence": "symbol", "normalize": True})) == []


def test_a_field_no_point_reads_warns():
    assert _fields(_phy({"model": "rayleigh", "speed_mps": 30.0, "k_factor": 3.0},
                        {"interpolation": "nearest"})) == [
        "phy.channel.k_factor", "phy.channel.speed_mps", "phy.receiver.interpolation"]
    (warning,) = _warnings(_phy({"model": "rayleigh", "speed_mps": 30.0}))
    assert warning.what == "30.0 is ignored" and "only model tdl or cdl does" in warning.why
    # a sweep in which some point reads it, or the default value, is fine
    assert _warnings({**_phy({"model": "tdl", "speed_mps": 3.0, "profile": "A"}),
                      "sweep": {"grid": {"phy.channel.model": ["awgn", "rayleigh", "tdl"]}}}) == []
    assert _warnings(_phy({"model": "rayleigh", "speed_mps": 0.0}, {"estimator": "lmmse",
                                                                     "interpolation": "linear"})) == []


def test_a_base_station_array_field_without_cdl_warns():
    scenario = _phy({"model": "tdl"}, base_station={"num_rx_antennas": 4, "antenna_pattern": "38.901"})
    (warning,) = _warnings(scenario)
    assert warning.field == "phy.base_station.antenna_pattern" and "only model cdl does" in warning.why
    assert "channel model 'tdl' does not read it" in warning.why
    scenario["phy"]["channel"]["model"] = "cdl"
    assert _warnings(scenario) == []


def test_a_demand_that_sizes_no_share_warns():
    users = [{"demand_res": 300}, {"demand_res": 100}]
    (warning,) = _warnings({"network": {"users": users}})
    assert warning.field == "network.users[0].demand_res" and "shares: proportional" in warning.todo
    assert _warnings({"network": {"users": users, "shares": "proportional"}}) == []
    assert _warnings({"network": {"users": users},  # a sweep in which some point reads it is fine
                      "sweep": {"grid": {"network.shares": ["equal", "proportional"]}}}) == []


def test_a_raw_array_no_point_records_warns():
    (warning,) = _warnings({"run": {"raw": {"arrays": ["tokens", "h_freq"]}}})
    assert warning.field == "run.raw.arrays" and "'tokens' will not be recorded by bits points" in warning.what
    assert _fields({"link": {"mode": "analog"}, "run": {"raw": {"arrays": ["llr"]}}}) == ["run.raw.arrays"]
    assert _fields({"link": {"mode": "analog"}, "semantic": {}, "run": {"raw": {"arrays": ["h_freq"]}}}) == [
        "run.raw.arrays"]
    assert _warnings({"link": {"mode": "analog"}, "run": {"raw": {"arrays": ["tokens", "h_freq"]}}}) == []
    assert _warnings({"run": {"raw": {"arrays": ["tokens", "symbols"]}},
                      "sweep": {"grid": {"link.mode": ["bits", "analog"]}}}) == []


#: Warnings a shipped study exists to measure: semantic_mobility tests one pilot OFDM symbol at
#: 120 km/h, where the warning's SINR cap from channel aging is the result it measures.
EXPECTED_WARNINGS = {"semantic_mobility": ["phy.channel.max_speed_mps"]}


def test_every_shipped_scenario_is_free_of_warnings():
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml")):
        fields = [w.field for w in scenario_warnings(load_scenario(path))]
        assert fields == EXPECTED_WARNINGS.get(path.stem, []), path.name


def test_validate_prints_the_warnings_on_stderr_and_exits_0(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("phy:\n  channel: {model: rayleigh, coherence: symbol}\n  receiver: {estimator: ls}\n")
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "# valid:" in out and "warning" not in out
    assert err.count("\n") == 1 and LINE.match(err.strip()) and "phy.channel.coherence" in err
    assert main(["validate", str(path), "--set", "phy.channel.coherence=block"]) == 0
    assert capsys.readouterr().err == ""


def test_run_prints_the_warnings_once_and_the_trace_and_info_keep_them(tmp_path, capsys):
    scenario = {**_phy({"model": "rayleigh", "coherence": "symbol"}, {"estimator": "ls"}),
                "run": {"max_bits": 4000, "batch_size": 2},
                "sweep": {"grid": {"phy.snr_db": [0.0, 10.0]}}}
    path = tmp_path / "t.h5"
    run(scenario, path, progress=False, plots=False)
    err = capsys.readouterr().err
    assert err.count("tokenlink: warning: phy.channel.coherence:") == 1
    stored = json.loads(read_trace(path).attrs["warnings_json"])
    assert len(stored) == 1 and stored[0].startswith("phy.channel.coherence: flat rayleigh fading")
    assert main(["info", str(path)]) == 0
    assert "warning    phy.channel.coherence: " in capsys.readouterr().out
    clean = tmp_path / "clean.h5"
    run({**scenario, "phy": {"modulation": "qpsk"}}, clean, progress=False, plots=False)
    assert "warning" not in capsys.readouterr().err
    assert json.loads(read_trace(clean).attrs["warnings_json"]) == []
