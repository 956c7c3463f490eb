"""Bit helpers: indices <-> bits, regrouping words into symbol labels, bit counts."""

import pytest
import torch
from tokenlink.phy.bits import bit_differences, bits_to_index, can_regroup, index_to_bits, random_bits, regroup


@pytest.mark.parametrize("from_bits, to_bits", [(4, 4), (2, 4), (1, 8), (6, 2), (8, 4), (16, 8), (3, 6), (12, 4)])
@pytest.mark.parametrize("n", [1, 5, 12])
def test_regroup_is_the_same_bit_stream_in_other_words(from_bits, to_bits, n):
    gen = torch.Generator().manual_seed(n)
    words = torch.randint(0, 1 << from_bits, (3, n), generator=gen)
    stream = index_to_bits(words, from_bits).flatten(-2)  # [3, n * from_bits]
    out = regroup(words, from_bits, to_bits)
    pad = -stream.shape[-1] % to_bits
    padded = torch.cat([stream, stream.new_zeros(3, pad)], dim=-1)
    assert torch.equal(out, bits_to_index(padded.unflatten(-1, (-1, to_bits))))
    assert torch.equal(regroup(out, to_bits, from_bits)[:, :n], words)


def test_regroup_rejects_sizes_that_do_not_divide():
    assert not can_regroup(3, 4) and can_regroup(2, 6)
    with pytest.raises(ValueError, match="3-bit words into 4-bit"):
        regroup(torch.zeros(2, 3, dtype=torch.long), 3, 4)


@pytest.mark.parametrize("num_bits", [1, 5, 16, 20])
def test_bit_differences_count_the_differing_bits(num_bits):
    gen = torch.Generator().manual_seed(num_bits)
    a = torch.randint(0, 1 << num_bits, (50,), generator=gen)
    b = torch.randint(0, 1 << num_bits, (50,), generator=gen)
    expected = (index_to_bits(a, num_bits) != index_to_bits(b, num_bits)).sum(dim=-1)
    assert torch.equal(bit_differences(a, b, num_bits), expected)


def test_random_bits_are_uniform_and_independent():
    """400k bits: every one of the 16 positions of a draw unbiased, neighbours
    (inside a draw and across draws) uncorrelated, 4-bit patterns uniform;
    5-sigma bounds (a fixed seed: the test is deterministic)."""
    gen = torch.Generator().manual_seed(7)
    bits = random_bits([25_000, 16], torch.float64, generator=gen)  # one draw per row
    assert set(bits.unique().tolist()) == {0.0, 1.0}
    n = bits.shape[0]
    assert float((bits.mean(0) - 0.5).abs().max()) < 5 * 0.5 / n ** 0.5
    s = 2 * bits.flatten() - 1  # +-1, the stream in order
    assert abs(float((s[1:] * s[:-1]).mean())) < 5 / s.numel() ** 0.5
    counts = torch.bincount(bits_to_index(bits.reshape(-1, 4)), minlength=16).double()
    expected = bits.numel() / 4 / 16
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 45.0  # 15 degrees of freedom: P(chi2 > 45) ~ 7e-5


def test_random_bits_shape_seed_and_errors():
    a = random_bits([3, 2, 37], generator=torch.Generator().manual_seed(1))
    b = random_bits([3, 2, 37], generator=torch.Generator().manual_seed(1))
    assert a.shape == (3, 2, 37) and a.dtype == torch.float32 and a.is_contiguous()
    assert torch.equal(a, b)
    assert not torch.equal(a, random_bits([3, 2, 37], generator=torch.Generator().manual_seed(2)))
    assert random_bits([4, 0]).shape == (4, 0)
    with pytest.raises(ValueError, match="non-negative"):
        random_bits([2, -1])
