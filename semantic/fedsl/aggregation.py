"""FedAvg of the client-side models, every ``interval_rounds`` rounds.

What it averages: the client models' state dicts (the server model is shared
and never averaged). How it weights: by each client's number of training
samples, ``w_k = n_k / sum(n)``. Floating tensors are averaged in float64 and
cast back; integer tensors (BatchNorm's ``num_batches_tracked``) are counters,
not parameters: the result keeps their largest value over the clients.

Pruned clients (masks, as :class:`~.prune.PruningMask`): an entry is averaged
over the clients that *keep* it, weighted by their samples, so a pruned copy
does not pull the average towards zero; an entry pruned by every client is
exactly zero. The global mask is the **union** of the client masks; each
client re-applies its own mask when it loads the global model
(:meth:`~.prune.PruningMask.apply`), so its pruned weights stay zero::

    fedavg = FedAvg(interval_rounds=2)
    if fedavg.should_aggregate(round_index):
        state = fedavg([c.state_dict() for c in clients], num_samples, masks)

Quantized model updates (``fedsl.update_bits`` = b < 32, :class:`QuantizedUpdates`):
each client uploads, per parameter tensor, its model minus the last global model at
the entries it keeps (its mask's; pruned entries are not sent), quantized as the
cut-layer gradient is (:class:`~.quantize.GradientQuantizer`: one float32 scale per
tensor, b-bit levels, stochastic rounding unless disabled); the server adds the
dequantized update to the last global model and averages the results as above
(mask-aware), which becomes the next reference. Bits per client: ``b x kept entries
+ 32`` per parameter tensor with a kept entry. Buffers (BatchNorm statistics) are
averaged from the clients' values as they are (not counted, as without quantization)::

    updates = QuantizedUpdates(8, reference=initial_state)
    states, bits = updates.reconstruct(client_states, masks, parameter_names, generator)
    state = fedavg(states, num_samples, masks); updates.reference = state
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch

from .prune import PruningMask
from .quantize import GradientQuantizer

__all__ = ["FedAvg", "QuantizedUpdates"]


class FedAvg:
    """Sample-weighted federated averaging of client-side state dicts.

    :param interval_rounds: aggregate after every ``interval_rounds`` rounds (I >= 1)

    :input states: one state dict per client, same keys and shapes
    :input num_samples: ``[num_clients]`` training samples per client, > 0
    :input masks: optional ``[num_clients]`` :class:`PruningMask` or `None` (unpruned)
    :output: the averaged state dict (new tensors, the first state's dtypes)
    """

    def __init__(self, interval_rounds: int = 1):
        if isinstance(interval_rounds, bool) or not isinstance(interval_rounds, int) or interval_rounds < 1:
            raise ValueError(f"fedsl.interval_rounds: {interval_rounds!r} is not allowed; must be an integer >= 1")
        self.interval_rounds = interval_rounds

    def should_aggregate(self, round_index: int) -> bool:
        """True after rounds ``I - 1, 2I - 1, ...`` (rounds count from 0)."""
        return (round_index + 1) % self.interval_rounds == 0

    @torch.no_grad()
    def __call__(self, states: Sequence[Mapping[str, torch.Tensor]], num_samples: Sequence[int],
                 masks: Optional[Sequence[Optional[PruningMask]]] = None) -> dict[str, torch.Tensor]:
        if not states:
            raise ValueError("fedsl.fedavg: no client states to average")
        if len(num_samples) != len(states) or (masks is not None and len(masks) != len(states)):
            raise ValueError(f"fedsl.num_samples: {len(states)} states need as many sample counts (and masks); "
                             f"got {len(num_samples)}" + (f" and {len(masks)} masks" if masks is not None else ""))
        if any(isinstance(n, bool) or not isinstance(n, int) or n <= 0 for n in num_samples):
            raise ValueError(f"fedsl.num_samples: {list(num_samples)} must be positive integers")
        weights = torch.tensor([float(n) for n in num_samples], dtype=torch.float64)
        keys = list(states[0])
        out: dict[str, torch.Tensor] = {}
        for key in keys:
            tensors = []
            for k, state in enumerate(states):
                if key not in state or state[key].shape != states[0][key].shape:
                    raise ValueError(f"fedsl.fedavg: client {k} has no {key} of shape {list(states[0][key].shape)}")
                tensors.append(state[key])
            first = tensors[0]
            if not first.is_floating_point():
                out[key] = torch.stack(tensors).amax(dim=0).clone()
                continue
            stacked = torch.stack([t.detach().to(torch.float64) for t in tensors])  # [clients, ...]
            keep = torch.ones_like(stacked, dtype=torch.bool)
            if masks is not None:
                for k, mask in enumerate(masks):
                    if mask is not None and key in mask.masks:
                        keep[k] = mask.masks[key].to(stacked.device)
            w = weights.reshape(-1, *([1] * first.dim())) * keep.to(torch.float64)
            total = w.sum(dim=0)
            mean = (w * stacked).sum(dim=0) / total.clamp_min(1e-300)
            out[key] = torch.where(total > 0, mean, torch.zeros_like(mean)).to(first.dtype)
        return out


class QuantizedUpdates:
    """Client model updates (model - last global model), per tensor quantized to ``bits`` bits.

    :param bits: bits per value, 1..31 (``fedsl.update_bits``)
    :param stochastic: stochastic (unbiased) rounding; `False`: nearest level
    :param reference: the last global state dict (the initial client model before the first FedAvg)

    :meth:`reconstruct` gives the states the server rebuilds and each client's upload bits.
    """

    def __init__(self, bits: int, stochastic: bool = True, reference: Optional[Mapping[str, torch.Tensor]] = None):
        if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits < 32:
            raise ValueError(f"fedsl.update_bits: {bits!r} is not allowed; must be an integer in 1..31 "
                             "(32: no update quantization)")
        self.quantizer = GradientQuantizer(bits, stochastic, seed=0)
        self.reference = {k: v.detach().clone() for k, v in (reference or {}).items()}

    @torch.no_grad()
    def reconstruct(self, states: Sequence[Mapping[str, torch.Tensor]], masks: Sequence[Optional[PruningMask]],
                    parameter_names: Sequence[str], generator: Optional[torch.Generator] = None
                    ) -> tuple[list[dict[str, torch.Tensor]], list[int]]:
        """``(states, bits)``: per client, its state with every parameter tensor replaced by
        reference + dequantized update at its kept entries (zero elsewhere), and its upload bits.

        :input states: one state dict per client; :input masks: one :class:`PruningMask` (or `None`) each
        :input parameter_names: the state keys that are parameters (the rest are copied)
        :input generator: stochastic rounding's generator (clients, then tensors, in order)
        """
        out, bits = [], []
        for state, mask in zip(states, masks, strict=True):
            rebuilt, total = dict(state), 0
            for name in parameter_names:
                reference = self.reference[name].to(state[name].device)
                keep = (mask.masks[name].to(state[name].device) if mask is not None and name in mask.masks
                        else torch.ones_like(state[name], dtype=torch.bool))
                update = (state[name] - reference)[keep]
                value = torch.zeros_like(state[name])
                if update.numel():
                    quantized = self.quantizer(update, generator)
                    value[keep] = reference[keep] + quantized.values
                    total += quantized.num_bits
                rebuilt[name] = value
            out.append(rebuilt)
            bits.append(total)
        return out, bits
