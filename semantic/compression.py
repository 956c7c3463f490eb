"""Token compression on the device: N encoder tokens in, K <= N tokens out.

Paper A shortens the token sequence before it crosses the link with
lightweight operators: uniform subsampling or sliding-window average
pooling. A learned alternative, attention pooling with K queries, is here
too. All share one interface, :class:`TokenCompressor`, and one factory,
:func:`build_compressor`::

    comp = build_compressor("pool", seq_len=128, num_tokens=32, dim=384)
    short = comp(tokens)              # [batch, 128, 384] -> [batch, 32, 384]
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

__all__ = [
    "COMPRESSION_METHODS",
    "TokenCompressor",
    "NoCompression",
    "UniformSubsample",
    "WindowAveragePool",
    "AttentionPool",
    "build_compressor",
]

#: Values of ``method`` in :func:`build_compressor`.
COMPRESSION_METHODS = ("none", "uniform", "pool", "attention")


def _check_num_tokens(seq_len: int, num_tokens: int) -> None:
    if seq_len < 1:
        raise ValueError(f"semantic.seq_len: N={seq_len}; allowed: >= 1")
    if num_tokens > seq_len:
        raise ValueError(
            f"semantic.num_tokens: K={num_tokens} is more than the N={seq_len} tokens the encoder makes; "
            f"allowed: 1..{seq_len}"
        )
    if num_tokens < 1:
        raise ValueError(f"semantic.num_tokens: K={num_tokens} is fewer than 1; allowed: 1..{seq_len}")


class TokenCompressor(nn.Module):
    """Base of the token compressors: [batch, seq_len, dim] -> [batch, num_tokens, dim].

    :param seq_len: N, tokens per item at the input.
    :param num_tokens: K, tokens per item at the output, 1 <= K <= N.

    :input tokens: [batch, seq_len, dim], floating, any device.
    :output tokens: [batch, num_tokens, dim], the input's dtype and device.
    """

    def __init__(self, seq_len: int, num_tokens: int) -> None:
        super().__init__()
        _check_num_tokens(int(seq_len), int(num_tokens))
        self.seq_len = int(seq_len)
        self.num_tokens = int(num_tokens)

    def check_input(self, tokens: torch.Tensor) -> None:
        """Raise a one-line error unless ``tokens`` is [batch, seq_len, dim]."""
        if tokens.dim() != 3 or tokens.shape[1] != self.seq_len:
            raise ValueError(
                f"semantic.compression.tokens: got shape {list(tokens.shape)}; "
                f"allowed: [batch, {self.seq_len}, dim] (seq_len N={self.seq_len})"
            )

    @property
    def ratio(self) -> float:
        """Compression ratio N / K."""
        return self.seq_len / self.num_tokens

    def extra_repr(self) -> str:
        return f"seq_len={self.seq_len}, num_tokens={self.num_tokens}"


class NoCompression(TokenCompressor):
    """The identity: all N tokens are sent (``method="none"``, K must equal N).

    :param seq_len: N.
    :param num_tokens: K; `None` or N.

    :input tokens: [batch, seq_len, dim].
    :output tokens: [batch, seq_len, dim], the input itself.
    """

    def __init__(self, seq_len: int, num_tokens: Optional[int] = None) -> None:
        k = seq_len if num_tokens is None else int(num_tokens)
        if k != seq_len:
            raise ValueError(
                f"semantic.num_tokens: K={k} with method 'none', which keeps all N={seq_len} tokens; "
                f"allowed: K={seq_len}, or method uniform, pool, attention"
            )
        super().__init__(seq_len, k)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        self.check_input(tokens)
        return tokens


class UniformSubsample(TokenCompressor):
    r"""Keep K evenly spaced tokens: indices ``floor(k * N / K)``, ``k = 0..K-1``.

    The first token is always kept, the stride is N / K (rounded down per
    index), so K = N keeps every token (exactly the identity) and e.g.
    N = 64, K = 16 keeps 0, 4, 8, ..., 60 -- the first token of each of the
    windows :class:`WindowAveragePool` averages.

    :param seq_len: N.
    :param num_tokens: K, 1..N.

    :input tokens: [batch, seq_len, dim], any dtype and device.
    :output tokens: [batch, num_tokens, dim], the selected tokens in order.
    """

    def __init__(self, seq_len: int, num_tokens: int) -> None:
        super().__init__(seq_len, num_tokens)
        index = (torch.arange(self.num_tokens, dtype=torch.int64) * self.seq_len) // self.num_tokens
        self.register_buffer("index", index, persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        self.check_input(tokens)
        if self.num_tokens == self.seq_len:
            return tokens
        return tokens.index_select(1, self.index.to(tokens.device))


def window_bounds(seq_len: int, num_tokens: int, window: Optional[int] = None) -> list[tuple[int, int]]:
    """[start, stop) of the K averaging windows of :class:`WindowAveragePool`."""
    n, k = int(seq_len), int(num_tokens)
    _check_num_tokens(n, k)
    if window is None:            # adaptive average pooling: the windows tile the sequence
        return [((i * n) // k, -((-(i + 1) * n) // k)) for i in range(k)]
    w = int(window)
    if not 1 <= w <= n:
        raise ValueError(f"semantic.compression.window: got {window}; allowed: 1..{n} (N) or None")
    if k == 1:
        start = (n - w) // 2
        return [(start, start + w)]
    # Starts evenly spaced from 0 to N - w (stride (N - w) / (K - 1), about N / K), rounded half up.
    return [((2 * i * (n - w) + (k - 1)) // (2 * (k - 1)), (2 * i * (n - w) + (k - 1)) // (2 * (k - 1)) + w)
            for i in range(k)]


class WindowAveragePool(TokenCompressor):
    r"""Sliding-window average pooling: output token k is the mean of a window of input tokens.

    Default (``window=None``): the K windows tile the sequence exactly as
    adaptive average pooling does, window k = ``[floor(kN/K), ceil((k+1)N/K))``;
    K = N is exactly the identity, and N a multiple of K gives windows of
    N / K tokens without overlap. With ``window = w``: K windows of w tokens
    whose starts are spaced evenly from 0 to N - w (stride about N / K), so
    the first starts at token 0 and the last ends at token N - 1; w larger
    than N / K makes them overlap, smaller leaves gaps. Implemented as one
    fixed [K, N] averaging matrix, so it is differentiable and cheap.

    :param seq_len: N.
    :param num_tokens: K, 1..N.
    :param window: Window length in tokens (1..N), or `None` for tiling windows.

    :input tokens: [batch, seq_len, dim], floating, any device.
    :output tokens: [batch, num_tokens, dim], the input's dtype.
    """

    def __init__(self, seq_len: int, num_tokens: int, window: Optional[int] = None) -> None:
        super().__init__(seq_len, num_tokens)
        self.window = None if window is None else int(window)
        self.bounds = window_bounds(self.seq_len, self.num_tokens, window)
        weights = torch.zeros(self.num_tokens, self.seq_len, dtype=torch.float64)
        for k, (start, stop) in enumerate(self.bounds):
            weights[k, start:stop] = 1.0 / (stop - start)
        self.register_buffer("weights", weights, persistent=False)
        self.identity = all(stop - start == 1 for start, stop in self.bounds) and self.num_tokens == self.seq_len

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        self.check_input(tokens)
        if self.identity:
            return tokens
        weights = self.weights.to(device=tokens.device, dtype=tokens.dtype)
        return torch.matmul(weights, tokens)         # [K, N] @ [batch, N, dim] -> [batch, K, dim]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, window={self.window}"


class AttentionPool(TokenCompressor):
    r"""K learned queries attend over the N tokens (multi-head cross-attention).

    Pre-norm cross-attention block, as in Perceiver / Set Transformer pooling::

        kv  = LayerNorm(tokens + pos)                     # pos: learned [N, dim]
        out = queries + MHA(LayerNorm(queries), kv, kv)   # queries: learned [K, dim]
        out = out + MLP(LayerNorm(out))                   # Linear-GELU-Linear, hidden mlp_ratio * dim

    Queries and positions start as N(0, 0.02^2).

    :param seq_len: N.
    :param num_tokens: K, 1..N.
    :param dim: Token width; divisible by ``num_heads``.
    :param num_heads: Attention heads.
    :param mlp_ratio: Hidden width of the MLP over ``dim``; 0 drops the MLP.
    :param dropout: Attention dropout probability (training only).

    :input tokens: [batch, seq_len, dim], floating.
    :input key_padding_mask: Optional [batch, seq_len] bool, `True` where a
        token is padding and must be ignored.
    :output tokens: [batch, num_tokens, dim], the input's dtype.
    """

    def __init__(
        self,
        seq_len: int,
        num_tokens: int,
        dim: int,
        num_heads: int = 4,
        mlp_ratio: float = 2.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(seq_len, num_tokens)
        if dim < 1 or num_heads < 1 or dim % num_heads != 0:
            raise ValueError(
                f"semantic.compression.num_heads: dim={dim}, num_heads={num_heads}; "
                "allowed: num_heads >= 1 dividing dim"
            )
        self.dim, self.num_heads = int(dim), int(num_heads)
        self.queries = nn.Parameter(0.02 * torch.randn(self.num_tokens, self.dim))
        self.pos = nn.Parameter(0.02 * torch.randn(self.seq_len, self.dim))
        self.norm_q = nn.LayerNorm(self.dim)
        self.norm_kv = nn.LayerNorm(self.dim)
        self.attn = nn.MultiheadAttention(self.dim, self.num_heads, dropout=dropout, batch_first=True)
        hidden = int(round(mlp_ratio * self.dim))
        self.mlp: Optional[nn.Module] = None
        if hidden > 0:
            self.norm_out = nn.LayerNorm(self.dim)
            self.mlp = nn.Sequential(nn.Linear(self.dim, hidden), nn.GELU(), nn.Linear(hidden, self.dim))

    def forward(self, tokens: torch.Tensor, key_padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        self.check_input(tokens)
        dtype = tokens.dtype
        x = tokens.to(self.pos.dtype)
        kv = self.norm_kv(x + self.pos)
        q = self.norm_q(self.queries).unsqueeze(0).expand(x.shape[0], -1, -1)
        attended, _ = self.attn(q, kv, kv, key_padding_mask=key_padding_mask, need_weights=False)
        out = self.queries + attended
        if self.mlp is not None:
            out = out + self.mlp(self.norm_out(out))
        return out.to(dtype)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dim={self.dim}, num_heads={self.num_heads}"


def build_compressor(method: str, seq_len: int, num_tokens: int, dim: int, **options: Any) -> TokenCompressor:
    """The compressor for ``method``.

    :param method: ``"none"`` (:class:`NoCompression`, K must equal N),
        ``"uniform"`` (:class:`UniformSubsample`), ``"pool"``
        (:class:`WindowAveragePool`; option ``window``) or ``"attention"``
        (:class:`AttentionPool`; options ``num_heads``, ``mlp_ratio``, ``dropout``).
    :param seq_len: N, tokens the encoder makes per item.
    :param num_tokens: K, tokens to send, 1..N.
    :param dim: Token width (used by ``"attention"``).
    :param options: Keyword options of the class.
    """
    if method == "none":
        return NoCompression(seq_len, num_tokens, **options)
    if method == "uniform":
        return UniformSubsample(seq_len, num_tokens, **options)
    if method == "pool":
        return WindowAveragePool(seq_len, num_tokens, **options)
    if method == "attention":
        return AttentionPool(seq_len, num_tokens, dim, **options)
    raise ValueError(
        f"semantic.compression.method: unknown method {method!r}; allowed: {', '.join(COMPRESSION_METHODS)}"
    )
