"""The two linear ends around the link: the device's projection and the base station's receiver.

Paper A's chain per modality::

    device:  frozen encoder -> ModalityProjection (to the foundation model's width)
             -> token compression -> link
    base station:  link -> MLPReceiver -> foundation model
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

__all__ = ["MLPReceiver", "ModalityProjection", "FOUNDATION_DIM"]

#: Token width of the foundation model (all-MiniLM-L6-v2).
FOUNDATION_DIM = 384


class MLPReceiver(nn.Module):
    r"""The base station's 2-layer MLP per modality, applied to every received token.

    ``y = x + Linear2(GELU(Linear1(x)))`` with ``residual=True``, where
    ``Linear2`` starts at zero (weights and bias), so an untrained receiver
    is exactly the identity and training starts from the tokens as they
    arrive; ``y = Linear2(GELU(Linear1(x)))`` with ``residual=False``
    (default PyTorch initialisation).

    :param dim: Token width (input and output).
    :param hidden: Hidden width; `None`: ``2 * dim``.
    :param residual: Add the input to the MLP output (and zero-initialise the second layer).

    :input tokens: [batch, num_tokens, dim], floating (the parameters' dtype), any device.
    :output tokens: [batch, num_tokens, dim], same dtype.

    >>> rx = MLPReceiver(384)
    >>> x = torch.randn(2, 16, 384)
    >>> bool(torch.equal(rx(x), x))
    True
    """

    def __init__(self, dim: int, hidden: Optional[int] = None, residual: bool = True) -> None:
        super().__init__()
        hidden = 2 * int(dim) if hidden is None else int(hidden)
        if dim < 1 or hidden < 1:
            raise ValueError(f"semantic.receiver: dim={dim}, hidden={hidden}; allowed: >= 1")
        self.dim, self.hidden, self.residual = int(dim), hidden, bool(residual)
        self.fc1 = nn.Linear(self.dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, self.dim)
        if self.residual:
            nn.init.zeros_(self.fc2.weight)
            nn.init.zeros_(self.fc2.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.shape[-1] != self.dim:
            raise ValueError(
                f"semantic.receiver.tokens: got shape {list(tokens.shape)}; allowed: [..., {self.dim}]"
            )
        out = self.fc2(self.act(self.fc1(tokens)))
        return tokens + out if self.residual else out

    def extra_repr(self) -> str:
        return f"dim={self.dim}, hidden={self.hidden}, residual={self.residual}"


class ModalityProjection(nn.Module):
    r"""The device's linear projection from encoder width to the foundation model's width.

    :param in_dim: Encoder token width.
    :param out_dim: Foundation model width (384 for all-MiniLM-L6-v2).
    :param bias: Learn a bias.

    :input tokens: [batch, num_tokens, in_dim], floating.
    :output tokens: [batch, num_tokens, out_dim], same dtype.
    """

    def __init__(self, in_dim: int, out_dim: int = FOUNDATION_DIM, bias: bool = True) -> None:
        super().__init__()
        if in_dim < 1 or out_dim < 1:
            raise ValueError(f"semantic.projection: in_dim={in_dim}, out_dim={out_dim}; allowed: >= 1")
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)
        self.linear = nn.Linear(self.in_dim, self.out_dim, bias=bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.shape[-1] != self.in_dim:
            raise ValueError(
                f"semantic.projection.tokens: got shape {list(tokens.shape)}; allowed: [..., {self.in_dim}]"
            )
        return self.linear(tokens)

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}"
