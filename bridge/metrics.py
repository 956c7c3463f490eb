"""Per-sample link metrics: bit error rate, token error rate, value (N)MSE.

Every function reduces over all axes but the first (the batch), so one call
gives one number per batch sample (per SNR point when each sample has its
own SNR); average over the batch for a single figure. Inputs are detached.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from ..phy.bits import bit_differences

__all__ = ["LinkMetrics", "bit_error_rate", "token_error_rate", "mse", "nmse", "link_metrics", "word_link_metrics"]


def _per_sample_mean(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1).float().mean(dim=1) if x.dim() > 1 else x.float()


def bit_error_rate(bits: torch.Tensor, bits_hat: torch.Tensor) -> torch.Tensor:
    """Fraction of wrong bits per sample. :input bits, bits_hat: [batch, ...], 0/1."""
    return _per_sample_mean(bits.detach() != bits_hat.detach())


def token_error_rate(bits: torch.Tensor, bits_hat: torch.Tensor) -> torch.Tensor:
    """Fraction of wrong tokens per sample; a token is wrong if any of its bits is.

    :input bits, bits_hat: [batch, num_tokens, bits_per_token], 0/1.
    """
    return _per_sample_mean((bits.detach() != bits_hat.detach()).any(dim=-1))


def mse(tokens: torch.Tensor, tokens_hat: torch.Tensor) -> torch.Tensor:
    """Mean squared error per value, per sample. :input: [batch, num_tokens, dim]."""
    return _per_sample_mean((tokens_hat.detach() - tokens.detach()).square())


def nmse(tokens: torch.Tensor, tokens_hat: torch.Tensor) -> torch.Tensor:
    """``sum |t_hat - t|^2 / sum |t|^2`` per sample. :input: [batch, num_tokens, dim]."""
    t = tokens.detach().reshape(tokens.shape[0], -1)
    err = (tokens_hat.detach().reshape(t.shape) - t).square().sum(dim=1)
    return err / t.square().sum(dim=1)


class LinkMetrics(NamedTuple):
    """One value per batch sample, `torch.float`, [batch]. Digital only: ber, ter."""

    mse: torch.Tensor
    nmse: torch.Tensor
    ber: Optional[torch.Tensor] = None
    ter: Optional[torch.Tensor] = None

    def mean(self) -> dict[str, float]:
        """Batch averages as plain floats (for logs and summary tables)."""
        return {k: float(v.mean()) for k, v in self._asdict().items() if v is not None}


def link_metrics(
    tokens: torch.Tensor,
    tokens_hat: torch.Tensor,
    bits: Optional[torch.Tensor] = None,
    bits_hat: Optional[torch.Tensor] = None,
) -> LinkMetrics:
    """All metrics of one call; BER and TER when the bits are given."""
    if bits is None or bits_hat is None:
        return LinkMetrics(mse(tokens, tokens_hat), nmse(tokens, tokens_hat))
    return LinkMetrics(
        mse(tokens, tokens_hat),
        nmse(tokens, tokens_hat),
        bit_error_rate(bits, bits_hat),
        token_error_rate(bits, bits_hat),
    )


def word_link_metrics(
    tokens: torch.Tensor,
    tokens_hat: torch.Tensor,
    words: torch.Tensor,
    words_hat: torch.Tensor,
    bits_per_word: int,
) -> LinkMetrics:
    """:func:`link_metrics` from integer words instead of bits (the same numbers).

    :input words, words_hat: [batch, num_tokens, words_per_token], integers of
        ``bits_per_word`` bits each (quantization indices).
    """
    wrong = words.detach() != words_hat.detach()
    ber = _per_sample_mean(bit_differences(words.detach(), words_hat.detach(), bits_per_word)) / bits_per_word
    return LinkMetrics(mse(tokens, tokens_hat), nmse(tokens, tokens_hat), ber, _per_sample_mean(wrong.any(dim=-1)))
