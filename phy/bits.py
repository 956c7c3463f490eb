"""Integer indices <-> bits, most significant bit first.

One convention for every place that labels with bits: QAM symbol indices
(Sionna's Gray labels), quantization indices and codeword indices.
"""

from __future__ import annotations

import torch

__all__ = ["index_to_bits", "bits_to_index"]


def index_to_bits(index: torch.Tensor, num_bits: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Integer indices [...] -> bits [..., num_bits], MSB first (``num_bits <= 31``)."""
    shifts = torch.arange(num_bits - 1, -1, -1, dtype=torch.int32, device=index.device)
    return ((index.to(torch.int32).unsqueeze(-1) >> shifts) & 1).to(dtype)


def bits_to_index(bits: torch.Tensor) -> torch.Tensor:
    """Bits [..., num_bits] (0/1), MSB first -> integer indices [...], int64."""
    num_bits = bits.shape[-1]
    # A float matmul with powers of two is exact up to 24 bits (float32) and
    # several times faster than an integer multiply-and-sum.
    dtype = bits.dtype if bits.dtype == torch.float64 else torch.float32
    weights = 2.0 ** torch.arange(num_bits - 1, -1, -1, dtype=dtype, device=bits.device)
    return ((bits > 0.5).to(dtype) @ weights).long()
