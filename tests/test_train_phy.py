"""Training over other PHY fields than the test point's: ``semantic.train_phy``."""

from __future__ import annotations

import pytest

from tokenlink import load_scenario
from tokenlink.scenario import ScenarioError
from tokenlink.semantic_run import training_config, training_key, training_link_config
from tokenlink.trace import read_trace

from tiny_semantic import tiny_easy_vqa

EASY = tiny_easy_vqa(train_phy={"channel": {"model": "tdl", "profile": "C", "max_speed_mps": 30.0},
                                "receiver": {"estimator": "ls"}})


def _with(**changes):
    data = {**EASY, **changes}
    return load_scenario(data)


def test_the_training_phy_is_merged_into_phy_and_replaces_it_in_the_training_key():
    s = _with()
    phy = s.train_phy_config()
    assert (phy.channel.model, phy.channel.profile, phy.channel.max_speed_mps) == ("tdl", "C", 30.0)
    assert phy.receiver.estimator == "ls" and phy.grid.fft_size == 72  # the rest is the scenario's phy
    assert training_link_config(s).phy == phy
    assert training_config(s)["phy"]["channel"]["model"] == "tdl"
    # the test point's channel does not enter the key
    assert training_key(_with(phy={**EASY["phy"], "channel": {"model": "rayleigh"}})) == training_key(s)
    # training over the scenario's own phy written out is the same model as no train_phy
    plain = {**EASY["semantic"]}
    plain.pop("train_phy")
    same = {**plain, "train_phy": {"channel": {"model": "awgn"}}}
    assert training_key(_with(semantic=same)) == training_key(_with(semantic=plain))


@pytest.mark.parametrize("train_phy, message", [
    ({"chanel": {"model": "tdl"}}, "semantic.train_phy.chanel: unknown field 'chanel', did you mean 'channel'?; allowed: grid, modulation"),
    ({"snr_db": 5.0}, "semantic.train_phy.snr_db: unknown field 'snr_db'"),
    ({"channel": {"model": "tdx"}}, "semantic.train_phy.channel.model: "),
])
def test_bad_training_phy_fields_are_one_line_errors(train_phy, message):
    with pytest.raises(ScenarioError) as e:
        _with(semantic={**EASY["semantic"], "train_phy": train_phy})
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_one_model_trained_over_tdl_is_tested_over_awgn_and_tdl(tmp_path):
    from tokenlink.runner import run

    scenario = load_scenario({**EASY, "sweep": {"grid": {"phy.channel": [{"model": "awgn"}, {
        "model": "tdl", "profile": "C", "max_speed_mps": 30.0}], "phy.receiver.estimator": ["perfect", "ls"]}}})
    result = run(scenario, tmp_path / "t.h5", progress=False, plots=False)
    assert len(list((tmp_path / "t_checkpoints").iterdir())) == 1  # one model for every test channel
    nmse = {(p.params["phy.channel"]["model"] if isinstance(p.params["phy.channel"], dict) else
             p.params["phy.channel"], p.params["phy.receiver.estimator"]): p.metrics["nmse"]
            for p in read_trace(result.trace_path).points}
    assert len(nmse) == 4
    assert nmse[next(k for k in nmse if "awgn" in str(k[0]) and k[1] == "perfect")] < \
        nmse[next(k for k in nmse if "tdl" in str(k[0]) and k[1] == "ls")]
