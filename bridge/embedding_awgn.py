"""The channel of paper A's public code: real-valued AWGN on the embeddings, no PHY.

Each sample's tokens (all tokens of one batch sample) are normalized to average power 1 per
real value, real Gaussian noise of variance ``10**(-snr_db/10)`` is added to every value, and
the result is scaled back by the same factor (side information, as
:class:`~tokenlink.bridge.analog.AnalogMapper`'s ``"frame"`` normalization). There is no grid,
no fading and no receiver: this is a *training* channel for the baseline that trains over the
public code's channel and is then tested over a detailed link.

SNR convention: ``snr_db`` is the signal-to-noise ratio per real value. Over tokenlink's analog
link two real values share one complex RE of unit power and noise ``no`` (``no/2`` per real
dimension), so its per-value SNR is Es/N0 per RE: the same number means the same SNR per value.
Channel uses are counted as the analog link would send the tokens: ``ceil(dim/2)`` per token.
"""

from __future__ import annotations

from typing import Optional, Union

import sionna.phy
import torch

from .analog import symbols_per_token

__all__ = ["EmbeddingAWGN"]

SnrArg = Union[float, tuple[float, float], torch.Tensor, None]


class EmbeddingAWGN(torch.nn.Module):
    r"""Real AWGN on per-sample power-normalized embeddings, differentiable (module doc).

    :param device: Torch device of the noise draws.
    :param snr_db: SNR per real value [dB] used when a call gives none: a number, or a
        ``(low, high)`` range drawn uniformly in dB per sample in training mode (its middle
        otherwise).

    :input tokens: [batch, num_tokens, dim], real floating.
    :input snr_db: `None` (the constructor's), a number, or [batch] SNR per real value [dB];
        ``inf`` is noiseless.
    :output tokens: [batch, num_tokens, dim], the input's dtype: ``x + s n`` with
        ``s = rms(x) 10**(-snr_db/20)`` per sample (``rms`` over the sample's values) and
        ``n ~ N(0, 1)`` drawn from the link's random stream.
    """

    def __init__(self, snr_db: Union[float, tuple[float, float]] = 10.0, device: str = "cpu") -> None:
        super().__init__()
        self.device = str(device)  # a name, as the token links give it
        lo, hi = (float(snr_db), float(snr_db)) if isinstance(snr_db, (int, float)) else map(float, snr_db)
        if not lo <= hi:
            raise ValueError(f"snr_db: a range needs low <= high, got {snr_db!r}")
        self.snr_db_range = (lo, hi)

    def frame_size(self, num_tokens: int, dim: int) -> dict:
        """As :meth:`TokenLink.frame_size`: the channel uses the tokens would take on the analog link,
        ``num_tokens * ceil(dim/2)`` (no slots: there is no grid)."""
        return {"mode": "analog", "channel_uses": num_tokens * symbols_per_token(dim), "num_slots": None,
                "num_bits": None}

    def draw_snr_db(self, batch: int, device) -> torch.Tensor:
        """[batch] SNR per real value [dB]: uniform over the range in training mode, else its middle."""
        lo, hi = self.snr_db_range
        if self.training and hi > lo:
            u = torch.rand(batch, generator=_rng(device), device=device)
            return lo + (hi - lo) * u
        return torch.full([batch], 0.5 * (lo + hi), device=device)

    def forward(self, tokens: torch.Tensor, snr_db: SnrArg = None) -> torch.Tensor:
        if tokens.dim() != 3:
            raise ValueError(f"tokens must be [batch, num_tokens, dim], got shape {list(tokens.shape)}")
        batch = tokens.shape[0]
        if snr_db is None:
            snr = self.draw_snr_db(batch, tokens.device)
        else:
            snr = torch.as_tensor(snr_db, dtype=torch.float32, device=tokens.device).reshape(-1).expand(batch)
        std = torch.pow(10.0, -snr.to(tokens.dtype) / 20.0).reshape(batch, 1, 1)
        rms = tokens.square().mean(dim=(1, 2), keepdim=True).clamp_min(torch.finfo(tokens.dtype).tiny).sqrt()
        noise = torch.randn(tokens.shape, generator=_rng(tokens.device), device=tokens.device,
                            dtype=tokens.dtype)
        return tokens + rms * std * noise


def _rng(device) -> torch.Generator:
    """The link's random stream on ``device`` (Sionna's, seeded by ``set_seed``; saved with checkpoints)."""
    return sionna.phy.config.torch_rng(str(device))
