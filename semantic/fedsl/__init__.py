"""tokenlink.semantic.fedsl: lightweight federated split learning (paper B, arXiv 2412.06414).

Clients hold a VGG up to a cut layer, the server the rest; split-layer
activations cross the uplink (any callable, e.g. a bridge ``TokenLink``),
the cut-layer gradient comes back quantized; client models are pruned and
averaged every I rounds. Modules, in the order data flows:

* :mod:`~tokenlink.semantic.fedsl.data`        -- image sets as [N, 3, 32, 32]: MNIST, Fashion-MNIST, easy-VQA, CIFAR-10
* :mod:`~tokenlink.semantic.fedsl.partition`   -- sample indices over clients: IID, Dirichlet, label shards
* :mod:`~tokenlink.semantic.fedsl.models`      -- :class:`VGG` (11/16/19, width), client/server halves, FLOP count
* :mod:`~tokenlink.semantic.fedsl.prune`       -- magnitude and filter pruning, masks, per-round schedule
* :mod:`~tokenlink.semantic.fedsl.dropout`     -- :class:`SplitDropout` of split-layer activations
* :mod:`~tokenlink.semantic.fedsl.uplink`      -- :class:`ClientUplink`: a client's TokenLink at its Es/N0 (shadowing)
* :mod:`~tokenlink.semantic.fedsl.split`       -- :class:`SplitStep`: client -> uplink -> server -> gradient -> client
* :mod:`~tokenlink.semantic.fedsl.quantize`    -- :class:`GradientQuantizer` for the downlink gradient
* :mod:`~tokenlink.semantic.fedsl.downlink`    -- :class:`ClientDownlink`: the gradient's codes over the client's link
* :mod:`~tokenlink.semantic.fedsl.aggregation` -- :class:`FedAvg` of client models every I rounds, quantized updates
* :mod:`~tokenlink.semantic.fedsl.accounting`  -- :class:`ClientCost`: bits, channel uses, airtime, FLOPs, memory
* :mod:`~tokenlink.semantic.fedsl.round_totals` -- :class:`RoundTotals`: one round's sums and history entry
* :mod:`~tokenlink.semantic.fedsl.evaluation`  -- :func:`evaluate`: test accuracy over the uplink and ideal
* :mod:`~tokenlink.semantic.fedsl.config`      -- :class:`FedSLConfig` (the scenario's ``fedsl:`` section)
* :mod:`~tokenlink.semantic.fedsl.train`       -- :func:`train`: the federated loop, checkpoints, exact resume
"""

from ...common.lazy import lazy_namespace

# Lazy: public name -> module (torch loads when a name that needs it is used).
_EXPORTS = {
    "ClientCost": "accounting",
    "airtime_s": "accounting",
    "total_cost": "accounting",
    "FedAvg": "aggregation",
    "QuantizedUpdates": "aggregation",
    "FedSLConfig": "config",
    "PruningConfig": "config",
    "fedsl_config": "config",
    "ImageSet": "data",
    "load_cifar10": "data",
    "load_image_dataset": "data",
    "to_vgg_images": "data",
    "ClientDownlink": "downlink",
    "SplitDropout": "dropout",
    "evaluate": "evaluation",
    "recalibrate_batch_norm": "evaluation",
    "VGG": "models",
    "count_flops": "models",
    "total_flops": "models",
    "partition_samples": "partition",
    "label_proportions": "partition",
    "FilterPruner": "prune",
    "MagnitudePruner": "prune",
    "PruningMask": "prune",
    "PruningSchedule": "prune",
    "GradientQuantizer": "quantize",
    "SplitStep": "split",
    "SplitStepOutput": "split",
    "ClientUplink": "uplink",
}
_SUBMODULES = ("accounting", "aggregation", "config", "data", "downlink", "dropout", "evaluation", "models",
               "partition", "prune", "quantize", "round_totals", "split", "train", "uplink")

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_namespace(__name__, _EXPORTS, _SUBMODULES)
del lazy_namespace
