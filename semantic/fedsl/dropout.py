"""Random dropout of split-layer activations (paper B's uplink saving).

Each activation value is kept independently with probability ``1 - drop_rate``;
only kept values cross the uplink and the server rescales them by
``1 / (1 - drop_rate)``, so the expected activation it sees equals the one
the client computed. The keep mask is drawn from a generator whose seed both
ends share, so it costs no bits on the air. In the backward pass the server
has gradients only for the kept values; the gradient of a dropped entry is
zero and is not sent back::

    dropout = SplitDropout(drop_rate=0.25, seed=1)
    out = dropout(activations)                  # out.values [num_kept], out.mask like activations
    dense = dropout.restore(out.values, out.mask)   # server side: zeros + kept / (1 - p)

For the link, kept values of each sample are packed to the front of a
``[batch, num_slots, dim]`` token tensor (:func:`pack_kept`, zero padding
after the last kept value of a sample up to the batch's longest) and taken
back out with :func:`unpack_kept`.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch

__all__ = ["SplitDropout", "DropoutOutput", "pack_kept", "unpack_kept", "check_drop_rate", "owned_generator"]


def owned_generator(seed: Optional[int]) -> torch.Generator:
    """A CPU generator seeded with ``seed``, or (``None``) with a draw from torch's global
    generator, so ``torch.manual_seed`` alone reproduces an object built without a seed."""
    generator = torch.Generator()
    generator.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2 ** 62, (1,))))
    return generator


def check_drop_rate(drop_rate: float) -> float:
    """``drop_rate`` validated: a number in [0, 1), else a one-line ValueError naming the field."""
    if isinstance(drop_rate, bool) or not isinstance(drop_rate, (int, float)) or not 0.0 <= drop_rate < 1.0:
        raise ValueError(f"fedsl.drop_rate: {drop_rate!r} is not allowed; must be a number in [0, 1)")
    return float(drop_rate)


class DropoutOutput(NamedTuple):
    """Result of :class:`SplitDropout`."""

    values: torch.Tensor
    """[num_kept] the kept activation values (not yet rescaled), in row-major order of the input."""
    mask: torch.Tensor
    """bool, the input's shape: True where the value is kept (sent)."""
    num_kept: int
    """Number of values sent: ``int(mask.sum())``."""


class SplitDropout:
    """Random dropout of split-layer activations.

    :param drop_rate: probability that a value is dropped (not sent), in [0, 1)
    :param seed: seed of the generator this object owns (`None`: drawn from torch's global generator)

    :input activations: any shape (e.g. [batch, C, H, W] or [batch, num_tokens, dim]), float
    :input generator: optional ``torch.Generator`` used instead of the owned one
    :output: :class:`DropoutOutput` (kept values, keep mask, count kept)
    """

    def __init__(self, drop_rate: float, seed: Optional[int] = None):
        self.drop_rate = check_drop_rate(drop_rate)
        self.generator = owned_generator(seed)

    @property
    def scale(self) -> float:
        """The server's rescaling factor ``1 / (1 - drop_rate)``."""
        return 1.0 / (1.0 - self.drop_rate)

    def mask(self, shape: torch.Size, device: Optional[torch.device] = None,
             generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """bool ``shape``: each entry True (kept) with probability ``1 - drop_rate``."""
        if self.drop_rate == 0.0:
            return torch.ones(shape, dtype=torch.bool, device=device)
        draws = torch.rand(shape, generator=generator or self.generator)
        return (draws >= self.drop_rate).to(device)

    def __call__(self, activations: torch.Tensor, generator: Optional[torch.Generator] = None) -> DropoutOutput:
        mask = self.mask(activations.shape, activations.device, generator)
        return DropoutOutput(activations[mask], mask, int(mask.sum()))

    def restore(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Server side: the dense activations, kept values rescaled, dropped ones zero.

        :input values: [num_kept] received kept values
        :input mask: bool, the activations' shape
        :output: ``mask``'s shape, ``values``' dtype; differentiable w.r.t. ``values``
        """
        dense = torch.zeros(mask.shape, dtype=values.dtype, device=values.device).masked_scatter(mask, values)
        return dense * self.scale if self.drop_rate else dense


def pack_kept(x: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Each sample's kept values moved to the front, as tokens of width ``dim``.

    :input x: [batch, N] float; :input mask: [batch, N] bool
    :output: [batch, ceil(max_kept / dim), dim], row ``b`` holding the kept values of
        sample ``b`` in order, then zeros; differentiable w.r.t. ``x`` (dropped entries get
        zero gradient)
    """
    batch, n = x.shape
    counts = mask.sum(dim=1)
    width = max(1, math.ceil(int(counts.max()) / dim)) * dim if batch else dim
    position = torch.cumsum(mask.long(), dim=1) - 1
    index = torch.where(mask, position, torch.full_like(position, width))  # dropped -> a spare column
    packed = torch.zeros(batch, width + 1, dtype=x.dtype, device=x.device).scatter(1, index, x)
    return packed[:, :width].reshape(batch, width // dim, dim)


def unpack_kept(packed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`pack_kept`: [batch, T, dim] -> [batch, N], dropped entries zero (not rescaled)."""
    flat = packed.reshape(packed.shape[0], -1)
    position = torch.cumsum(mask.long(), dim=1) - 1
    index = torch.where(mask, position, torch.zeros_like(position))
    return flat.gather(1, index) * mask.to(flat.dtype)
