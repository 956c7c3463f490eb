"""Devices of a semantic model on one OFDMA uplink: TokenCommModel over a MultiUserTokenLink,
evaluation per device, the runner with a ``network`` section, and what training depends on."""

import math

import numpy as np
import pytest
import torch

from tokenlink import load_scenario
from tokenlink.bridge import MultiUserTokenLink, TokenLink
from tokenlink.phy import set_seed
from tokenlink.phy.snr import LinkBudget
from tokenlink.scenario import ScenarioError
from tokenlink.semantic.foundation import FoundationModel
from tokenlink.semantic.pipeline import TokenCommModel
from tokenlink.semantic_run import training_key
from tokenlink.trace import read_trace

PHY = {"grid": {"fft_size": 72}, "channel": {"model": "tdl", "max_speed_mps": 3.0}, "receiver": {"estimator": "ls"}}

#: SynAV at a few seconds per training; users[0] sends the video, users[1] the audio.
SYNAV = {
    "name": "synav_network",
    "link": {"mode": "analog"},
    "phy": {"snr_db": 10.0, **PHY},
    "run": {"seed": 2},
    "semantic": {
        "dataset": "synav", "dataset_options": {"num_train_clips": 48, "num_test_clips": 24},
        "modalities": ["video", "audio"], "train_questions": 64, "test_questions": 40, "num_tokens": 4,
        "encoder": {"pretrain_epochs": 1},  # as the shipped SynAV scenarios' --smoke: the cached encoders
        "align": {"epochs": 1, "batch_size": 16, "max_steps": 2},
        "task": {"epochs": 1, "batch_size": 16, "max_steps": 2},
        "channel_bank_size": 32, "eval_batch_size": 40,
    },
    "network": {"users": [{"link_budget": {"distance_m": 100.0}}, {"link_budget": {"distance_m": 300.0}}],
                "shares": [0.5, 0.5]},
}


@pytest.fixture(scope="module")
def foundation():
    return FoundationModel(lora_rank=4, dropout=0.0)


def _model(foundation, link):
    torch.manual_seed(0)
    return TokenCommModel({"video": (8, 8), "audio": (8, 8)}, foundation, num_answers=3, num_tokens=8,
                          compression="none", link=link)


def test_each_modality_is_its_own_device_at_its_own_snr_and_trains_through_it(foundation):
    network = {"users": [{"esno_db": 30.0}, {"esno_db": -5.0}], "shares": [0.5, 0.5]}
    link = MultiUserTokenLink({"mode": "analog", "phy": PHY, "train_snr_db_range": (20.0, 20.0)}, network)
    model = _model(foundation, link).eval()
    x = torch.randn(16, 8, 8, generator=torch.Generator().manual_seed(1))
    set_seed(4)
    with torch.no_grad():
        sent = model.device_tokens({"video": x, "audio": x})
        passed = model.channel(sent, None, return_metrics=True)  # each device at its own esno_db
    near, far = (float(passed.metrics[m].nmse.median()) for m in ("video", "audio"))
    assert far > 30 * near  # 35 dB apart
    frames = link.frame_sizes([(8, foundation.d_model)] * 2)
    assert passed.channel_uses == {"video": frames[0]["channel_uses"], "audio": frames[1]["channel_uses"]}
    assert passed.total_channel_uses == sum(f["channel_uses"] for f in frames)
    # explicit Es/N0 per device override the devices' own
    with torch.no_grad():
        swapped = model.channel(sent, [-5.0, 30.0], return_metrics=True)
    assert float(swapped.metrics["video"].nmse.median()) > 30 * float(swapped.metrics["audio"].nmse.median())
    # training: every device draws from the training range (20 dB for both), not its own Es/N0
    model.train()
    passed = model.channel(model.device_tokens({"video": x, "audio": x}), None, return_metrics=True)
    near, far = (float(passed.metrics[m].nmse.median()) for m in ("video", "audio"))
    assert 1 / 3 < far / near < 3
    ids, mask = foundation.tokenize(["what colour?"] * 16)
    logits = model.answer(model.base_station(passed.received), ids, mask)
    logits.logsumexp(-1).sum().backward()
    assert all(model.projections[m].linear.weight.grad.abs().sum() > 0 for m in ("video", "audio"))


