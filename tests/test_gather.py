"""ColumnGather equals advanced indexing, and always copies."""

import pytest
import torch
from tokenlink.phy.gather import ColumnGather

INDICES = {
    "one run": torch.arange(3, 40),
    "whole symbols (3 runs)": torch.cat([torch.arange(0, 10), torch.arange(20, 50), torch.arange(60, 64)]),
    "runs out of order, with repeats": torch.cat([torch.arange(30, 40), torch.arange(0, 5), torch.arange(0, 5)]),
    "single positions": torch.tensor([7, 3, 3, 63, 0]),
    "a permutation (many runs: indexing)": torch.randperm(64, generator=torch.Generator().manual_seed(0)),
}


@pytest.mark.parametrize("name", INDICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64, torch.int64])
def test_column_gather_equals_indexing_and_copies(name, dtype):
    index = INDICES[name]
    x = torch.arange(3 * 2 * 64).reshape(3, 2, 64).to(dtype)
    gather = ColumnGather(index)
    out = gather(x)
    assert torch.equal(out, x[..., index])
    out.fill_(-1)  # a copy: the input is untouched
    assert torch.equal(x, torch.arange(3 * 2 * 64).reshape(3, 2, 64).to(dtype))


def test_column_gather_uses_runs_only_when_few():
    assert ColumnGather(INDICES["whole symbols (3 runs)"]).runs == [(0, 10), (20, 50), (60, 64)]
    assert ColumnGather(INDICES["a permutation (many runs: indexing)"]).runs is None
    assert ColumnGather(torch.arange(0, 64, 2), max_runs=31).runs is None  # 32 runs of one
    with pytest.raises(ValueError, match="1-D"):
        ColumnGather(torch.zeros(2, 2, dtype=torch.long))


def test_column_gather_selects_aligned_blocks_as_rows():
    """Whole OFDM symbols of a 14 x 76 grid (pilots on symbols 2 and 11): blocks of 76; an input
    whose length the block does not divide falls back to the runs."""
    sym = [s for s in range(14) if s not in (2, 11)]
    index = torch.tensor([s * 76 + f for s in sym for f in range(76)])
    gather = ColumnGather(index)
    assert gather.block == 76
    x = torch.randn(5, 14 * 76, dtype=torch.complex64)
    assert torch.equal(gather(x), x[..., index])
    y = torch.randn(5, 14 * 76 + 1)
    assert torch.equal(gather(y), y[..., index])
    assert ColumnGather(torch.tensor([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7])).block == 8
    assert ColumnGather(torch.arange(3, 40)).block == 0  # gcd(3, 37) = 1: no blocks
