"""Bit helpers: indices <-> bits, regrouping words into symbol labels, bit counts."""

import pytest
import torch
from tokenlink.phy.bits import bit_differences, bits_to_index, can_regroup, index_to_bits, regroup


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