def test_a_network_link_needs_one_device_per_modality(foundation):
    link = MultiUserTokenLink({"mode": "analog", "phy": PHY}, {"users": [{}, {}, {}]})
    with pytest.raises(ValueError, match="network.users: 3 devices for 2 modalities"):
        _model(foundation, link)


def test_digital_devices_keep_their_own_quantizer_in_the_checkpoint_state(foundation):
    cfg = {"mode": "digital", "phy": PHY, "digital": {"calibration": "minmax"}}
    network = {"users": [{"esno_db": 10.0}, {"esno_db": 10.0}]}
    model = _model(foundation, MultiUserTokenLink(cfg, network))
    gen = torch.Generator().manual_seed(2)
    model.link.calibrate([torch.randn(4, 8, 384, generator=gen), 5 * torch.randn(4, 8, 384, generator=gen)])
    state = model.trainable_state()
    ranges = {k: v for k, v in state.items() if k.startswith("quantizer.")}
    assert {k.split(".")[1] for k in ranges} == {"0", "1"}
    fresh = _model(foundation, MultiUserTokenLink(cfg, network))
    fresh.load_trainable_state(state)
    for mine, theirs in zip(model.link.devices, fresh.link.devices, strict=True):
        for a, b in zip(mine.quantizer.state_dict().values(), theirs.quantizer.state_dict().values(), strict=True):
            assert torch.equal(a, b)
    spans = [float(d.quantizer.hi - d.quantizer.lo) for d in fresh.link.devices]
    assert spans[1] > 3 * spans[0]  # the audio device's range is its own (5x wider tokens)


def _scenario(**changes):
    data = {**SYNAV, **changes}
    return load_scenario(data)


def test_what_a_network_changes_in_training():
    base = _scenario()
    far = _scenario(network={**SYNAV["network"], "users": [SYNAV["network"]["users"][0],
                                                             {"link_budget": {"distance_m": 900.0}}]})
    split = _scenario(network={**SYNAV["network"], "shares": [0.25, 0.75]})
    assert training_key(far) == training_key(base)  # distances and budgets only set the test Es/N0
    assert training_key(split) != training_key(base)  # trained over the network: its allocation
    without = {k: v for k, v in SYNAV.items() if k != "network"}
    single = {**without, "semantic": {**SYNAV["semantic"], "train_over_network": False}}
    assert training_key(load_scenario({**single, "network": SYNAV["network"]})) == training_key(load_scenario(without))
    assert (training_key(load_scenario({**single, "network": split.network.model_dump(mode="json")}))
            == training_key(load_scenario(without)))


@pytest.mark.parametrize("change, message", [
    ({"semantic": None}, "link.mode: 'analog': over a network, tokens are those of a semantic model's devices"),
    ({"network": {"users": [{}, {}], "sharing": "mu_mimo"}},
     "network.sharing: 'mu_mimo': token links over a network are built for OFDMA only"),
    ({"network": {"users": [{}]}}, "network.users: 1 users for 2 modalities (video, audio)"),
    ({"sweep": {"grid": {"network.users.2.esno_db": [1.0, 2.0]}}},
     "network.users has 2 entries, no index 2; allowed: an index 0..1"),
])
def test_bad_network_sections_of_semantic_scenarios_are_one_line_errors(change, message):
    data = {**SYNAV, **change}
    if data.get("semantic") is None:
        data.pop("semantic")
    with pytest.raises(ScenarioError, match=message.replace("(", "\\(").replace(")", "\\)")):
        load_scenario(data)


def test_a_sweep_sets_one_users_field_and_leaves_the_others():
    scenario = _scenario(sweep={"grid": {"network.users.1.link_budget.distance_m": [50.0, 800.0]}})
    users = [[u.link_budget.distance_m for u in p.scenario.network.users] for p in scenario.points()]
    assert users == [[100.0, 50.0], [100.0, 800.0]]
    assert [p.params for p in scenario.points()] == [{"network.users.1.link_budget.distance_m": v}
                                                     for v in (50.0, 800.0)]


