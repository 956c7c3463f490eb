"""Client-model pruning: magnitude masks, filter pruning that shrinks the convs, the rate schedule
(tokenlink.semantic.fedsl.prune), and masks surviving optimizer steps and FedAvg."""

import pytest
import torch

from tokenlink.semantic.fedsl.aggregation import FedAvg
from tokenlink.semantic.fedsl.models import VGG, count_flops, total_flops
from tokenlink.semantic.fedsl.prune import (FilterPruner, MagnitudePruner, PruningSchedule, budget_rate,
                                            prunable_weights)


def _client(layout=(4, "M", 8, 8), cut_layer=3, seed=0):
    torch.manual_seed(seed)
    return VGG(list(layout), num_classes=10).client_model(cut_layer)


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("rate", [0.0, 0.3, 0.5, 0.9])
def test_magnitude_pruning_zeroes_the_expected_fraction(scope, rate):
    model = _client()
    weights = prunable_weights(model)
    total = sum(w.numel() for w in weights.values())
    mask = MagnitudePruner(rate, scope=scope)(model)
    zeros = sum(int((w == 0).sum()) for w in weights.values())
    expected = (int(rate * total) if scope == "global"
                else sum(int(rate * w.numel()) for w in weights.values()))
    assert zeros == expected == mask.num_weights - mask.num_kept


def test_magnitude_pruning_removes_the_smallest_weights():
    model = _client()
    before = torch.cat([w.detach().abs().flatten() for w in prunable_weights(model).values()])
    mask = MagnitudePruner(0.4)(model)
    kept = torch.cat([m.flatten() for m in mask.masks.values()])
    assert before[~kept].max() <= before[kept].min()


def test_filter_pruning_reduces_the_counted_flops_by_the_hand_computed_amount():
    client = _client()  # conv 3->4 @32x32, pool, conv 4->8 @16x16, conv 8->8 @16x16 (the cut: not pruned)
    dense_before, _ = total_flops(client, (3, 32, 32))
    assert dense_before == 2 * (4 * 1024 * 3 * 9 + 8 * 256 * 4 * 9 + 8 * 256 * 8 * 9)
    pruned = FilterPruner(0.5)(client)
    layers = count_flops(pruned.model, (3, 32, 32))
    # rate 0.5: conv1 keeps 2 of 4 filters, conv2 keeps 4 of 8 (and 2 input channels), conv3 keeps
    # all 8 filters but sees 4 input channels
    expected = [2 * 2 * 1024 * 3 * 9, 2 * 4 * 256 * 2 * 9, 2 * 8 * 256 * 4 * 9]
    assert [r.dense for r in layers] == expected
    assert [r.nonzero for r in layers] == expected  # structured: the convs are smaller, not sparse
    assert dense_before - sum(expected) == 2 * (2 * 1024 * 27 + 6 * 256 * 36 + 8 * 256 * 36)
    assert [len(k) for k in pruned.kept.values()] == [2, 4, 8]


def test_filter_pruning_keeps_the_largest_l1_filters_and_computes_them_exactly():
    client = _client().eval()
    conv = client[0][0]
    with torch.no_grad():
        conv.weight[1].mul_(10.0)  # filters 1 and 3 get the largest L1 norms
        conv.weight[3].mul_(5.0)
    pruned = FilterPruner(0.5)(client)
    assert pruned.kept["0.0"].tolist() == [1, 3]
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(pruned.model.eval()[0](x), client[0](x)[:, [1, 3]])
    assert pruned.model(x).shape == client(x).shape  # the split-layer interface is unchanged
    assert client[0][0].out_channels == 4  # the input model is untouched


def test_filter_pruned_weights_expand_back_into_the_full_shape_with_a_mask():
    client = _client()
    pruned = FilterPruner(0.5)(client)
    state, mask = FilterPruner.expand(pruned, client)
    full = client.state_dict()
    assert all(state[k].shape == full[k].shape for k in full)
    k0, k1 = pruned.kept["0.0"], pruned.kept["1.0"]
    torch.testing.assert_close(state["1.0.weight"][k1][:, k0], pruned.model.state_dict()["1.0.weight"])
    assert int(mask.masks["1.0.weight"].sum()) == len(k1) * len(k0) * 9
    assert (state["1.0.weight"][~mask.masks["1.0.weight"]] == 0).all()


