"""A fixed gather along the last axis, as slice copies where the index is a few contiguous runs.

The receiver reads the same REs of every slot: the data REs, the pilot REs, and
for each interpolation weight one pilot per data RE. On a regular grid these
indices are a handful of contiguous runs (whole OFDM symbols, or one symbol's
subcarriers). Advanced indexing (``x[..., index]``) goes element by element;
on CPU it is several times slower than selecting whole blocks (``index_select``
of rows of a ``[..., m / L, L]`` view, when every run is made of aligned blocks
of ``L`` positions) or copying the runs as slices.
"""

from __future__ import annotations

import math

import torch

__all__ = ["ColumnGather"]


class ColumnGather:
    """``x[..., index]`` (always a new tensor) for one fixed 1-D ``index``.

    :param index: [n], integer. Positions on the last axis, any order, repeats allowed.
    :param max_runs: Above this many runs of consecutive positions (``i, i + 1, ...``),
        and without aligned blocks, advanced indexing is used: each run costs a slice.
    :param min_block: Smallest block length ``L`` worth selecting as rows.

    :input x: [..., m], any dtype.
    :output: [..., n], a copy (in-place operations on it leave ``x`` unchanged).
    """

    def __init__(self, index: torch.Tensor, max_runs: int = 32, min_block: int = 8) -> None:
        if index.dim() != 1:
            raise ValueError(f"index must be 1-D, got shape {list(index.shape)}")
        self.index = index
        flat = index.detach().cpu().long()
        breaks = (torch.nonzero(flat[1:] - flat[:-1] != 1).squeeze(1) + 1).tolist()
        starts = [0, *breaks]
        stops = [*breaks, flat.shape[0]]
        runs = [(int(flat[a]), int(flat[a]) + (b - a)) for a, b in zip(starts, stops) if b > a]
        self.runs = runs if 0 < len(runs) <= max_runs else None
        # Aligned blocks: every run starts at a multiple of L and is a multiple of L long.
        block = math.gcd(*(v for a, b in runs for v in (a, b - a))) if runs else 0
        self.block = block if block >= min_block else 0
        self._blocks = None
        if self.block:
            blocks = [k for a, b in runs for k in range(a // block, b // block)]
            self._blocks = torch.tensor(blocks, dtype=torch.long, device=index.device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        m = x.shape[-1]
        if self.block and m % self.block == 0:
            rows = x.reshape(*x.shape[:-1], m // self.block, self.block)
            out = rows.index_select(-2, self._blocks.to(x.device))
            return out.reshape(*x.shape[:-1], -1)
        if self.runs is None:
            return x[..., self.index.to(x.device)]
        if len(self.runs) == 1:
            a, b = self.runs[0]
            return x[..., a:b].clone()
        return torch.cat([x[..., a:b] for a, b in self.runs], dim=-1)