@pytest.fixture(scope="module")
def network_points(tmp_path_factory):
    """One model trained over the analog network link, evaluated over analog and digital (2 bits per
    value on 16-QAM) tokens with the audio device at 100 and 600 m: {(mode, distance): metrics}."""
    from tokenlink.runner import run

    path = tmp_path_factory.mktemp("network") / "t.h5"
    scenario = _scenario(semantic={**SYNAV["semantic"], "train_link_mode": "analog"},
                         link={"mode": "analog", "digital": {"bits_per_value": 2}},
                         sweep={"grid": {"link.mode": ["analog", "digital"],
                                         "network.users.1.link_budget.distance_m": [100.0, 600.0]}})
    result = run(scenario, path, progress=False, plots=False)
    assert len(list(path.with_name("t_checkpoints").iterdir())) == 1  # neither the mode nor the distance trains
    points = {(p.params["link.mode"], p.params["network.users.1.link_budget.distance_m"]): p.metrics
              for p in read_trace(result.trace_path).points}
    return scenario, points


def test_the_runner_evaluates_every_device_at_its_own_link_budget(network_points):
    scenario, points = network_points
    near, far = points["analog", 100.0], points["analog", 600.0]
    link = MultiUserTokenLink(scenario.token_link_config(), scenario.network)
    bandwidth = link.occupied_bandwidth_hz()
    for metrics, distance in ((near, 100.0), (far, 600.0)):
        expected = [LinkBudget(distance_m=d, bandwidth_hz=b).mean_snr_db()
                    for d, b in zip((100.0, distance), bandwidth, strict=True)]
        np.testing.assert_allclose(metrics["user_esno_db"], expected)
        assert metrics["esno_db"] == pytest.approx(min(expected))  # the weakest device's
        drawn = metrics["sample_esno_db"]
        assert drawn.shape == (40, 2)
        std = LinkBudget(distance_m=100.0).frame_shadowing_std_db  # UMa NLOS, both devices
        for k in range(2):
            assert abs(drawn[:, k].mean() - expected[k]) < 4 * std / math.sqrt(40)
        np.testing.assert_allclose(metrics["user_esno_db_drawn_std"], drawn.std(axis=0))
        np.testing.assert_array_equal(metrics["user_resource_blocks"], [3, 3])
        frames = link.frame_sizes([(4, 384)] * 2)
        np.testing.assert_array_equal(metrics["user_slots"], [f["num_slots"] for f in frames])
        slot_s = link.devices[0].link.metadata["grid"]["slot_duration_s"]
        assert metrics["airtime_s"] == pytest.approx(metrics["user_slots"].max() * slot_s)
        assert metrics["user_nmse"].shape == (2,)
        assert metrics["user_channel_uses"].sum() == metrics["channel_uses_per_sample"]
    assert far["user_nmse"][1] > 3 * near["user_nmse"][1]  # 600 m instead of 100 m
    assert far["user_esno_db"][0] == near["user_esno_db"][0]


def test_digital_devices_report_their_bits_ber_and_the_network_summary(network_points):
    from tokenlink.phy.multiuser import network_summary

    scenario, points = network_points
    link = MultiUserTokenLink(scenario.token_link_config(), scenario.network)
    slot_s = link.devices[0].link.metadata["grid"]["slot_duration_s"]
    for distance in (100.0, 600.0):
        m = points["digital", distance]
        assert m["user_ber"].shape == m["user_ter"].shape == (2,)
        assert m["ber"] == pytest.approx(m["user_ber"].mean())  # two devices, the same number of bits each
        np.testing.assert_array_equal(m["user_bits"], [4 * 384 * 2] * 2)
        summary = network_summary([d.link.num_bits_per_slot for d in link.devices], m["user_ber"], slot_s)
        np.testing.assert_allclose(m["user_throughput_bps"], summary.throughput_bps)
        assert m["sum_rate_bps"] == pytest.approx(summary.sum_rate_bps)
        assert "user_ber" not in points["analog", distance]
    assert points["digital", 600.0]["user_ber"][1] > 2 * points["digital", 600.0]["user_ber"][0]  # 600 vs 100 m
    assert points["digital", 600.0]["worst_user"] == 1
