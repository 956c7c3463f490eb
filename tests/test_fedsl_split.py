"""One split-learning step (tokenlink.semantic.fedsl.split) and its cost record
(tokenlink.semantic.fedsl.accounting)."""

import copy
import math
from types import SimpleNamespace

import pytest
import torch

from tokenlink.semantic.fedsl.accounting import ClientCost, airtime_s, total_cost
from tokenlink.semantic.fedsl.aggregation import FedAvg
from tokenlink.semantic.fedsl.dropout import SplitDropout
from tokenlink.semantic.fedsl.models import VGG
from tokenlink.semantic.fedsl.prune import MagnitudePruner
from tokenlink.semantic.fedsl.quantize import GradientQuantizer
from tokenlink.semantic.fedsl.split import SplitStep, from_tokens, to_tokens


def _tiny_vgg(dtype=torch.float32, seed=0, **kwargs):
    torch.manual_seed(seed)
    return VGG(kwargs.pop("layout", [4, "M", 8, "M", 8]), num_classes=5, **kwargs).to(dtype)


def _batch(dtype=torch.float32, n=6, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=generator, dtype=dtype), torch.randint(0, 5, (n,), generator=generator)


@pytest.mark.parametrize("token_layout", ["channels", "positions"])
@pytest.mark.parametrize("cut_layer", [1, 2, 3])
def test_split_step_without_compression_gives_exactly_the_gradients_of_the_unsplit_model(token_layout, cut_layer):
    model = _tiny_vgg(torch.float64)
    split = copy.deepcopy(model)
    images, labels = _batch(torch.float64)
    loss = torch.nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    out = SplitStep(token_layout=token_layout)(split.client_model(cut_layer), split.server_model(cut_layer),
                                               images, labels, channel=lambda tokens: tokens)
    assert out.loss == pytest.approx(loss.item(), rel=1e-12)
    for (name, p), (_, q) in zip(model.named_parameters(), split.named_parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-10, atol=1e-12, msg=name)


def test_split_step_with_quantized_gradients_differs_from_the_unsplit_model():
    """The control for the exactness test: a 2-bit downlink changes the client gradients."""
    model = _tiny_vgg(torch.float64)
    split = copy.deepcopy(model)
    images, labels = _batch(torch.float64)
    torch.nn.functional.cross_entropy(model(images), labels).backward()
    SplitStep(quantizer=GradientQuantizer(2, seed=0))(split.client_model(1), split.server_model(1), images, labels)
    assert not torch.allclose(split.features[0][0].weight.grad, model.features[0][0].weight.grad)
    torch.testing.assert_close(split.classifier[1].weight.grad, model.classifier[1].weight.grad)  # server side exact


def test_tokens_round_trip_in_both_layouts():
    a = torch.randn(2, 3, 4, 5)
    assert to_tokens(a, "channels").shape == (2, 3, 20) and to_tokens(a, "positions").shape == (2, 20, 3)
    for layout in ("channels", "positions"):
        assert torch.equal(from_tokens(to_tokens(a, layout), a.shape, layout), a)


def test_split_dropout_sends_the_kept_count_and_dropped_activations_get_zero_gradient():
    model = _tiny_vgg()
    client, server = model.client_model(1), model.server_model(1)
    images, labels = _batch()
    captured = {}

    def capture(module, inputs, output):
        output.register_hook(lambda g: captured.update(grad=g))
    client.register_forward_hook(capture)
    sent = []
    step = SplitStep(dropout=SplitDropout(0.5, seed=11))
    out = step(client, server, images, labels, channel=lambda t: sent.append(t.clone()) or t)
    mask = SplitDropout(0.5, seed=11).mask(torch.Size((6, 4 * 16 * 16))).reshape(6, 4, 16, 16)
    assert out.cost.uplink_values == out.cost.downlink_values == int(mask.sum())
    assert int(torch.count_nonzero(sent[0])) <= int(mask.sum()) < sent[0].numel()
    assert (captured["grad"][~mask] == 0).all()
    assert (captured["grad"][mask] != 0).float().mean() > 0.9  # kept entries do get gradients
    assert out.cost.downlink_bits == 32 * int(mask.sum())


def test_accounting_equals_hand_computed_counts_for_a_tiny_model_and_link():
    model = VGG([2, "M"], num_classes=3, input_size=4)  # conv 3->2 on 4x4, pool to 2x2
    images, labels = torch.rand(2, 3, 4, 4), torch.tensor([0, 2])
    link = SimpleNamespace(transmit=lambda tokens: SimpleNamespace(
        tokens=tokens, resources=SimpleNamespace(batch_size=tokens.shape[0], channel_uses=4, airtime_s=1e-3,
                                                 num_bits=None, data_res=6, num_slots=1)))
    out = SplitStep(quantizer=GradientQuantizer(8, seed=0))(model.client_model(1), model.server_model(1),
                                                             images, labels, channel=link, round_index=3,
                                                             client_id=7)
    cost = out.cost
    forward = 2 * (2 * 4 * 4 * 3 * 9) * 2           # 2 x MACs (C_out*H*W*C_in*3*3), x batch 2
    assert (cost.client_flops_forward, cost.client_flops_forward_dense) == (forward, forward)
    assert cost.client_flops == 3 * forward == 10368   # backward = 2 x forward
    # leaf outputs: conv, BN, ReLU [2, 2, 4, 4] = 64 values each, pool [2, 2, 2, 2] = 16; float32
    assert cost.client_activation_bytes == (3 * 64 + 16) * 4 == 832
    assert cost.uplink_values == cost.uplink_padded_values == 2 * 2 * 2 * 2
    # two frames of 4 channel uses sent back to back: 8 symbols on slots of 6 data REs -> 2 slots of 1 ms
    assert cost.uplink_channel_uses == 4 * 2 and cost.uplink_airtime_s == pytest.approx(2e-3)
    assert cost.uplink_bits is None                   # an analog link carries values, not bits
    assert cost.downlink_bits == 8 * 16 + 32
    assert (cost.round_index, cost.client_id, cost.num_samples) == (3, 7, 2)
    assert cost.with_symbol_rate(1e6).uplink_airtime_s == pytest.approx(8e-6)
    assert cost.latency_s(client_flops_per_s=1e6) == pytest.approx(10368e-6 + 2e-3)
    totals = total_cost([cost, cost])
    assert totals["client_flops"] == 2 * 10368 and totals["downlink_bits"] == 2 * 160
    assert totals["uplink_bits"] is None


