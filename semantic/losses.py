"""Stage-1 alignment losses: contrastive split fine-tuning of modality tokens against text.

Paper A aligns each modality with text before the foundation model is tuned:
the modality's tokens are mean-pooled and L2-normalised, compared by cosine
similarity with the caption's embedding in a symmetric InfoNCE loss
(temperature about 0.07, optionally learned as in CLIP), and a mean squared
error pulls the pooled tokens towards the text embedding itself::

    temp = Temperature(0.07, learnable=True)
    loss, parts = alignment_loss(tokens, text_embedding, temp(), mse_weight=1.0)

:func:`recall_at_k` measures the alignment as cross-modal retrieval.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["info_nce", "Temperature", "pool_tokens", "reconstruction_mse", "alignment_loss", "recall_at_k"]

TemperatureArg = Union[float, torch.Tensor]


def _check_pair(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if a.dim() != 2 or a.shape != b.shape or a.shape[0] < 1:
        raise ValueError(
            f"semantic.losses.{names}: got shapes {list(a.shape)} and {list(b.shape)}; "
            "allowed: both [batch, dim], batch >= 1"
        )


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: TemperatureArg) -> torch.Tensor:
    r"""Symmetric InfoNCE on cosine similarities; item i of ``a`` matches item i of ``b``.

    ``logits = normalize(a) @ normalize(b)^T / temperature``; the loss is the
    mean of the cross-entropy of each row over the columns (a -> b) and of
    each column over the rows (b -> a), the target being the diagonal::

        loss = (CE(logits, arange(B)) + CE(logits^T, arange(B))) / 2

    :param a: [batch, dim], floating.
    :param b: [batch, dim], floating, same dtype.
    :param temperature: Positive float or scalar tensor (e.g. ``Temperature()()``,
        which carries the gradient of a learnable temperature).

    :output loss: Scalar tensor, ``a``'s dtype; ``log(batch)`` for random
        embeddings at high temperature, towards 0 for well-separated matches.
    """
    _check_pair(a, b, "info_nce")
    if not isinstance(temperature, torch.Tensor) and not temperature > 0:
        raise ValueError(f"semantic.losses.temperature: got {temperature}; allowed: > 0")
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature
    targets = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


class Temperature(nn.Module):
    r"""The InfoNCE temperature, stored as ``log(1 / t)`` (CLIP's logit scale).

    ``t = 1 / exp(min(log_inv_t, log(1 / min_value)))``, i.e. clamped to
    ``t >= min_value`` (0.01 = CLIP's maximum logit scale of 100). Fixed
    (a buffer) unless ``learnable``.

    :param init: Initial temperature t > ``min_value``.
    :param learnable: Make ``log(1 / t)`` a parameter.
    :param min_value: Smallest temperature.

    :output temperature: Scalar tensor, float32, on the module's device.

    >>> Temperature(0.07)().item()  # doctest: +ELLIPSIS
    0.07...
    """

    def __init__(self, init: float = 0.07, learnable: bool = False, min_value: float = 0.01) -> None:
        super().__init__()
        if not min_value > 0 or not init >= min_value:
            raise ValueError(
                f"semantic.losses.temperature: init={init}, min_value={min_value}; allowed: init >= min_value > 0"
            )
        self.learnable = bool(learnable)
        self.min_value = float(min_value)
        value = torch.tensor(math.log(1.0 / init), dtype=torch.float32)
        if self.learnable:
            self.log_inv_t = nn.Parameter(value)
        else:
            self.register_buffer("log_inv_t", value)

    def forward(self) -> torch.Tensor:
        return torch.exp(-self.log_inv_t.clamp(max=math.log(1.0 / self.min_value)))

    def extra_repr(self) -> str:
        return f"t={float(self()):.4g}, learnable={self.learnable}, min_value={self.min_value}"


def pool_tokens(tokens: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    r"""Mean of the tokens of each item.

    :param tokens: [batch, num_tokens, dim], floating.
    :param mask: Optional [batch, num_tokens], bool or 0/1, `True`/1 where
        the token counts; an item without any counted token pools to zeros.

    :output pooled: [batch, dim], ``tokens``' dtype.
    """
    if tokens.dim() != 3:
        raise ValueError(f"semantic.losses.tokens: got shape {list(tokens.shape)}; allowed: [batch, num_tokens, dim]")
    if mask is None:
        return tokens.mean(dim=1)
    if tuple(mask.shape) != tuple(tokens.shape[:2]):
        raise ValueError(
            f"semantic.losses.mask: got shape {list(mask.shape)}; allowed: {list(tokens.shape[:2])}"
        )
    weights = mask.to(tokens.dtype).unsqueeze(-1)
    return (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def reconstruction_mse(pooled: torch.Tensor, text_embedding: torch.Tensor) -> torch.Tensor:
    r"""Text-reconstruction term: mean squared error between the pooled modality
    tokens and the text embedding, averaged over batch and dimensions.

    :param pooled: [batch, dim], floating (not normalised).
    :param text_embedding: [batch, dim], floating.
    :output loss: Scalar tensor.
    """
    _check_pair(pooled, text_embedding, "reconstruction_mse")
    return F.mse_loss(pooled, text_embedding)


def alignment_loss(
    tokens: torch.Tensor,
    text_embedding: torch.Tensor,
    temperature: TemperatureArg,
    mse_weight: float = 1.0,
    mask: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    r"""Paper A's stage-1 loss: ``info_nce(pool(tokens), text) + mse_weight * mse(pool(tokens), text)``.

    :param tokens: [batch, num_tokens, dim] modality tokens (at the foundation model's width).
    :param text_embedding: [batch, dim] caption embeddings.
    :param temperature: InfoNCE temperature (float or scalar tensor).
    :param mse_weight: Weight of the reconstruction term (0 drops it).
    :param mask: Optional [batch, num_tokens] mask for :func:`pool_tokens`.

    :output loss: Scalar tensor with gradients.
    :output parts: ``{"info_nce", "mse", "temperature"}``, detached scalar tensors.
    """
    pooled = pool_tokens(tokens, mask)
    contrastive = info_nce(pooled, text_embedding, temperature)
    mse = reconstruction_mse(pooled, text_embedding)
    loss = contrastive + mse_weight * mse if mse_weight else contrastive
    t = temperature.detach() if isinstance(temperature, torch.Tensor) else torch.tensor(float(temperature))
    return loss, {"info_nce": contrastive.detach(), "mse": mse.detach(), "temperature": t}


def recall_at_k(
    query: torch.Tensor,
    keys: torch.Tensor,
    ks: Sequence[int] = (1, 5),
    chunk_size: int = 1024,
) -> dict[str, float]:
    r"""Retrieval recall@k by cosine similarity: query i's match is key i.

    Query i scores a hit at k when fewer than k keys are strictly more
    similar to it than key i (ties count in the query's favour).

    :param query: [num_items, dim], floating.
    :param keys: [num_items, dim], floating.
    :param ks: The k values (k larger than ``num_items`` gives 1.0).
    :param chunk_size: Queries per similarity block (bounds memory at ``chunk_size x num_items``).

    :output recall: ``{"recall@1": ..., "recall@5": ...}``, floats in [0, 1].
    """
    _check_pair(query, keys, "recall_at_k")
    if any(int(k) < 1 for k in ks):
        raise ValueError(f"semantic.losses.ks: got {list(ks)}; allowed: integers >= 1")
    with torch.no_grad():
        q = F.normalize(query.float(), dim=-1)
        kn = F.normalize(keys.float(), dim=-1)
        ranks = []
        for first in range(0, q.shape[0], chunk_size):
            sim = q[first:first + chunk_size] @ kn.T                               # [chunk, num_items]
            rows = torch.arange(sim.shape[0], device=sim.device)
            own = sim[rows, rows + first]
            ranks.append((sim > own[:, None]).sum(dim=1))
        rank = torch.cat(ranks)
        return {f"recall@{int(k)}": float((rank < int(k)).float().mean()) for k in ks}
