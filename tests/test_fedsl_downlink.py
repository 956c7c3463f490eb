"""The cut-layer gradient over the client's link (fedsl.downlink: link; semantic/fedsl/downlink.py,
bridge TokenLink.transmit_codes) and quantized client model updates (fedsl.update_bits;
semantic/fedsl/aggregation.py QuantizedUpdates)."""

import copy
import math

import numpy as np
import pytest
import torch

from tokenlink.bridge import TokenLink
from tokenlink.bridge.config import TokenLinkConfig
from tokenlink.phy.theory import ber_awgn
from tokenlink.semantic.checkpoint import load_checkpoint, strip_prefix
from tokenlink.semantic.fedsl.aggregation import FedAvg, QuantizedUpdates
from tokenlink.semantic.fedsl.config import fedsl_config
from tokenlink.semantic.fedsl.downlink import LINK_GRADIENT_BITS, ClientDownlink
from tokenlink.semantic.fedsl.dropout import SplitDropout
from tokenlink.semantic.fedsl.models import VGG
from tokenlink.semantic.fedsl.prune import PruningMask
from tokenlink.semantic.fedsl.quantize import GradientQuantizer
from tokenlink.semantic.fedsl.split import SplitStep
from tokenlink.semantic.fedsl.train import fingerprint, train

from fedsl_helpers import BASE, DATA, LIGHT, curves, same





AWGN = {"phy": {"channel": {"model": "awgn"}, "demapping": "maxlog"}}


def _awgn_link(modulation: str = "16qam") -> TokenLink:
    return TokenLink({"phy": {**AWGN["phy"], "modulation": modulation}})


def _split_grads(downlink, drop_rate=0.25):
    """Client-side gradients of one step of a tiny VGG (8-bit gradients, dropout), and its cost."""
    torch.manual_seed(0)
    model = VGG([4, "M", 8, "M", 8], num_classes=5)
    client, server = model.client_model(2), model.server_model(2)
    g = torch.Generator().manual_seed(1)
    images, labels = torch.rand(6, 3, 32, 32, generator=g), torch.randint(0, 5, (6,), generator=g)
    step = SplitStep(dropout=SplitDropout(drop_rate, seed=2) if drop_rate else None,
                     quantizer=GradientQuantizer(8, seed=3))
    out = step(client, server, images, labels, generator=torch.Generator().manual_seed(4), downlink=downlink)
    return [p.grad.clone() for p in client.parameters()], out


# ----------------------------------------------------------------- downlink
def test_downlink_at_high_esno_gives_exactly_the_ideal_quantized_gradient():
    ideal, out_ideal = _split_grads(None)
    linked, out = _split_grads(ClientDownlink(_awgn_link(), esno_db=60.0))
    assert all(torch.equal(a, b) for a, b in zip(ideal, linked, strict=True))
    assert out.cost.downlink_bit_errors == 0 and out.cost.downlink_channel_uses > 0
    assert out.cost.downlink_bits == out_ideal.cost.downlink_bits
    assert out_ideal.cost.downlink_channel_uses is None  # ideal: no channel uses


def test_downlink_at_low_esno_corrupts_the_gradient():
    ideal, _ = _split_grads(None)
    linked, out = _split_grads(ClientDownlink(_awgn_link(), esno_db=4.0))
    assert out.cost.downlink_bit_errors > 0
    assert not torch.equal(ideal[0], linked[0])


@pytest.mark.parametrize("modulation,bits,esno_db", [("qpsk", 2, 2.0), ("16qam", 4, 8.0)])
def test_downlink_ber_matches_uncoded_qam_on_awgn(modulation, bits, esno_db):
    downlink = ClientDownlink(_awgn_link(modulation), esno_db=esno_db)
    levels = torch.randint(0, 256, (40_000,), generator=torch.Generator().manual_seed(0)).float()
    received, usage = downlink.send(levels, torch.tensor([20_000, 20_000]), 8)
    ber = usage.bit_errors / usage.payload_bits
    theory = float(ber_awgn(esno_db, bits))
    z = (ber - theory) / math.sqrt(theory * (1 - theory) / usage.payload_bits)
    assert abs(z) < 4, f"ber {ber}, theory {theory}, z {z}"
    wrong = received != levels
    assert wrong.any() and usage.payload_bits == 8 * 40_000


def test_downlink_channel_uses_are_the_links_framing_by_hand():
    link = _awgn_link("16qam")          # 4 bits per symbol
    usage = ClientDownlink(link, 60.0).send(torch.arange(8.0), torch.tensor([5, 3]), 8)[1]
    # two frames (one per sample), padded to the longer: 5 codes x 8 bits = 40 bits = 10 symbols each
    assert usage.channel_uses == 2 * 10 and usage.payload_bits == 8 * 8
    slot = link.transmit_codes(torch.zeros(1, 1, dtype=torch.long), 8).resources.airtime_s
    assert usage.airtime_s == pytest.approx(slot)   # back to back: 20 symbols fill one slot
    qpsk = _awgn_link("qpsk")
    out = qpsk.transmit_codes(torch.zeros(3, 5, dtype=torch.long), 3, snr_db=60.0)
    assert out.resources.channel_uses == math.ceil(5 * 3 / 2) == 8 and out.resources.num_bits == 15


