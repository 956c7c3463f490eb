"""Integer indices <-> bits, most significant bit first, and uniform random bits.

One convention for every place that labels with bits: QAM symbol indices
(Sionna's Gray labels), quantization indices and codeword indices.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

__all__ = ["random_bits", "index_to_bits", "bits_to_index", "can_regroup", "regroup", "bit_differences"]


def index_to_bits(index: torch.Tensor, num_bits: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Integer indices [...] -> bits [..., num_bits], MSB first (``num_bits <= 31``)."""
    shifts = torch.arange(num_bits - 1, -1, -1, dtype=torch.int32, device=index.device)
    return ((index.to(torch.int32).unsqueeze(-1) >> shifts) & 1).to(dtype)


def random_bits(
    shape: Sequence[int], dtype: torch.dtype = torch.float32, device=None, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """Independent uniform bits (0./1.), [*shape], drawn 16 at a time.

    Each draw is a uniform integer in [0, 2^16) (a power-of-two range: no
    modulo bias), unpacked MSB first with :func:`index_to_bits`; the last
    word's surplus bits are dropped. Sixteen times fewer generator calls than
    one ``randint(0, 2)`` per bit (Sionna's ``BinarySource``): on CPU the
    generator, not the unpacking, is the cost. ``generator``: `None` for
    torch's global one, which is also used under ``torch.compile`` (as
    Sionna's ``randint`` does).
    """
    *lead, n = (int(d) for d in shape)
    if n < 0 or any(d < 0 for d in lead):
        raise ValueError(f"shape must be non-negative, got {list(shape)}")
    if torch.compiler.is_compiling():
        generator = None
    words = torch.randint(0, 1 << 16, [*lead, -(-n // 16)], dtype=torch.int32, device=device, generator=generator)
    return index_to_bits(words, 16, dtype).flatten(-2)[..., :n].contiguous()


def bits_to_index(bits: torch.Tensor) -> torch.Tensor:
    """Bits [..., num_bits] (0/1), MSB first -> integer indices [...], int64."""
    num_bits = bits.shape[-1]
    # A float matmul with powers of two is exact up to 24 bits (float32) and
    # several times faster than an integer multiply-and-sum.
    dtype = bits.dtype if bits.dtype == torch.float64 else torch.float32
    weights = 2.0 ** torch.arange(num_bits - 1, -1, -1, dtype=dtype, device=bits.device)
    return ((bits > 0.5).to(dtype) @ weights).long()


def can_regroup(from_bits: int, to_bits: int) -> bool:
    """Whether :func:`regroup` handles these word sizes (one divides the other)."""
    return from_bits % to_bits == 0 or to_bits % from_bits == 0


def regroup(words: torch.Tensor, from_bits: int, to_bits: int) -> torch.Tensor:
    """The same bit stream, cut into words of another size.

    Words [..., n] of ``from_bits`` bits each (MSB first, concatenated) ->
    [..., ceil(n * from_bits / to_bits)] words of ``to_bits`` bits, the last
    one padded with zero bits. One size must divide the other
    (:func:`can_regroup`); e.g. 4-bit quantization indices are 16-QAM labels
    as they are, 8-bit indices are two labels each.
    """
    if not can_regroup(from_bits, to_bits):
        raise ValueError(f"cannot regroup {from_bits}-bit words into {to_bits}-bit words: neither divides the other")
    if from_bits == to_bits:
        return words
    words = words.long()
    if from_bits > to_bits:  # split: every word becomes k words
        k = from_bits // to_bits
        shifts = to_bits * torch.arange(k - 1, -1, -1, device=words.device)
        return ((words.unsqueeze(-1) >> shifts) & ((1 << to_bits) - 1)).flatten(-2)
    k = to_bits // from_bits  # merge: k words become one
    pad = -words.shape[-1] % k
    if pad:
        words = torch.cat([words, words.new_zeros(*words.shape[:-1], pad)], dim=-1)
    shifts = from_bits * torch.arange(k - 1, -1, -1, device=words.device)
    return (words.unflatten(-1, (-1, k)) << shifts).sum(dim=-1)


def bit_differences(a: torch.Tensor, b: torch.Tensor, num_bits: int) -> torch.Tensor:
    """Number of differing bits between integer words ``a`` and ``b`` of
    ``num_bits`` bits (elementwise, int64)."""
    if num_bits <= 16:  # popcount by table lookup
        table = index_to_bits(torch.arange(1 << num_bits, device=a.device), num_bits, torch.int64).sum(dim=-1)
        return table[a.long() ^ b.long()]
    return index_to_bits(a.long() ^ b.long(), num_bits, torch.int64).sum(dim=-1)
