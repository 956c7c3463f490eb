"""Quantizers of the digital token path: tokens -> bits, and bits or LLRs -> tokens.

Two quantizers share one interface (an ``nn.Module`` each):

* ``bits_per_token(dim)``; ``encode(tokens) -> bits``;
* ``decode_hard(bits) -> tokens``; ``decode_soft(llr) -> tokens``, the
  conditional mean ``E[value | LLRs]`` assuming independent bits and
  uniformly distributed indices;
* ``forward(tokens)``: plain quantization (quantize, reconstruct) with a
  straight-through estimator: the value of the reconstruction, the gradient
  of the identity. The digital link at infinite SNR equals it exactly.

Bits are float 0./1. in the tokens' dtype (Sionna's ``Mapper`` takes float
bits), most significant bit first within a value or index; the bits of a
token are its values' (or sub-vectors') bits in order. LLRs follow Sionna:
``log(P(b=1)/P(b=0))``; ``+-inf`` (a noiseless link) gives exact 0/1
probabilities.
"""

from __future__ import annotations

import math
from typing import Literal, Optional

import torch
import torch.nn.functional as F

from ..phy.bits import bits_to_index, index_to_bits

__all__ = ["ScalarQuantizer", "VectorQuantizer", "index_to_bits", "bits_to_index"]  # bit helpers: phy.bits

_QUANTILE_MAX = 1 << 24  # torch.quantile refuses larger inputs


def _check_tokens(tokens: torch.Tensor) -> None:
    if not isinstance(tokens, torch.Tensor) or not tokens.is_floating_point():
        got = tokens.dtype if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        raise TypeError(f"tokens must be a real floating tensor [..., dim], got {got}")
    if not torch.compiler.is_compiling() and not bool(torch.isfinite(tokens).all()):
        raise ValueError("tokens contain NaN or Inf: only finite values can be quantized")


def _group_bits(x: torch.Tensor, name: str, group: int, rule: str) -> torch.Tensor:
    """[..., n * group] -> [..., n, group]; ``name`` and ``rule`` word the error."""
    if x.dim() < 1 or x.shape[-1] % group:
        raise ValueError(f"{name} must have last dimension {rule} ({group}), got shape {list(x.shape)}")
    return x.unflatten(-1, (-1, group))


