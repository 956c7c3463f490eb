"""Split-layer dropout (tokenlink.semantic.fedsl.dropout) and the gradient quantizer
(tokenlink.semantic.fedsl.quantize)."""

import math

import pytest
import torch

from tokenlink.semantic.fedsl.dropout import SplitDropout, pack_kept, unpack_kept
from tokenlink.semantic.fedsl.quantize import GradientQuantizer


# ------------------------------------------------------------------- dropout
@pytest.mark.parametrize("drop_rate", [0.25, 0.5, 0.75])
def test_dropout_rescaling_keeps_the_expected_activation(drop_rate):
    """E[restore(dropout(x))] = x: per element over many draws, within 4.5 standard errors."""
    x = torch.linspace(-2.0, 3.0, 64, dtype=torch.float64)
    dropout = SplitDropout(drop_rate)  # seeded from torch's generator: TOKENLINK_TEST_SEED varies it
    draws = 4000
    total = torch.zeros_like(x)
    for _ in range(draws):
        out = dropout(x)
        total += dropout.restore(out.values, out.mask)
    mean = total / draws
    standard_error = x.abs() * math.sqrt(drop_rate / (1 - drop_rate) / draws)
    assert ((mean - x).abs() <= 4.5 * standard_error + 1e-12).all()
    assert not torch.equal(mean, x)  # it is random


def test_dropout_sends_exactly_the_kept_count():
    dropout = SplitDropout(0.3)
    x = torch.randn(8, 16, 25)
    out = dropout(x)
    assert out.num_kept == int(out.mask.sum()) == out.values.numel()
    torch.testing.assert_close(out.values, x[out.mask])
    n = x.numel()  # kept fraction is Binomial(n, 0.7)
    assert abs(out.num_kept - 0.7 * n) <= 4.5 * math.sqrt(n * 0.7 * 0.3)


def test_dropped_entries_get_zero_gradient_and_kept_ones_the_rescaled_gradient():
    dropout = SplitDropout(0.5, seed=3)
    x = torch.randn(4, 10, requires_grad=True)
    out = dropout(x)
    dropout.restore(out.values, out.mask).sum().backward()
    assert (x.grad[~out.mask] == 0).all()
    torch.testing.assert_close(x.grad[out.mask], torch.full((out.num_kept,), 2.0))


def test_drop_rate_zero_keeps_everything_unscaled():
    x = torch.randn(3, 7)
    dropout = SplitDropout(0.0)
    out = dropout(x)
    assert out.mask.all() and torch.equal(dropout.restore(out.values, out.mask), x)


def test_dropout_masks_repeat_per_seed():
    x = torch.randn(5, 9)
    assert torch.equal(SplitDropout(0.4, seed=7)(x).mask, SplitDropout(0.4, seed=7)(x).mask)
    assert not torch.equal(SplitDropout(0.4, seed=7)(x).mask, SplitDropout(0.4, seed=8)(x).mask)


def test_packing_moves_each_samples_kept_values_to_the_front_and_back():
    x = torch.arange(12.0).reshape(2, 6)
    mask = torch.tensor([[True, False, True, True, False, False], [False, True, False, False, False, False]])
    packed = pack_kept(x, mask, dim=2)
    assert packed.shape == (2, 2, 2)  # longest sample keeps 3 values -> 2 tokens of 2
    assert packed.reshape(2, 4).tolist() == [[0.0, 2.0, 3.0, 0.0], [7.0, 0.0, 0.0, 0.0]]
    assert torch.equal(unpack_kept(packed, mask), x * mask)


@pytest.mark.parametrize("drop_rate", [1.0, -0.1, 2])
def test_drop_rate_outside_unit_interval_raises_naming_drop_rate(drop_rate):
    with pytest.raises(ValueError, match=r"fedsl\.drop_rate.*\[0, 1\)"):
        SplitDropout(drop_rate)


# ----------------------------------------------------------------- quantizer
def test_stochastic_rounding_is_unbiased_and_deterministic_rounding_is_not():
    g = torch.linspace(-1.0, 0.7, 50, dtype=torch.float64)
    draws = 4000
    stochastic = GradientQuantizer(2, stochastic=True)  # seeded from torch's generator
    mean = torch.stack([stochastic(g).values for _ in range(draws)]).mean(dim=0)
    step = stochastic.step(g)
    bound = 4.5 * (step / 2) / math.sqrt(draws)  # each draw's error has std <= step / 2
    assert (mean - g).abs().max() <= bound
    deterministic = GradientQuantizer(2, stochastic=False)(g).values
    assert (deterministic - g).abs().max() > bound  # the same test catches a biased quantizer


def test_32_bits_is_exactly_no_quantization():
    g = torch.randn(3, 40)
    out = GradientQuantizer(32)(g)
    assert torch.equal(out.values, g) and out.num_bits == 32 * g.numel()


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_deterministic_rounding_error_is_at_most_half_a_step(bits):
    g = torch.randn(1000, dtype=torch.float64)
    quantizer = GradientQuantizer(bits, stochastic=False)
    out = quantizer(g)
    assert (out.values - g).abs().max() <= quantizer.step(g) / 2 * (1 + 1e-9)
    assert len(torch.unique(out.values)) <= 2 ** bits


@pytest.mark.parametrize("bits", [1, 3, 8])
def test_quantized_values_lie_on_the_symmetric_grid_and_wire_bits_count_the_scale(bits):
    g = torch.randn(257)
    quantizer = GradientQuantizer(bits, seed=1)
    out = quantizer(g)
    m = g.abs().max()
    levels = (out.values + m) / quantizer.step(g)
    torch.testing.assert_close(levels, torch.round(levels), atol=1e-4, rtol=0)
    assert levels.min() >= -1e-4 and levels.max() <= 2 ** bits - 1 + 1e-4
    assert out.num_bits == bits * 257 + 32


@pytest.mark.parametrize("bits", [0, -3, 2.5])
def test_bits_below_one_raises_naming_bits(bits):
    with pytest.raises(ValueError, match=r"fedsl\.bits"):
        GradientQuantizer(bits)
