"""FedSL clients as the users of one OFDMA uplink (a ``network:`` section beside ``fedsl:``):
client k sends over device k of a ``MultiUserTokenLink`` (its resource blocks, Es/N0 and airtime),
the schema's rules, the training key, and exact resume over the network."""

import math

import numpy as np
import pytest
import torch

from tokenlink.bridge import MultiUserTokenLink, TokenLink
from tokenlink.bridge.config import TokenLinkConfig
from tokenlink.phy.snr import LinkBudget
from tokenlink.scenario import ScenarioError, load_scenario
from tokenlink.semantic.fedsl import train as fedsl_train
from tokenlink.semantic.fedsl.data import ImageSet
from tokenlink.semantic.fedsl.train import train
from fedsl_helpers import assert_one_line_naming


def quadrants(n: int, seed: int) -> ImageSet:
    """A separable 4-class image set: class k lights up quadrant k."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = 0.1 * torch.rand(n, 3, 32, 32, generator=g)
    for k in range(4):
        r, c = divmod(k, 2)
        images[labels == k, :, r * 16:(r + 1) * 16, c * 16:(c + 1) * 16] += 0.8
    return ImageSet("quadrants", "train", images, labels, ("0", "1", "2", "3"))


DATA = (quadrants(48, 0), quadrants(12, 1))
#: 3 clients, VGG-11 x 1/16 cut 2: 8 tokens of 64 values = 256 analog channel uses per image.
CFG = dict(num_clients=3, rounds=1, local_steps=1, batch_size=4, width=1 / 16, cut_layer=2, train_samples=None,
           test_samples=None, interval_rounds=1, uplink="link", bn_recalibration_samples=8, eval_batch_size=8)
#: A 72-subcarrier grid: 6 resource blocks of 144 data REs per slot (2 pilot symbols of 14).
LINK = TokenLinkConfig(mode="analog", phy={"grid": {"fft_size": 72}}, snr_db=10.0)
#: 3 / 2 / 1 resource blocks (144 data REs per RB and slot); 256 channel uses per image.
NETWORK = {"users": [{"link_budget": {"distance_m": 100.0}}, {"esno_db": 4.0},
                     {"link_budget": {"distance_m": 300.0, "shadowing": "off"}}],
           "shares": [0.5, 0.34, 0.16]}
SLOT_S = 14 * (72 + 6) / (72 * 30e3)   # 14 OFDM symbols of (fft + cyclic prefix) samples at 72 x 30 kHz


def spy_steps(monkeypatch) -> list:
    """Record (client_id, channel, cost) of every split step the training runs."""
    calls = []
    step = fedsl_train.SplitStep.__call__

    def spied(self, *args, **kwargs):
        out = step(self, *args, **kwargs)
        calls.append((kwargs["client_id"], kwargs["channel"], out.cost))
        return out

    monkeypatch.setattr(fedsl_train.SplitStep, "__call__", spied)
    return calls


def test_client_k_sends_over_device_k_with_its_resource_blocks_and_esno(monkeypatch):
    calls = spy_steps(monkeypatch)
    train(CFG, data=DATA, link_config=LINK, network=NETWORK)
    reference = MultiUserTokenLink(LINK, NETWORK)
    full = TokenLink(LINK)
    assert [len(a.resource_blocks) for a in reference.allocations] == [3, 2, 1]
    assert sorted(k for k, _, _ in calls) == [0, 1, 2]
    for k, uplink, cost in calls:
        device = uplink.link
        assert device.link.allocation == reference.allocations[k]   # its own resource blocks
        assert device.frame_size(8, 64) == reference.devices[k].frame_size(8, 64)
        assert uplink.esno_db == pytest.approx(reference.mean_esno_db()[k])
        assert cost.uplink_channel_uses == 4 * 256
    # the 1-RB client needs 2 slots per image where the whole grid needs one
    assert reference.devices[2].frame_size(8, 64)["num_slots"] == 2 and full.frame_size(8, 64)["num_slots"] == 1
    # Es/N0: user 1 its esno_db; users 0 and 2 their budgets over their own bandwidth, user 0 with shadowing
    esno = {k: (u.esno_db, u.shadowing_std_db) for k, u, _ in calls}
    budget = LinkBudget(distance_m=100.0, bandwidth_hz=3 * 12 * 30e3)
    assert esno[0] == (pytest.approx(budget.mean_snr_db()), budget.frame_shadowing_std_db)
    assert esno[1] == (4.0, 0.0)
    assert esno[2] == (pytest.approx(LinkBudget(distance_m=300.0, bandwidth_hz=12 * 30e3).mean_snr_db()), 0.0)


def test_fewer_resource_blocks_more_airtime_and_a_parallel_round_lasts_its_slowest_client(monkeypatch):
    calls = spy_steps(monkeypatch)
    cfg = {**CFG, "interval_rounds": 2}   # no FedAvg (no model uploads) in the one round
    history = train(cfg, data=DATA, link_config=LINK, network=NETWORK)
    assert history["model_uplink_bits"] == [0.0]
    airtime = {k: cost.uplink_airtime_s for k, _, cost in calls}
    # the batch back to back: 4 x 256 = 1,024 channel uses on 3 / 2 / 1 RBs of 144 data REs per slot:
    # ceil(1024 / 432) = 3, ceil(1024 / 288) = 4, ceil(1024 / 144) = 8 slots of the numerology's duration
    assert airtime == pytest.approx({0: 3 * SLOT_S, 1: 4 * SLOT_S, 2: 8 * SLOT_S}, rel=1e-9)
    # disjoint REs, sent at once: the round's airtime is the longest client's
    assert history["uplink_airtime_s"][0] == pytest.approx(8 * SLOT_S, rel=1e-9)
    assert history["uplink_channel_uses"][0] == 3 * 4 * 256
    flops = history["client_flops"][0] / 3   # three identical clients, no pruning
    assert history["latency_s"][0] == pytest.approx(flops / 1e9 + 8 * SLOT_S, rel=1e-9)
    plain = train(cfg, data=DATA, link_config=LINK)
    # without a network every client has the whole grid (6 RBs: ceil(1024 / 864) = 2 slots), summed
    assert plain["uplink_airtime_s"][0] == pytest.approx(3 * 2 * SLOT_S, rel=1e-9)


def test_the_run_is_reproducible_and_resumes_exactly_over_the_network(tmp_path):
    cfg = {**CFG, "rounds": 2, "drop_rate": 0.25, "gradient_bits": 8}
    whole = train(cfg, tmp_path / "whole", data=DATA, link_config=LINK, network=NETWORK)
    first = train(cfg, tmp_path / "cut", data=DATA, link_config=LINK, network=NETWORK, max_rounds=1)
    assert not first["finished"]
    resumed = train(cfg, tmp_path / "cut", data=DATA, link_config=LINK, network=NETWORK)
    for key in fedsl_train.HISTORY_KEYS:
        if key != "time_s":
            np.testing.assert_array_equal(whole[key], resumed[key], err_msg=key)
    assert whole["channel_nmse"][0] > 0 and math.isfinite(whole["test_accuracy"][1])
    # another network is another run: its checkpoint is refused in one line
    other = {**NETWORK, "shares": "equal"}
    with pytest.raises(ValueError, match="another configuration"):
        train(cfg, tmp_path / "whole", data=DATA, link_config=LINK, network=other)


def test_evaluation_sends_test_image_i_over_client_i_mod_n(monkeypatch):
    sent = []
    transmit = fedsl_train.ClientUplink.transmit

    def spied(self, tokens):
        sent.append((self.link.link.allocation.user, tokens.shape[0]))
        return transmit(self, tokens)

    monkeypatch.setattr(fedsl_train.ClientUplink, "transmit", spied)
    history = train({**CFG, "bn_recalibration_samples": 0}, data=DATA, link_config=LINK, network=NETWORK)
    evaluation = sent[3:]   # after the three training steps: 12 test images in batches of 8
    assert evaluation == [(0, 3), (1, 3), (2, 2), (0, 1), (1, 1), (2, 2)]
    assert 0 <= history["test_accuracy"][0] <= 1 and 0 <= history["test_accuracy_ideal"][0] <= 1


# ---------------------------------------------------------------- scenarios
def scenario(**changes) -> dict:
    """A 3-client FedSL scenario over a 6-RB OFDMA uplink (validated only, never run here)."""
    fedsl = {"num_clients": 3, "train_samples": 60, "test_samples": 16, "uplink": "link",
             **changes.pop("fedsl", {})}
    network = {"users": [{"link_budget": {"distance_m": d}} for d in (50.0, 200.0, 400.0)],
               **changes.pop("network", {})}
    return {"name": "fedsl_ofdma_tiny", "phy": {"grid": {"fft_size": 72}}, "link": {"mode": "analog"},
            "fedsl": fedsl, "network": network, "run": {"seed": 3}, **changes}


BAD = {
    "network.users": scenario(network={"users": [{"esno_db": 1.0}, {"esno_db": 2.0}]}),
    "network.sharing": scenario(network={"sharing": "mu_mimo"}),
    "fedsl.uplink": scenario(fedsl={"uplink": "ideal"}),
    "fedsl.client_distance_m": scenario(fedsl={"client_distance_m": [1.0, 2.0, 3.0]}),
}


@pytest.mark.parametrize("field", list(BAD))
def test_a_bad_network_beside_fedsl_is_one_line_naming_the_field(field):
    with pytest.raises(ScenarioError) as error:
        load_scenario(BAD[field])
    message = str(error.value)
    assert_one_line_naming(message, field)
    if field == "network.users":
        assert "2 users for fedsl.num_clients = 3" in message and "one user per client" in message


def test_each_client_esno_is_its_link_budget_over_its_own_bandwidth():
    from tokenlink.fedsl_run import client_esno_db, client_resource_blocks, client_shadowing_std_db, training_config

    s = load_scenario(scenario(network={"shares": [0.5, 0.34, 0.16]}))
    assert client_resource_blocks(s) == [3, 2, 1]
    esno = client_esno_db(s)
    expected = [LinkBudget(distance_m=d, bandwidth_hz=n * 12 * 30e3).mean_snr_db()
                for d, n in ((50.0, 3), (200.0, 2), (400.0, 1))]
    assert esno == pytest.approx(expected)
    assert esno == pytest.approx(MultiUserTokenLink(s.token_link_config(), s.network).mean_esno_db())
    assert client_shadowing_std_db(s) == [6.0, 6.0, 6.0]   # UMa NLOS, drawn per frame
    # fedsl.client_esno_db overrides the budgets (and has no shadowing)
    given = load_scenario(scenario(fedsl={"client_esno_db": [1.0, 2.0, 3.0]}))
    assert client_esno_db(given) == [1.0, 2.0, 3.0] and client_shadowing_std_db(given) == [0.0] * 3
    # the network is part of the training key
    assert training_config(s)["network"] == s.network.model_dump(mode="json")
    equal = load_scenario(scenario())
    from tokenlink.fedsl_run import training_key

    assert training_key(equal) != training_key(s)


def test_scenarios_without_a_network_keep_their_training_keys():
    from tokenlink.fedsl_run import training_config, training_key

    s = load_scenario("scenarios/fedsl_mnist.yaml").points()[0].scenario
    assert "network" not in training_config(s)
    assert training_key(s) == "a890b44f478b729a"   # as before networks could be given