class ScalarQuantizer(torch.nn.Module):
    r"""Uniform mid-rise scalar quantizer, ``bits_per_value`` bits per value.

    The clipping range ``[lo, hi]`` is cut into ``2**b`` equal cells of width
    ``step = (hi - lo) / 2**b``; a value's index is
    ``clamp(floor((x - lo) / step), 0, 2**b - 1)`` (values outside the range
    saturate) and it is reconstructed at its cell's centre
    ``lo + (index + 0.5) step``. The index is sent in natural binary, MSB first.

    :param bits_per_value: `int`, 1..16.
    :param clip: ``(lo, hi)``, or `None` to calibrate from data.
    :param calibration: how :meth:`calibrate` picks the range: ``"minmax"``;
        ``"std"``, mean +- k std (k = ``calibration_param``, default 3);
        ``"percentile"``, the p and 100 - p percentiles (p =
        ``calibration_param`` in percent, default 0.1).
    :param per_dim: one range per channel (last axis, ``lo``/``hi`` of shape
        [dim]) instead of one scalar range for all values.

    ``lo`` and ``hi`` are buffers (saved in the ``state_dict``); until they are
    set by ``clip`` or :meth:`calibrate`, using the quantizer raises.

    :input tokens: [..., dim], real floating (``encode``, ``forward``).
    :input bits: [..., dim * bits_per_value], 0./1., floating (``decode_hard``).
    :input llr: [..., dim * bits_per_value], floating, may be +-inf (``decode_soft``).

    :output bits: [..., dim * bits_per_value], tokens' dtype (``encode``).
    :output tokens: [..., dim], the input's dtype (``decode_hard``,
        ``decode_soft``, ``forward``).

    .. rubric:: Example

    .. code-block:: python

        q = ScalarQuantizer(2, clip=(0.0, 4.0))     # levels 0.5, 1.5, 2.5, 3.5
        q.encode(torch.tensor([3.2]))               # tensor([1., 1.])
        q.decode_soft(torch.zeros(2))               # tensor([2.]), the mean level
    """

    def __init__(
        self,
        bits_per_value: int,
        clip: Optional[tuple[float, float]] = None,
        calibration: Literal["minmax", "std", "percentile"] = "std",
        calibration_param: Optional[float] = None,
        per_dim: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(bits_per_value, bool) or not isinstance(bits_per_value, int) or not 1 <= bits_per_value <= 16:
            raise ValueError(f"bits_per_value must be an integer in 1..16, got {bits_per_value!r}")
        if calibration not in ("minmax", "std", "percentile"):
            raise ValueError(f"calibration must be 'minmax', 'std' or 'percentile', got {calibration!r}")
        self.bits_per_value = bits_per_value
        self.calibration = calibration
        self.calibration_param = calibration_param
        self.per_dim = per_dim
        self.register_buffer("lo", torch.tensor(math.nan))
        self.register_buffer("hi", torch.tensor(math.nan))
        if clip is not None:
            lo, hi = float(clip[0]), float(clip[1])
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"clip must be finite (lo, hi) with lo < hi, got {clip!r}")
            self.lo.fill_(lo)
            self.hi.fill_(hi)

    @property
    def num_levels(self) -> int:
        return 1 << self.bits_per_value

    def bits_per_token(self, dim: int) -> int:
        return dim * self.bits_per_value

    @property
    def bits_per_word(self) -> int:
        """Bits of one quantization index (:meth:`quantize` output element)."""
        return self.bits_per_value

    @property
    def has_range(self) -> bool:
        """Whether the clipping range is set (by ``clip``, :meth:`calibrate` or a loaded state)."""
        return not bool(torch.isnan(self.lo).any())

    @torch.no_grad()
    def calibrate(self, tokens: torch.Tensor) -> None:
        """Set ``[lo, hi]`` from example tokens [..., dim] by the ``calibration`` rule."""
        _check_tokens(tokens)
        x = tokens.detach().reshape(-1, tokens.shape[-1]) if self.per_dim else tokens.detach().reshape(-1, 1)
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()  # torch.quantile takes float32/float64 only
        if self.calibration == "minmax":
            lo, hi = x.amin(dim=0), x.amax(dim=0)
        elif self.calibration == "std":
            k = 3.0 if self.calibration_param is None else self.calibration_param
            mean, std = x.mean(dim=0), x.std(dim=0, unbiased=False)
            lo, hi = mean - k * std, mean + k * std
        else:
            p = 0.1 if self.calibration_param is None else self.calibration_param
            if x.numel() > _QUANTILE_MAX:  # subsample evenly spaced rows
                num_rows = max(1, _QUANTILE_MAX // x.shape[1])
                x = x[torch.arange(num_rows, device=x.device) * x.shape[0] // num_rows]
            q = torch.tensor([p / 100, 1 - p / 100], dtype=x.dtype, device=x.device)
            lo, hi = torch.quantile(x, q, dim=0)
        # A constant channel would give an empty range: widen it around the value.
        empty = ~(hi > lo)
        pad = torch.finfo(x.dtype).eps * (1 + lo.abs())
        lo, hi = torch.where(empty, lo - pad, lo), torch.where(empty, hi + pad, hi)
        shape = (tokens.shape[-1],) if self.per_dim else ()
        self.lo = lo.reshape(shape).clone()
        self.hi = hi.reshape(shape).clone()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # The range is a scalar or [dim] (per_dim, after calibration): take the saved shape.
        for name in ("lo", "hi"):
            saved, own = state_dict.get(prefix + name), getattr(self, name)
            if isinstance(saved, torch.Tensor) and saved.shape != own.shape:
                setattr(self, name, own.new_empty(saved.shape))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _range(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.has_range:
            raise RuntimeError(
                "ScalarQuantizer has no clipping range: pass clip=(lo, hi) or call calibrate(tokens) first"
            )
        if self.per_dim and self.lo.dim() and self.lo.shape[0] != like.shape[-1]:
            raise ValueError(
                f"tokens have dim {like.shape[-1]} but the quantizer was calibrated per channel "
                f"for dim {self.lo.shape[0]}"
            )
        return self.lo.to(like), self.hi.to(like)

    def quantize(self, tokens: torch.Tensor) -> torch.Tensor:
        """Indices [..., dim], int64, in ``0..2**b - 1``."""
        _check_tokens(tokens)
        lo, hi = self._range(tokens)
        step = (hi - lo) / self.num_levels
        return torch.floor((tokens.detach() - lo) / step).clamp(0, self.num_levels - 1).long()

    def reconstruct(self, index: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Cell centres of (possibly fractional) indices, in ``like``'s dtype."""
        lo, hi = self._range(like)
        return lo + (index.to(like.dtype) + 0.5) * ((hi - lo) / self.num_levels)

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens [..., dim] -> bits [..., dim * bits_per_value], MSB first per value."""
        index = self.quantize(tokens)
        return index_to_bits(index, self.bits_per_value, tokens.dtype).flatten(-2)

    def _split(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return _group_bits(x, name, self.bits_per_value, "dim * bits_per_value")

    def decode_hard(self, bits: torch.Tensor) -> torch.Tensor:
        """Bits [..., dim * bits_per_value] -> reconstructed tokens [..., dim]."""
        b = self._split(bits, "bits")
        return self.reconstruct(bits_to_index(b), bits)

    def decode_soft(self, llr: torch.Tensor) -> torch.Tensor:
        """LLRs [..., dim * bits_per_value] -> ``E[value | llr]`` [..., dim]."""
        # The reconstruction is affine in the index bits: E[index] = sum_k P(b_k=1) 2^(b-1-k).
        p = torch.sigmoid(self._split(llr, "llr"))  # P(b=1); exact 0/1 at -+inf
        weights = 2.0 ** torch.arange(self.bits_per_value - 1, -1, -1, device=llr.device, dtype=llr.dtype)
        return self.reconstruct((p * weights).sum(dim=-1), llr)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Quantized tokens [..., dim] with the straight-through gradient."""
        q = self.reconstruct(self.quantize(tokens), tokens)
        # Value exactly q (x - x is exactly 0 for finite x; x + (q - x) may round), gradient identity.
        return q + (tokens - tokens.detach())

    def extra_repr(self) -> str:
        return f"bits_per_value={self.bits_per_value}, calibration={self.calibration!r}, per_dim={self.per_dim}"


class VectorQuantizer(torch.nn.Module):
    r"""Learned codebook: each sub-vector of a token is sent as a codeword index.

    A token ``[..., dim]`` is split into ``dim / subvector_dim`` sub-vectors;
    each is replaced by its nearest codeword (Euclidean) and sent as the
    codeword's index, ``log2(codebook_size)`` bits in natural binary, MSB
    first. :meth:`fit` initializes the codebook by k-means on example tokens;
    :meth:`loss` is the VQ-VAE codebook + ``beta`` x commitment loss, to learn
    it with the encoder by gradient descent.

    :param codebook_size: a power of two, 2..65536 (1..16 bits per index).
    :param subvector_dim: values per sub-vector.
    :param beta: commitment weight of :meth:`loss`.

    :input tokens: [..., dim], real floating, ``dim`` a multiple of
        ``subvector_dim`` (``encode``, ``forward``, ``loss``, ``fit``).
    :input bits: [..., num_subvectors * bits_per_index], 0./1., floating (``decode_hard``).
    :input llr: [..., num_subvectors * bits_per_index], floating, may be +-inf
        (``decode_soft``; ``codebook_size <= 4096``).

    :output bits: [..., num_subvectors * bits_per_index], tokens' dtype (``encode``).
    :output tokens: [..., dim], the input's dtype (``decode_hard``,
        ``decode_soft``, ``forward``).
    """

    SOFT_MAX_BITS = 12

    def __init__(self, codebook_size: int, subvector_dim: int, beta: float = 0.25) -> None:
        super().__init__()
        if (
            isinstance(codebook_size, bool) or not isinstance(codebook_size, int)
            or not 2 <= codebook_size <= 65536 or codebook_size & (codebook_size - 1)
        ):
            raise ValueError(f"codebook_size must be a power of two in 2..65536, got {codebook_size!r}")
        if not isinstance(subvector_dim, int) or subvector_dim < 1:
            raise ValueError(f"subvector_dim must be a positive integer, got {subvector_dim!r}")
        self.codebook_size = codebook_size
        self.subvector_dim = subvector_dim
        self.bits_per_index = codebook_size.bit_length() - 1
        self.beta = beta
        self.codebook = torch.nn.Parameter(torch.randn(codebook_size, subvector_dim))

    def bits_per_token(self, dim: int) -> int:
        return self._num_sub(dim) * self.bits_per_index

    @property
    def bits_per_word(self) -> int:
        """Bits of one quantization index (:meth:`quantize` output element)."""
        return self.bits_per_index

    def _num_sub(self, dim: int) -> int:
        if dim % self.subvector_dim:
            raise ValueError(
                f"token dim ({dim}) must be divisible by subvector_dim ({self.subvector_dim})"
            )
        return dim // self.subvector_dim

    def _subvectors(self, tokens: torch.Tensor) -> torch.Tensor:
        _check_tokens(tokens)
        self._num_sub(tokens.shape[-1])
        return tokens.unflatten(-1, (-1, self.subvector_dim))

    def quantize(self, tokens: torch.Tensor) -> torch.Tensor:
        """Codeword indices [..., dim / subvector_dim], int64."""
        sub = self._subvectors(tokens).detach()
        codebook = self.codebook.detach().to(sub.dtype)
        flat = sub.reshape(-1, self.subvector_dim)
        # ||s - c||^2 = ||s||^2 - 2 s.c + ||c||^2; ||s||^2 does not change the argmin.
        index = torch.cat([
            (codebook.square().sum(dim=1) - 2 * chunk @ codebook.T).argmin(dim=1)
            for chunk in flat.split(max(1, (1 << 22) // self.codebook_size))
        ]) if flat.shape[0] else flat.new_zeros(0, dtype=torch.long)
        return index.reshape(sub.shape[:-1])

    def _lookup(self, index: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return self.codebook.to(dtype)[index].flatten(-2)

    def reconstruct(self, index: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Codeword indices [..., num_subvectors] -> tokens [..., dim] in ``like``'s dtype."""
        return self._lookup(index, like.dtype)

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens [..., dim] -> bits [..., num_subvectors * bits_per_index], MSB first per index."""
        return index_to_bits(self.quantize(tokens), self.bits_per_index, tokens.dtype).flatten(-2)

    def _split(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return _group_bits(x, name, self.bits_per_index, "num_subvectors * bits_per_index")

    def decode_hard(self, bits: torch.Tensor) -> torch.Tensor:
        """Bits -> the addressed codewords, tokens [..., dim]."""
        return self._lookup(bits_to_index(self._split(bits, "bits")), bits.dtype)

    def decode_soft(self, llr: torch.Tensor) -> torch.Tensor:
        """LLRs -> ``sum_k P(index k | llr) codebook[k]``, tokens [..., dim]."""
        if self.bits_per_index > self.SOFT_MAX_BITS:
            raise ValueError(
                f"soft decoding supports codebook_size <= {1 << self.SOFT_MAX_BITS}, got "
                f"{self.codebook_size}: use hard dequantization"
            )
        llr = self._split(llr, "llr")
        lead = llr.shape[:-1]
        flat = llr.reshape(-1, self.bits_per_index)
        # log P(index k) = sum_j log P(bit_j = k_j), k_j the bits of k (MSB first).
        table = index_to_bits(torch.arange(self.codebook_size, device=llr.device), self.bits_per_index, llr.dtype)
        codebook = self.codebook.to(llr.dtype)
        # Floor log-probabilities so that 0 * log(0) is 0, not NaN; the floor
        # still gives exactly zero weight after the softmax.
        floor = torch.finfo(llr.dtype).min / (2 * self.bits_per_index)
        out = []
        for chunk in flat.split(max(1, (1 << 22) // self.codebook_size)):
            log_p1 = F.logsigmoid(chunk).clamp_min(floor)
            log_p0 = F.logsigmoid(-chunk).clamp_min(floor)
            logp = log_p1 @ table.T + log_p0 @ (1 - table).T  # [rows, codebook_size]
            out.append(torch.softmax(logp, dim=-1) @ codebook)
        return torch.cat(out).reshape(*lead, self.subvector_dim).flatten(-2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Nearest codewords [..., dim] with the straight-through gradient (see ScalarQuantizer)."""
        q = self._lookup(self.quantize(tokens), tokens.dtype).detach()
        return q + (tokens - tokens.detach())

    def loss(self, tokens: torch.Tensor) -> torch.Tensor:
        """VQ-VAE loss: ``||sg[z] - c||^2 + beta ||z - sg[c]||^2`` (mean over values)."""
        sub = self._subvectors(tokens)
        c = self.codebook.to(tokens.dtype)[self.quantize(tokens)]
        return F.mse_loss(c, sub.detach()) + self.beta * F.mse_loss(sub, c.detach())

    @torch.no_grad()
    def fit(self, tokens: torch.Tensor, num_iters: int = 20, generator: Optional[torch.Generator] = None) -> None:
        """k-means (Lloyd) initialization of the codebook from example tokens."""
        sub = self._subvectors(tokens).detach().reshape(-1, self.subvector_dim).to(self.codebook.dtype)
        if sub.shape[0] < self.codebook_size:
            raise ValueError(
                f"fit needs at least codebook_size={self.codebook_size} sub-vectors, got {sub.shape[0]}"
            )
        perm = torch.randperm(sub.shape[0], generator=generator, device="cpu")[: self.codebook_size]
        codebook = sub[perm.to(sub.device)].clone()
        for _ in range(num_iters):
            self.codebook.data.copy_(codebook)
            index = self.quantize(sub.unsqueeze(0)).reshape(-1)
            sums = torch.zeros_like(codebook).index_add_(0, index, sub)
            counts = torch.bincount(index, minlength=self.codebook_size).unsqueeze(1)
            codebook = torch.where(counts > 0, sums / counts.clamp_min(1), codebook)
        self.codebook.data.copy_(codebook)

    def extra_repr(self) -> str:
        return f"codebook_size={self.codebook_size}, subvector_dim={self.subvector_dim}, beta={self.beta}"