@pytest.mark.parametrize("make_optimizer", [
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3),
    lambda p: torch.optim.Adam(p, lr=0.1),
], ids=["sgd_momentum", "adam"])
def test_pruning_masks_stay_applied_after_optimizer_steps(make_optimizer):
    model = _client()
    mask = MagnitudePruner(0.5)(model)
    optimizer = make_optimizer(model.parameters())
    mask.attach(optimizer, model)
    x = torch.rand(4, 3, 32, 32)
    for _ in range(3):
        optimizer.zero_grad()
        model(x).pow(2).mean().backward()
        optimizer.step()
    for name, w in prunable_weights(model).items():
        assert (w[~mask.masks[name]] == 0).all()
        assert (w[mask.masks[name]] != 0).any()


def test_without_reapplying_masks_an_optimizer_step_revives_pruned_weights():
    """The control for the test above: the masks do need re-applying."""
    model = _client()
    mask = MagnitudePruner(0.5)(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.rand(4, 3, 32, 32)).pow(2).mean().backward()
    optimizer.step()
    w = prunable_weights(model)["1.0.weight"]
    assert (w[~mask.masks["1.0.weight"]] != 0).any()


def test_pruning_masks_stay_applied_after_fedavg():
    clients = [_client(seed=s) for s in range(3)]
    masks = [MagnitudePruner(rate)(c) for c, rate in zip(clients, (0.5, 0.6, 0.7))]
    state = FedAvg()([c.state_dict() for c in clients], [10, 20, 30], masks)
    for name in masks[0].masks:
        pruned_by_all = ~(masks[0].masks[name] | masks[1].masks[name] | masks[2].masks[name])
        assert pruned_by_all.any()
        assert (state[name][pruned_by_all] == 0).all()
    for client, mask in zip(clients, masks):  # each client loads the global model, re-applies its own mask
        client.load_state_dict(state)
        mask.apply(client)
        for name, w in prunable_weights(client).items():
            assert (w[~mask.masks[name]] == 0).all()


def test_pruning_schedule_gives_the_rate_of_each_round():
    assert [PruningSchedule(0.5).rate(t) for t in (0, 7)] == [0.5, 0.5]
    linear = PruningSchedule(0.6, "linear", ramp_rounds=4, start_round=2)
    assert [linear.rate(t) for t in range(8)] == pytest.approx([0, 0, 0, 0.15, 0.3, 0.45, 0.6, 0.6])
    cubic = PruningSchedule(0.8, "cubic", ramp_rounds=2)
    assert [cubic.rate(t) for t in range(4)] == pytest.approx([0, 0.8 * (1 - 0.5 ** 3), 0.8, 0.8])


def test_compute_budget_sets_a_floor_on_the_rate():
    schedule = PruningSchedule(0.2)
    assert schedule.rate(0, flops_budget=0.5) == pytest.approx(0.5)   # unstructured: 1 - budget
    assert schedule.rate(0, flops_budget=0.9) == pytest.approx(0.2)   # the schedule asks for more
    assert PruningSchedule(0.0, structured=True).rate(0, flops_budget=0.25) == pytest.approx(0.5)
    assert budget_rate(1.0) == 0.0


def test_budget_rate_of_structured_pruning_meets_the_budget_on_inner_layers():
    """A conv pruned on both sides keeps (1 - r)**2 of its FLOPs: the budget exactly."""
    client = _client(layout=(8, 8, 8), cut_layer=3)
    rate = budget_rate(0.25, structured=True)
    layers = count_flops(FilterPruner(rate)(client).model, (3, 32, 32))
    full = count_flops(client, (3, 32, 32))
    assert layers[1].dense == full[1].dense // 4


@pytest.mark.parametrize("make", [MagnitudePruner, FilterPruner, PruningSchedule])
@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5])
def test_prune_rate_outside_unit_interval_raises_naming_prune_rate(make, rate):
    with pytest.raises(ValueError, match=r"fedsl\.prune_rate.*\[0, 1\)"):
        make(rate)
