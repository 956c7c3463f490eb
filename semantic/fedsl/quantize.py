"""Quantized gradient updates: the cut-layer gradient sent down to a client in b bits.

One scale per tensor, ``m = max |g|``; the ``2**bits`` levels are spread
uniformly and symmetrically over ``[-m, m]`` (step ``2 m / (2**bits - 1)``;
zero is not a level, so 1 bit is ``{-m, +m}``). Stochastic rounding picks the
level above with probability equal to the fractional position, so the
quantized tensor is unbiased (``E[Q(g)] = g``); deterministic rounding picks
the nearest level (error at most half a step). ``bits >= 32`` sends the
float32 values as they are (no quantization).

Bits on the wire: ``bits * numel + 32`` (the scale as one float32), or
``32 * numel`` without quantization::

    quantizer = GradientQuantizer(bits=8, seed=0)
    out = quantizer(grad)          # out.values like grad, out.num_bits on the wire
    level, m = quantizer.encode(grad); values = quantizer.decode(level, m)   # the same, in two halves
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from .dropout import owned_generator

__all__ = ["GradientQuantizer", "QuantizedTensor", "check_bits", "SCALE_BITS"]

#: Bits of the per-tensor scale (a float32).
SCALE_BITS = 32


def check_bits(bits: int) -> int:
    """``bits`` validated: an integer >= 1, else a one-line ValueError naming the field."""
    if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
        raise ValueError(f"fedsl.bits: {bits!r} is not allowed; must be an integer >= 1 (>= 32: no quantization)")
    return bits


class QuantizedTensor(NamedTuple):
    """Result of :class:`GradientQuantizer`."""

    values: torch.Tensor
    """The dequantized tensor the receiver uses, same shape and dtype as the input."""
    num_bits: int
    """Bits on the wire for the whole tensor."""


class GradientQuantizer:
    """Per-tensor max-abs scale, b-bit uniform symmetric quantization.

    :param bits: bits per value, >= 1; >= 32 is the identity (float32 on the wire)
    :param stochastic: stochastic (unbiased) rounding; `False`: round to the nearest level
    :param seed: seed of the generator this object owns (`None`: drawn from torch's global generator)

    :input g: any shape, float
    :input generator: optional ``torch.Generator`` used instead of the owned one
    :output: :class:`QuantizedTensor` (``values`` like ``g``, ``num_bits``)
    """

    def __init__(self, bits: int = 8, stochastic: bool = True, seed: Optional[int] = None):
        self.bits = check_bits(bits)
        self.stochastic = bool(stochastic)
        self.generator = owned_generator(seed)

    @property
    def exact(self) -> bool:
        """True when no quantization happens (``bits >= 32``)."""
        return self.bits >= 32

    def wire_bits(self, numel: int) -> int:
        """Bits on the wire for ``numel`` values."""
        return 32 * numel if self.exact else self.bits * numel + SCALE_BITS

    def step(self, g: torch.Tensor) -> float:
        """The quantization step ``2 max|g| / (2**bits - 1)`` (0 for an all-zero tensor)."""
        return 2.0 * float(g.detach().abs().max()) / (2 ** self.bits - 1) if g.numel() else 0.0

    @torch.no_grad()
    def __call__(self, g: torch.Tensor, generator: Optional[torch.Generator] = None) -> QuantizedTensor:
        if self.exact or g.numel() == 0:
            return QuantizedTensor(g.detach().clone(), self.wire_bits(g.numel()))
        level, m = self.encode(g, generator)
        return QuantizedTensor(self.decode(level, m), self.wire_bits(g.numel()))

    @torch.no_grad()
    def encode(self, g: torch.Tensor, generator: Optional[torch.Generator] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """What goes on the wire: the levels (``g``'s shape and dtype, integers 0 .. 2**bits - 1)
        and the scale ``m = max |g|`` (a 0-dim tensor); ``bits < 32`` only. An all-zero ``g``
        has scale 0 (every level decodes to 0) and draws nothing."""
        m = g.abs().max()
        if m == 0:
            return torch.zeros_like(g), m
        top = 2 ** self.bits - 1
        step = 2 * m / top
        position = ((g + m) / step).clamp(0, top)  # in level units, 0 .. top
        if self.stochastic:
            lower = torch.floor(position)
            draws = torch.rand(g.shape, generator=generator or self.generator, dtype=g.dtype).to(g.device)
            return (lower + (draws < position - lower).to(g.dtype)).clamp(0, top), m
        return torch.round(position), m

    def decode(self, level: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """The receiver's values ``level * 2 m / (2**bits - 1) - m`` (zeros when ``m`` is 0)."""
        if m == 0:
            return torch.zeros_like(level)
        return level * (2 * m / (2 ** self.bits - 1)) - m
