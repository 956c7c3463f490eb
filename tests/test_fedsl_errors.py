"""Every bad FedSL input raises a one-line ValueError that names its field (tokenlink.semantic.fedsl)."""

import numpy as np
import pytest

from tokenlink.semantic.fedsl.accounting import airtime_s
from tokenlink.semantic.fedsl.aggregation import FedAvg
from tokenlink.semantic.fedsl.dropout import SplitDropout
from tokenlink.semantic.fedsl.models import VGG
from tokenlink.semantic.fedsl.partition import partition_dirichlet, partition_samples, partition_shards
from tokenlink.semantic.fedsl.prune import FilterPruner, MagnitudePruner, PruningSchedule, budget_rate
from tokenlink.semantic.fedsl.quantize import GradientQuantizer
from tokenlink.semantic.fedsl.split import SplitStep

BAD_INPUTS = {
    "cut_layer past the end": ("cut_layer", lambda: VGG("vgg11", width=1 / 16).server_model(9)),
    "cut_layer zero": ("cut_layer", lambda: VGG("vgg11", width=1 / 16).client_model(0)),
    "drop_rate one": ("drop_rate", lambda: SplitDropout(1.0)),
    "bits zero": ("bits", lambda: GradientQuantizer(0)),
    "prune_rate one (magnitude)": ("prune_rate", lambda: MagnitudePruner(1.0)),
    "prune_rate negative (filter)": ("prune_rate", lambda: FilterPruner(-0.2)),
    "prune_rate of a schedule": ("prune_rate", lambda: PruningSchedule(1.2, "linear", ramp_rounds=3)),
    "prune scope": ("prune_scope", lambda: MagnitudePruner(0.5, scope="channel")),
    "ramp_rounds zero": ("ramp_rounds", lambda: PruningSchedule(0.5, "linear", ramp_rounds=0)),
    "schedule kind": ("prune_schedule", lambda: PruningSchedule(0.5, "exponential")),
    "flops_budget zero": ("flops_budget", lambda: budget_rate(0.0)),
    "dirichlet_alpha zero": ("dirichlet_alpha", lambda: partition_dirichlet(np.arange(10) % 2, 2, 0.0)),
    "num_clients above samples": ("num_clients", lambda: partition_samples(np.arange(3), 4)),
    "num_clients zero": ("num_clients", lambda: partition_samples(np.arange(3), 0)),
    "shards_per_client too many": ("shards_per_client", lambda: partition_shards(np.arange(6), 3, 3)),
    "partition scheme": ("partition", lambda: partition_samples(np.arange(6), 2, scheme="powerlaw")),
    "interval_rounds zero": ("interval_rounds", lambda: FedAvg(0)),
    "token_layout": ("token_layout", lambda: SplitStep(token_layout="rows")),
    "symbol_rate_hz negative": ("symbol_rate_hz", lambda: airtime_s(100, -1.0)),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises_one_line_value_error_naming_the_field(case):
    field, make = BAD_INPUTS[case]
    with pytest.raises(ValueError) as error:
        make()
    message = str(error.value)
    assert f"fedsl.{field}" in message and "\n" not in message
