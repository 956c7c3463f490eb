"""Dynamic pruning of the client-side model: masks, pruners and the per-round rate.

* :class:`MagnitudePruner` -- unstructured: zero the smallest-magnitude
  weights of every conv / linear layer, over the whole model (``"global"``)
  or per layer (``"layer"``). Returns a :class:`PruningMask`; the tensors keep
  their shapes (dense FLOPs unchanged, nonzero-weight FLOPs fall).
* :class:`FilterPruner` -- structured: drop the conv filters with the
  smallest L1 norm, *physically*: a new, smaller conv, its BatchNorm, and the
  matching input channels of the next conv. The last conv of the model keeps
  all its filters (its output is the split-layer activation, whose shape the
  shared server model expects). :meth:`FilterPruner.expand` puts a pruned
  model's weights back into the full shape, with a mask, for FedAvg.
* :class:`PruningSchedule` -- the rate for round ``t``: constant, or a linear
  or cubic ramp (gradual pruning, Zhu & Gupta 2017) to a target over
  ``ramp_rounds``; optionally at least the rate a client's compute budget
  (fraction of dense FLOPs it can afford) requires.

Masks stay applied: :meth:`PruningMask.apply` after loading aggregated weights,
and :meth:`PruningMask.attach` re-applies them after every optimizer step.
Rates are fractions of weights (unstructured) or of filters per conv
(structured) removed: ``floor(prune_rate * n)`` of ``n``, at least one filter kept.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import nn

__all__ = ["check_prune_rate", "prunable_weights", "PruningMask", "MagnitudePruner", "FilterPruner",
           "FilterPruning", "PruningSchedule", "budget_rate"]

PRUNING_SCOPES = ("global", "layer")
SCHEDULE_KINDS = ("constant", "linear", "cubic")


def check_prune_rate(prune_rate: float, field: str = "prune_rate") -> float:
    """A rate validated: a number in [0, 1), else a one-line ValueError naming the field."""
    if isinstance(prune_rate, bool) or not isinstance(prune_rate, (int, float)) or not 0.0 <= prune_rate < 1.0:
        raise ValueError(f"fedsl.{field}: {prune_rate!r} is not allowed; must be a number in [0, 1)")
    return float(prune_rate)


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """``{state-dict name: weight}`` of every ``Conv2d`` and ``Linear`` in ``model``."""
    return {f"{name}.weight": module.weight for name, module in model.named_modules()
            if isinstance(module, (nn.Conv2d, nn.Linear))}


@dataclass
class PruningMask:
    """Keep masks of a model's weights: ``{state-dict name: bool tensor of the weight's shape}``
    (True = kept). Weights without an entry are not pruned."""

    masks: dict[str, torch.Tensor]

    @torch.no_grad()
    def apply(self, model: nn.Module) -> None:
        """Zero the pruned entries of ``model`` in place (parameters, and buffers such as
        BatchNorm statistics when the mask names them, as :meth:`FilterPruner.expand` does)."""
        tensors = {**dict(model.named_buffers()), **dict(model.named_parameters())}
        for name, mask in self.masks.items():
            tensors[name].mul_(mask.to(device=tensors[name].device, dtype=tensors[name].dtype))

    def attach(self, optimizer: torch.optim.Optimizer, model: nn.Module) -> Callable:
        """Re-apply the masks after every ``optimizer.step()`` (momentum and weight decay
        would otherwise revive pruned weights). Returns the hook handle (``.remove()`` it)."""
        return optimizer.register_step_post_hook(lambda *_: self.apply(model))

    @property
    def num_weights(self) -> int:
        return sum(m.numel() for m in self.masks.values())

    @property
    def num_kept(self) -> int:
        return sum(int(m.sum()) for m in self.masks.values())

    def kept_fraction(self) -> float:
        """Fraction of the masked weights that are kept."""
        return self.num_kept / self.num_weights if self.num_weights else 1.0


class MagnitudePruner:
    """Unstructured magnitude pruning of conv and linear weights.

    :param prune_rate: fraction of weights zeroed, in [0, 1): the ``floor(prune_rate * n)``
        smallest ``|w|`` (ties broken by position, so the count is exact)
    :param scope: ``"global"`` (one threshold over all layers) or ``"layer"`` (the rate in every layer)

    :input model: an ``nn.Module`` (e.g. a client model); its weights are zeroed in place
    :output: the :class:`PruningMask` applied
    """

    def __init__(self, prune_rate: float, scope: str = "global"):
        self.prune_rate = check_prune_rate(prune_rate)
        if scope not in PRUNING_SCOPES:
            raise ValueError(f"fedsl.prune_scope: {scope!r} is not allowed; allowed: {', '.join(PRUNING_SCOPES)}")
        self.scope = scope

    @staticmethod
    def _keep(magnitudes: torch.Tensor, rate: float) -> torch.Tensor:
        num_pruned = int(rate * magnitudes.numel())
        order = torch.argsort(magnitudes.flatten(), stable=True)
        keep = torch.ones(magnitudes.numel(), dtype=torch.bool, device=magnitudes.device)
        keep[order[:num_pruned]] = False
        return keep.reshape(magnitudes.shape)

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> PruningMask:
        weights = prunable_weights(model)
        if self.scope == "layer":
            masks = {name: self._keep(w.abs(), self.prune_rate) for name, w in weights.items()}
        else:
            flat = torch.cat([w.abs().flatten() for w in weights.values()])
            keep = self._keep(flat, self.prune_rate)
            masks, start = {}, 0
            for name, w in weights.items():
                masks[name] = keep[start:start + w.numel()].reshape(w.shape)
                start += w.numel()
        mask = PruningMask(masks)
        mask.apply(model)
        return mask


@dataclass
class FilterPruning:
    """Result of :class:`FilterPruner`."""

    model: nn.Module
    """The smaller model (a pruned deep copy; the input model is untouched)."""
    kept: dict[str, torch.Tensor]
    """Conv module name -> int64 indices of the output filters kept (ascending)."""


class FilterPruner:
    """Structured pruning: remove whole conv filters by L1 norm, physically.

    :param prune_rate: fraction of the filters of each conv removed, in [0, 1):
        ``floor(prune_rate * C_out)``, at least one filter kept. The last conv of
        the model is not pruned (its output is the split-layer interface).

    :input model: a model whose convs run in module order, each optionally followed by
        its ``BatchNorm2d`` before the next conv (a :class:`~.models.VGG` client model)
    :output: :class:`FilterPruning` (the smaller model and the kept filter indices)
    """

    def __init__(self, prune_rate: float):
        self.prune_rate = check_prune_rate(prune_rate)

    @staticmethod
    def _layers(model: nn.Module) -> list[tuple[str, nn.Conv2d, Optional[str]]]:
        """``[(conv name, conv, name of its BatchNorm or None), ...]`` in module order."""
        layers: list[list] = []
        for name, module in model.named_modules():
            if isinstance(module, nn.Conv2d):
                if module.groups != 1:
                    raise ValueError(f"fedsl.prune: FilterPruner cannot prune grouped conv {name}")
                layers.append([name, module, None])
            elif isinstance(module, nn.BatchNorm2d) and layers and layers[-1][2] is None:
                layers[-1][2] = name
        return [tuple(layer) for layer in layers]

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> FilterPruning:
        pruned = copy.deepcopy(model)
        layers = self._layers(pruned)
        kept: dict[str, torch.Tensor] = {}
        previous: Optional[torch.Tensor] = None  # input channels kept of the next conv
        for k, (name, conv, bn_name) in enumerate(layers):
            weight = conv.weight
            if previous is not None:
                weight = weight[:, previous]
            if k < len(layers) - 1:
                num_keep = max(1, conv.out_channels - int(self.prune_rate * conv.out_channels))
                norms = weight.abs().sum(dim=(1, 2, 3))
                order = torch.argsort(norms, descending=True, stable=True)
                keep = torch.sort(order[:num_keep]).values
            else:
                keep = torch.arange(conv.out_channels, device=weight.device)
            new = nn.Conv2d(weight.shape[1], len(keep), conv.kernel_size, conv.stride, conv.padding,
                            conv.dilation, bias=conv.bias is not None, padding_mode=conv.padding_mode)
            new = new.to(device=weight.device, dtype=weight.dtype)
            new.weight.copy_(weight[keep])
            if conv.bias is not None:
                new.bias.copy_(conv.bias[keep])
            _replace(pruned, name, new)
            if bn_name is not None:
                _replace(pruned, bn_name, _slice_batch_norm(pruned.get_submodule(bn_name), keep))
            kept[name] = keep
            previous = keep
        return FilterPruning(pruned, kept)

    @staticmethod
    @torch.no_grad()
    def expand(pruned: FilterPruning, full: nn.Module) -> tuple[dict[str, torch.Tensor], PruningMask]:
        """The pruned model's state in ``full``'s shapes, for FedAvg with masks.

        :output (state, mask): ``state`` is ``full``'s state dict with the pruned model's
            values written into the kept filters / channels and zeros elsewhere;
            ``mask`` marks the entries the pruned model holds (weights, biases, BatchNorm
            parameters and running statistics)
        """
        small = pruned.model.state_dict()
        state = {k: torch.zeros_like(v) if v.is_floating_point() else v.clone() for k, v in full.state_dict().items()}
        masks: dict[str, torch.Tensor] = {}
        previous: Optional[torch.Tensor] = None
        for name, _, bn_name in FilterPruner._layers(full):
            out_index = pruned.kept[name]
            in_index = previous if previous is not None else torch.arange(full.get_submodule(name).in_channels)
            groups = [(name, ("weight",), True), (name, ("bias",), False)]
            if bn_name is not None:
                groups.append((bn_name, ("weight", "bias", "running_mean", "running_var"), False))
            for module, fields, has_input in groups:
                for field in fields:
                    key = f"{module}.{field}"
                    if key not in state:
                        continue
                    mask = torch.zeros(state[key].shape, dtype=torch.bool)
                    if has_input:
                        rows = out_index[:, None]
                        state[key][rows, in_index[None, :]] = small[key]
                        mask[rows, in_index[None, :]] = True
                    else:
                        state[key][out_index] = small[key]
                        mask[out_index] = True
                    masks[key] = mask
            previous = out_index
        for key, value in small.items():  # the rest (BN counters, a classifier) has the full shape
            if key not in masks and value.shape == state[key].shape:
                state[key] = value.clone()
        return state, PruningMask(masks)


def _slice_batch_norm(bn: nn.BatchNorm2d, keep: torch.Tensor) -> nn.BatchNorm2d:
    new = nn.BatchNorm2d(len(keep), bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
    new = new.to(device=keep.device, dtype=bn.weight.dtype if bn.affine else torch.float32)
    if bn.affine:
        new.weight.copy_(bn.weight[keep])
        new.bias.copy_(bn.bias[keep])
    if bn.track_running_stats:
        new.running_mean.copy_(bn.running_mean[keep])
        new.running_var.copy_(bn.running_var[keep])
        new.num_batches_tracked.copy_(bn.num_batches_tracked)
    return new


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def budget_rate(flops_budget: float, structured: bool = False) -> float:
    """The prune rate a compute budget asks for (``flops_budget``: fraction of the dense
    forward FLOPs a client can afford, in (0, 1]).

    Unstructured: ``1 - flops_budget`` (nonzero-weight FLOPs scale with the kept weights;
    exact with ``scope="layer"``). Structured: ``1 - sqrt(flops_budget)`` (a conv whose input
    and output channels are both pruned keeps ``(1 - r)**2`` of its FLOPs; the first and the
    cut conv lose only one side, so the client spends a little more than the budget).
    """
    if isinstance(flops_budget, bool) or not isinstance(flops_budget, (int, float)) or not 0 < flops_budget <= 1:
        raise ValueError(f"fedsl.flops_budget: {flops_budget!r} is not allowed; must be a number in (0, 1]")
    return 1.0 - math.sqrt(flops_budget) if structured else 1.0 - float(flops_budget)


class PruningSchedule:
    """The pruning rate of round ``t`` (rounds count from 0).

    :param prune_rate: target rate, in [0, 1)
    :param kind: ``"constant"`` (the target from round 0), ``"linear"`` or ``"cubic"`` ramp from
        ``initial_rate`` at ``start_round`` to the target at ``start_round + ramp_rounds``
        (cubic: ``r_t = r_f + (r_0 - r_f) (1 - progress)**3``, Zhu & Gupta 2017), constant after
    :param ramp_rounds: rounds of the ramp, >= 1
    :param start_round: first round of the ramp
    :param initial_rate: rate before and at ``start_round``, in [0, 1)
    :param structured: the rate is for :class:`FilterPruner` (changes how a compute budget converts)

    :input round_index: int >= 0
    :input flops_budget: optional fraction of dense FLOPs this client affords; the rate returned
        is at least :func:`budget_rate` of it (capped below 1 at ``max_rate``)
    :output: the rate, float in [0, 1)
    """

    max_rate = 0.99

    def __init__(self, prune_rate: float, kind: str = "constant", ramp_rounds: int = 1, start_round: int = 0,
                 initial_rate: float = 0.0, structured: bool = False):
        self.prune_rate = check_prune_rate(prune_rate)
        self.initial_rate = check_prune_rate(initial_rate, "initial_rate")
        if kind not in SCHEDULE_KINDS:
            raise ValueError(f"fedsl.prune_schedule: {kind!r} is not allowed; allowed: {', '.join(SCHEDULE_KINDS)}")
        if isinstance(ramp_rounds, bool) or not isinstance(ramp_rounds, int) or ramp_rounds < 1:
            raise ValueError(f"fedsl.ramp_rounds: {ramp_rounds!r} is not allowed; must be an integer >= 1")
        if isinstance(start_round, bool) or not isinstance(start_round, int) or start_round < 0:
            raise ValueError(f"fedsl.start_round: {start_round!r} is not allowed; must be an integer >= 0")
        self.kind, self.ramp_rounds, self.start_round, self.structured = kind, ramp_rounds, start_round, structured

    def rate(self, round_index: int, flops_budget: Optional[float] = None) -> float:
        if self.kind == "constant":
            rate = self.prune_rate
        else:
            progress = min(1.0, max(0.0, (round_index - self.start_round) / self.ramp_rounds))
            shape = progress if self.kind == "linear" else 1.0 - (1.0 - progress) ** 3
            rate = self.initial_rate + (self.prune_rate - self.initial_rate) * shape
        if flops_budget is not None:
            rate = max(rate, min(self.max_rate, budget_rate(flops_budget, self.structured)))
        return rate

    __call__ = rate
