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
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch

from .prune import PruningMask

__all__ = ["FedAvg"]


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