def test_downlink_channel_uses_of_a_step_without_dropout():
    _, out = _split_grads(ClientDownlink(_awgn_link("16qam"), esno_db=60.0), drop_rate=0.0)
    values = 6 * 8 * 8 * 8            # batch 6 x (8 channels x 8 x 8 at cut 2)
    assert out.cost.downlink_values == values and out.cost.downlink_payload_bits == 8 * values
    assert out.cost.downlink_channel_uses == 6 * math.ceil(8 * 512 / 4)


def test_train_with_the_downlink_at_high_esno_equals_the_ideal_downlink_and_resumes(tmp_path):
    cfg = {**BASE, **LIGHT, "num_clients": 2, "rounds": 2, "local_steps": 1, "interval_rounds": 1}
    link_config = TokenLinkConfig(**AWGN, snr_db=60.0)
    ideal = train(cfg, data=DATA)
    linked = train({**cfg, "downlink": "link"}, tmp_path / "whole", data=DATA, link_config=link_config)
    skip = ("downlink_channel_uses", "downlink_airtime_s", "downlink_ber", "latency_s")
    assert same({k: v for k, v in curves(ideal).items() if k not in skip},
                {k: v for k, v in curves(linked).items() if k not in skip})
    assert all(math.isnan(v) for v in ideal["downlink_ber"] + ideal["downlink_channel_uses"])
    assert linked["downlink_ber"] == [0.0, 0.0] and all(v > 0 for v in linked["downlink_channel_uses"])
    assert all(a > b for a, b in zip(linked["latency_s"], ideal["latency_s"]))   # + downlink airtime
    noisy = {**cfg, "downlink": "link", "update_bits": 4, "client_esno_db": [6.0, 12.0]}
    whole = train(noisy, tmp_path / "noisy", data=DATA, link_config=link_config)
    train(noisy, tmp_path / "cut", data=DATA, link_config=link_config, max_rounds=1)
    resumed = train(noisy, tmp_path / "cut", data=DATA, link_config=link_config)
    assert same(curves(whole), curves(resumed)) and all(v > 0 for v in whole["downlink_ber"])


def test_float32_gradients_go_as_8_bit_codes_over_the_link():
    cfg = {**BASE, "num_clients": 2, "rounds": 1, "local_steps": 1, "downlink": "link"}
    history = train(cfg, data=DATA, link_config=TokenLinkConfig(**AWGN, snr_db=60.0))
    values = history["uplink_values"][0]
    assert LINK_GRADIENT_BITS == 8 and history["downlink_bits"][0] == 8 * values + 2 * 32


# -------------------------------------------------------- quantized updates
def _states(seed=0):
    g = torch.Generator().manual_seed(seed)
    reference = {"w": torch.randn(3, 4, generator=g), "b": torch.randn(3, generator=g), "n": torch.tensor(5)}
    clients = [{"w": reference["w"] + 0.1 * torch.randn(3, 4, generator=g),
                "b": reference["b"] + 0.1 * torch.randn(3, generator=g), "n": torch.tensor(7 + k)} for k in range(2)]
    return reference, clients


def test_update_quantization_is_unbiased():
    reference, clients = _states()
    updates = QuantizedUpdates(2, reference=reference)
    generator = torch.Generator().manual_seed(0)
    draws = 4000
    total = {"w": torch.zeros(3, 4, dtype=torch.float64), "b": torch.zeros(3, dtype=torch.float64)}
    for _ in range(draws):
        rebuilt, _ = updates.reconstruct(clients[:1], [None], ["w", "b"], generator)
        for name in total:
            total[name] += rebuilt[0][name].double()
    for name, s in total.items():
        update = clients[0][name] - reference[name]
        step = 2 * float(update.abs().max()) / 3        # 2 bits: 3 steps over [-m, m]
        error = (s / draws - clients[0][name].double()).abs()
        assert float(error.max()) < 4 * (step / 2) / math.sqrt(draws) + 1e-6, name
    one, _ = updates.reconstruct(clients[:1], [None], ["w", "b"], generator)
    assert not torch.equal(one[0]["w"], clients[0]["w"])   # one draw is quantized
    assert torch.equal(one[0]["n"], clients[0]["n"])       # buffers pass as they are


def test_update_bits_hand_count_and_pruned_entries_not_sent():
    reference, clients = _states()
    keep = torch.zeros(3, 4, dtype=torch.bool)
    keep[0, :3] = keep[2, 1] = True                      # 4 kept entries of w
    masks = [PruningMask({"w": keep}), PruningMask({"w": torch.zeros(3, 4, dtype=torch.bool)})]
    rebuilt, bits = QuantizedUpdates(4, reference=reference).reconstruct(clients, masks, ["w", "b"])
    assert bits == [(4 * 4 + 32) + (4 * 3 + 32), 4 * 3 + 32]   # fully pruned w: nothing sent, no scale
    assert (rebuilt[0]["w"][~keep] == 0).all() and (rebuilt[1]["w"] == 0).all()
    state = FedAvg(1)(rebuilt, [1, 1], masks)
    assert (state["w"][~keep] == 0).all()                # kept by nobody: zero after the average


