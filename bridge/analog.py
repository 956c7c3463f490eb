"""Analog tokens: real token values as complex channel symbols and back.

Mapping rule. Value ``2k`` of a token is the real part and value ``2k+1``
the imaginary part of the token's ``k``-th channel symbol, so a token of
``dim`` values takes ``ceil(dim / 2)`` channel uses. For odd ``dim`` the
token is padded with one zero: its last symbol carries the last value on the
real part and nothing on the imaginary part. Tokens never share a symbol, so
a token's symbols are contiguous and per-token power normalization is exact.

Power normalization makes the average power per channel use 1 before the
channel, per token or per frame (all tokens of a batch sample); the receiver
divides by the same scale (side information, assumed known). With unit
average channel gain, the Es/N0 of the link is then the per-symbol SNR.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["AnalogMapper", "symbols_per_token"]


def symbols_per_token(dim: int) -> int:
    """Complex channel uses per token of ``dim`` real values: ``ceil(dim / 2)``."""
    return (dim + 1) // 2


class AnalogMapper(torch.nn.Module):
    r"""Tokens <-> unit-power complex symbols, differentiable both ways.

    :param power_normalization: ``"token"`` | ``"frame"`` | ``"none"``.

    ``map``:

    :input tokens: [batch, num_tokens, dim], real floating.
    :output symbols: [batch, num_tokens * ceil(dim/2)], complex. Average power
        1 per symbol over each token (or frame), unless ``"none"``.
    :output scale: [batch, num_tokens, 1] or [batch, 1, 1], real. The factor the
        token values were multiplied by.

    ``demap``:

    :input symbols: [batch, num_tokens * ceil(dim/2)], complex. Received symbols.
    :input scale: as returned by ``map``.
    :input dim: `int`. Values per token.
    :output tokens: [batch, num_tokens, dim], real.
    """

    def __init__(self, power_normalization: Literal["token", "frame", "none"] = "token") -> None:
        super().__init__()
        if power_normalization not in ("token", "frame", "none"):
            raise ValueError(
                "power_normalization must be 'token', 'frame' or 'none', "
                f"got {power_normalization!r}"
            )
        self.power_normalization = power_normalization

    def map(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, num_tokens, dim = tokens.shape
        if dim % 2:
            tokens = torch.cat([tokens, tokens.new_zeros(batch, num_tokens, 1)], dim=-1)
        if self.power_normalization == "none":
            scale = tokens.new_ones(1, 1, 1)
        else:
            # Mean power per complex symbol = sum of squares / number of symbols.
            axes = (-1,) if self.power_normalization == "token" else (-2, -1)
            num_symbols = tokens.shape[-1] // 2 * (num_tokens if self.power_normalization == "frame" else 1)
            power = tokens.square().sum(dim=axes, keepdim=True) / num_symbols
            scale = power.clamp_min(torch.finfo(tokens.dtype).tiny).rsqrt()
        pairs = (tokens * scale).reshape(batch, num_tokens, -1, 2)
        symbols = torch.view_as_complex(pairs.contiguous())
        return symbols.reshape(batch, -1), scale

    def demap(self, symbols: torch.Tensor, scale: torch.Tensor, dim: int) -> torch.Tensor:
        batch = symbols.shape[0]
        values = torch.view_as_real(symbols.contiguous()).reshape(batch, -1, 2 * symbols_per_token(dim))
        return (values / scale)[..., :dim]
