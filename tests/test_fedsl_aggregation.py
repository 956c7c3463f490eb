"""FedAvg of client-side models (tokenlink.semantic.fedsl.aggregation)."""

import pytest
import torch
from torch import nn

from tokenlink.semantic.fedsl.aggregation import FedAvg
from tokenlink.semantic.fedsl.models import VGG
from tokenlink.semantic.fedsl.prune import FilterPruner, PruningMask


def _tiny(weight, bias, running_mean, batches):
    model = nn.Sequential(nn.Linear(2, 1), nn.BatchNorm1d(1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([weight]))
        model[0].bias.fill_(bias)
        model[1].running_mean.fill_(running_mean)
        model[1].num_batches_tracked.fill_(batches)
    return model.state_dict()


def test_fedavg_equals_the_hand_computed_weighted_average():
    a = _tiny([1.0, 2.0], 0.5, 1.0, 3)
    b = _tiny([3.0, 6.0], -1.5, 5.0, 7)
    state = FedAvg()([a, b], num_samples=[1, 3])
    torch.testing.assert_close(state["0.weight"], torch.tensor([[2.5, 5.0]]))   # (1*1 + 3*3)/4, (1*2 + 3*6)/4
    torch.testing.assert_close(state["0.bias"], torch.tensor([-1.0]))           # (0.5 - 4.5)/4
    torch.testing.assert_close(state["1.running_mean"], torch.tensor([4.0]))    # (1 + 15)/4
    assert state["1.num_batches_tracked"].dtype == torch.int64
    assert int(state["1.num_batches_tracked"]) == 7                               # counters: the largest


def test_fedavg_keeps_dtypes_and_equal_clients_give_the_same_model():
    state = VGG([4, "M"], width=1.0).state_dict()
    out = FedAvg()([state, state, state], [5, 1, 2])
    for key, value in state.items():
        assert out[key].dtype == value.dtype
        torch.testing.assert_close(out[key], value)


def test_fedavg_runs_every_interval_rounds():
    assert [FedAvg(3).should_aggregate(t) for t in range(7)] == [False, False, True, False, False, True, False]
    assert all(FedAvg(1).should_aggregate(t) for t in range(4))


def test_masked_average_counts_only_the_clients_that_keep_an_entry():
    a = {"w": torch.tensor([1.0, 2.0, 3.0])}
    b = {"w": torch.tensor([0.0, 6.0, 0.0])}  # pruned entries 0 and 2
    masks = [PruningMask({"w": torch.tensor([True, True, False])}),
             PruningMask({"w": torch.tensor([False, True, False])})]
    state = FedAvg()([a, b], [1, 3], masks)
    # entry 0: only a keeps it -> 1; entry 1: (1*2 + 3*6)/4 = 5; entry 2: pruned by both -> 0
    torch.testing.assert_close(state["w"], torch.tensor([1.0, 5.0, 0.0]))


def test_fedavg_of_filter_pruned_clients_in_the_full_shape():
    """Clients pruned to different widths average in the full shape; filters nobody kept stay zero."""
    torch.manual_seed(0)
    full = VGG([4, "M", 4], width=1.0).client_model(2)
    results = [FilterPruner(rate)(full) for rate in (0.25, 0.5)]
    expanded = [FilterPruner.expand(r, full) for r in results]
    state = FedAvg()([e[0] for e in expanded], [1, 1], [e[1] for e in expanded])
    kept_by_any = set(results[0].kept["0.0"].tolist())
    for f in range(4):
        assert (state["0.0.weight"][f] != 0).any() == (f in kept_by_any)
    full.load_state_dict(state)  # loads: the full shapes are intact


def test_bad_fedavg_inputs_raise_naming_the_field():
    with pytest.raises(ValueError, match=r"fedsl\.interval_rounds"):
        FedAvg(0)
    state = {"w": torch.zeros(2)}
    with pytest.raises(ValueError, match=r"fedsl\.num_samples"):
        FedAvg()([state, state], [1])
    with pytest.raises(ValueError, match=r"fedsl\.num_samples"):
        FedAvg()([state, state], [1, 0])