def test_ideal_link_counts_uplink_bits_at_the_configured_width_and_pruning_lowers_client_flops():
    model = _tiny_vgg()
    client, server = model.client_model(2), model.server_model(2)
    images, labels = _batch()
    dense = SplitStep(uplink_bits_per_value=16)(client, server, images, labels).cost
    assert dense.uplink_bits == 16 * dense.uplink_values and dense.uplink_channel_uses is None
    MagnitudePruner(0.5, scope="layer")(client)
    pruned = SplitStep()(client, server, images, labels).cost
    assert pruned.client_flops_forward_dense == dense.client_flops_forward_dense
    assert pruned.client_flops_forward == dense.client_flops_forward // 2


def test_split_step_through_a_token_link_counts_its_channel_uses():
    from tokenlink.bridge import TokenLink

    link = TokenLink({"snr_db": 30.0})
    model = _tiny_vgg(layout=[4, "M", 8])
    images, labels = _batch(n=4)
    out = SplitStep()(model.client_model(1), model.server_model(1), images, labels, channel=link)
    assert out.cost.uplink_channel_uses == 4 * 16 * 16 * 4 // 2  # analog: 2 real values per channel use
    assert out.cost.uplink_airtime_s > 0 and torch.isfinite(torch.tensor(out.loss))


def test_a_batch_is_sent_back_to_back_so_dropout_shortens_its_airtime():
    """Airtime = whole slots of the batch's symbols, from the link's own numerology: default grid
    14 x 76 with pilots on 2 OFDM symbols (12 x 76 = 912 data REs per slot), 30 kHz: 0.5 ms per slot."""
    from tokenlink.bridge import TokenLink

    link = TokenLink({"snr_db": 30.0})
    model = _tiny_vgg(layout=[4, "M", 8])
    images, labels = _batch(n=4)
    client, server = model.client_model(1), model.server_model(1)
    full = SplitStep()(client, server, images, labels, channel=link).cost
    one = link.transmit(torch.zeros(1, 4, 256)).resources
    per_slot, slot_s = one.data_res // one.num_slots, one.airtime_s / one.num_slots
    assert full.uplink_airtime_s == pytest.approx(math.ceil(full.uplink_channel_uses / per_slot) * slot_s)
    dropped = SplitStep(dropout=SplitDropout(0.5, seed=0))(client, server, images, labels, channel=link).cost
    assert dropped.uplink_channel_uses < full.uplink_channel_uses  # whole tokens of 256 values, padded to the batch max
    assert dropped.uplink_airtime_s < full.uplink_airtime_s


def test_a_few_rounds_of_lightweight_split_learning_fit_a_tiny_batch():
    """Two clients, dropout 0.25, 8-bit gradients, pruning 0.3, FedAvg every 2 rounds: the loss falls."""
    torch.manual_seed(0)
    model = VGG([8, "M", 16, "M"], num_classes=5)
    server = model.server_model(1)
    clients = [copy.deepcopy(model.client_model(1)) for _ in range(2)]
    data = [_batch(n=8, seed=s) for s in (1, 2)]
    step = SplitStep(dropout=SplitDropout(0.25, seed=1), quantizer=GradientQuantizer(8, seed=2))
    server_opt = torch.optim.SGD(server.parameters(), lr=0.05, momentum=0.9)
    opts = [torch.optim.SGD(c.parameters(), lr=0.05, momentum=0.9) for c in clients]
    masks = [MagnitudePruner(0.3)(c) for c in clients]
    for mask, opt, client in zip(masks, opts, clients):
        mask.attach(opt, client)
    fedavg, losses = FedAvg(interval_rounds=2), []
    for round_index in range(12):
        for k, (client, opt) in enumerate(zip(clients, opts)):
            opt.zero_grad(), server_opt.zero_grad()
            losses.append(step(client, server, *data[k], client_id=k, round_index=round_index).loss)
            opt.step(), server_opt.step()
        if fedavg.should_aggregate(round_index):
            state = fedavg([c.state_dict() for c in clients], [8, 8], masks)
            for client, mask in zip(clients, masks):
                client.load_state_dict(state)
                mask.apply(client)
    assert sum(losses[-4:]) / 4 < 0.5 * sum(losses[:2]) / 2
    for client, mask in zip(clients, masks):
        assert all((p[~mask.masks[n]] == 0).all() for n, p in client.named_parameters() if n in mask.masks)


def test_bad_split_inputs_raise_naming_the_field():
    with pytest.raises(ValueError, match=r"fedsl\.token_layout"):
        SplitStep(token_layout="pixels")
    with pytest.raises(ValueError, match=r"fedsl\.symbol_rate_hz"):
        airtime_s(10, 0.0)
    cost = ClientCost(0, 0, 1, 1, 1, 32, None, None, 1, 32, 2, 2, 4)
    with pytest.raises(ValueError, match=r"fedsl\.symbol_rate_hz"):
        cost.with_symbol_rate(1e6)