def test_train_update_bits_32_is_the_unquantized_fedavg_and_keeps_the_fingerprint():
    cfg = {**BASE, **LIGHT, "num_clients": 2, "rounds": 1, "local_steps": 1, "interval_rounds": 1}
    assert same(curves(train(cfg, data=DATA)), curves(train({**cfg, "update_bits": 32}, data=DATA)))
    keys = [fingerprint(fedsl_config(c), *DATA, seed=0) for c in
            (cfg, {**cfg, "update_bits": 32, "downlink": "ideal"}, {**cfg, "update_bits": 8})]
    assert keys[0] == keys[1] != keys[2]


def test_train_quantized_updates_keep_masks_and_count_bits(tmp_path):
    cfg = {**BASE, **LIGHT, "num_clients": 2, "rounds": 1, "local_steps": 1, "interval_rounds": 1, "update_bits": 4}
    history = train(cfg, tmp_path, data=DATA)
    tensors, _ = load_checkpoint(tmp_path)
    expected = 0
    for k in range(2):
        masks, state = strip_prefix(tensors, f"mask.{k}."), strip_prefix(tensors, f"client.{k}.")
        assert masks and all((state[n][~m] == 0).all() for n, m in masks.items())   # pruned entries zero
        for name, value in state.items():
            if "running_" in name or "num_batches" in name:
                continue                                   # buffers: not parameters
            kept = int(masks[name].sum()) if name in masks else value.numel()
            expected += 4 * kept + 32 if kept else 0
    assert history["model_uplink_bits"] == [float(expected)]
    unquantized = train({**cfg, "update_bits": 32}, data=DATA)
    assert unquantized["model_uplink_bits"][0] > 6 * expected    # 32 bits per entry vs 4 (+ scales)
    assert strip_prefix(tensors, "global.")                       # the reference is checkpointed


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize("field,value", [("update_bits", 0), ("update_bits", -3), ("downlink", "radio")])
def test_bad_new_fields_give_one_line_errors_naming_the_field(field, value):
    with pytest.raises(ValueError) as error:
        fedsl_config({field: value})
    message = str(error.value)
    assert message.startswith(f"fedsl.{field}:") and "\n" not in message


def test_a_link_downlink_step_needs_a_quantizer():
    torch.manual_seed(0)
    model = VGG([4, "M", 8], num_classes=5)
    with pytest.raises(ValueError, match=r"^fedsl\.gradient_bits:"):
        SplitStep()(model.client_model(1), model.server_model(1), torch.rand(2, 3, 32, 32), torch.tensor([0, 1]),
                    downlink=ClientDownlink(_awgn_link(), 10.0))
    with pytest.raises(ValueError, match=r"^fedsl\.update_bits:"):
        QuantizedUpdates(32)


def test_transmit_codes_refuses_codes_out_of_range():
    with pytest.raises(ValueError, match="0..15"):
        _awgn_link().transmit_codes(torch.tensor([[16]]), 4)
    with pytest.raises(ValueError, match="integer tensor"):
        _awgn_link().transmit_codes(torch.zeros(1, 2), 4)


def test_levels_round_trip_through_encode_and_decode():
    g = torch.randn(50, generator=torch.Generator().manual_seed(0))
    q = GradientQuantizer(5, seed=1)
    level, m = q.encode(g, torch.Generator().manual_seed(2))
    assert torch.equal(q(g, torch.Generator().manual_seed(2)).values, q.decode(level, m))
    assert level.min() >= 0 and level.max() <= 31 and torch.equal(level, level.round())
    assert np.isclose(float(m), float(g.abs().max()))
    assert copy.deepcopy(q).bits == 5


def test_a_run_checkpointed_before_the_downlink_keys_existed_resumes(tmp_path):
    from tokenlink.semantic.checkpoint import save_checkpoint

    cfg = {**BASE, "num_clients": 2, "rounds": 2, "local_steps": 1}
    train(cfg, tmp_path, data=DATA, max_rounds=1)
    tensors, meta = load_checkpoint(tmp_path)
    for name in ("downlink_channel_uses", "downlink_airtime_s", "downlink_ber"):
        del meta["history"][name]
    save_checkpoint(tmp_path, tensors, meta)
    history = train(cfg, tmp_path, data=DATA)
    assert history["finished"] and len(history["downlink_ber"]) == 2 and all(map(math.isnan, history["downlink_ber"]))


def test_a_downlink_over_a_bits_link_is_refused_naming_link_mode():
    from tokenlink.scenario import ScenarioError, load_scenario

    with pytest.raises(ScenarioError, match=r"^link\.mode:") as error:
        load_scenario({"name": "x", "fedsl": {"downlink": "link"}})   # link.mode defaults to bits
    assert "\n" not in str(error.value)
