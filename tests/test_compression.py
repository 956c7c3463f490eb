"""Token compression: shapes, exact identities, the chosen indices and windows, errors, gradients."""

import pytest
import torch
import torch.nn.functional as F

from tokenlink.semantic.compression import (
    COMPRESSION_METHODS,
    AttentionPool,
    UniformSubsample,
    WindowAveragePool,
    build_compressor,
    window_bounds,
)


@pytest.mark.parametrize("method", COMPRESSION_METHODS)
def test_every_method_maps_n_tokens_to_k(method):
    n, k, dim = 64, 16, 32
    k = n if method == "none" else k
    comp = build_compressor(method, seq_len=n, num_tokens=k, dim=dim)
    out = comp(torch.randn(3, n, dim))
    assert out.shape == (3, k, dim)
    assert (comp.seq_len, comp.num_tokens) == (n, k)


@pytest.mark.parametrize("method", ["none", "uniform", "pool"])
def test_k_equal_n_is_exactly_the_identity(method):
    tokens = torch.randn(2, 37, 8)
    out = build_compressor(method, 37, 37, 8)(tokens)
    assert torch.equal(out, tokens)


def test_pool_matrix_with_k_equal_n_is_exactly_the_identity_too():
    # The averaging matrix itself (not just the shortcut) reproduces the tokens bit for bit.
    comp = WindowAveragePool(9, 9)
    tokens = torch.randn(2, 9, 5)
    assert torch.equal(torch.matmul(comp.weights.float(), tokens), tokens)


def test_uniform_keeps_the_first_token_and_stride_n_over_k():
    assert UniformSubsample(10, 4).index.tolist() == [0, 2, 5, 7]
    assert UniformSubsample(64, 16).index.tolist() == list(range(0, 64, 4))
    assert UniformSubsample(5, 1).index.tolist() == [0]
    tokens = torch.arange(10.0).reshape(1, 10, 1).expand(2, 10, 3)
    out = UniformSubsample(10, 4)(tokens)
    assert out[:, :, 0].tolist() == [[0.0, 2.0, 5.0, 7.0]] * 2


def test_pool_equals_a_hand_average_of_tiling_windows():
    tokens = torch.randn(2, 6, 4, dtype=torch.float64)
    out = WindowAveragePool(6, 3)(tokens)
    hand = torch.stack([(tokens[:, 0] + tokens[:, 1]) / 2, (tokens[:, 2] + tokens[:, 3]) / 2,
                        (tokens[:, 4] + tokens[:, 5]) / 2], dim=1)
    torch.testing.assert_close(out, hand, rtol=1e-12, atol=1e-12)


def test_pool_windows_match_adaptive_average_pooling_when_n_is_not_a_multiple_of_k():
    assert window_bounds(7, 3) == [(0, 3), (2, 5), (4, 7)]
    tokens = torch.randn(2, 7, 5)
    ref = F.adaptive_avg_pool1d(tokens.transpose(1, 2), 3).transpose(1, 2)
    torch.testing.assert_close(WindowAveragePool(7, 3)(tokens), ref)


def test_pool_with_a_larger_window_overlaps_and_covers_the_sequence():
    assert window_bounds(8, 3, window=4) == [(0, 4), (2, 6), (4, 8)]
    tokens = torch.randn(1, 8, 2, dtype=torch.float64)
    out = WindowAveragePool(8, 3, window=4)(tokens)
    torch.testing.assert_close(out[0, 1], tokens[0, 2:6].mean(dim=0))


@pytest.mark.parametrize("method", ["uniform", "pool", "attention"])
@pytest.mark.parametrize("k", [65, 0])
def test_k_outside_one_to_n_is_refused(method, k):
    with pytest.raises(ValueError, match=rf"semantic.num_tokens: K={k} .*allowed: 1..64"):
        build_compressor(method, 64, k, 16)


def test_more_than_n_message_names_both_numbers():
    with pytest.raises(ValueError, match="K=65 is more than the N=64 tokens the encoder makes; allowed: 1..64"):
        build_compressor("uniform", 64, 65, 16)


def test_none_with_k_below_n_is_refused():
    with pytest.raises(ValueError, match="semantic.num_tokens: K=16 with method 'none'"):
        build_compressor("none", 64, 16, 8)


def test_unknown_method_is_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match="unknown method 'avg'; allowed: none, uniform, pool, attention"):
        build_compressor("avg", 64, 16, 8)


def test_wrong_sequence_length_at_the_input_is_refused():
    with pytest.raises(ValueError, match=r"semantic.compression.tokens: .*allowed: \[batch, 64, dim\]"):
        UniformSubsample(64, 8)(torch.randn(2, 63, 4))


def test_attention_pool_passes_gradients_to_queries_positions_and_tokens():
    comp = AttentionPool(seq_len=20, num_tokens=5, dim=16, num_heads=4)
    tokens = torch.randn(3, 20, 16, requires_grad=True)
    out = comp(tokens)
    assert out.shape == (3, 5, 16)
    out.square().mean().backward()
    for name in ("queries", "pos"):
        grad = getattr(comp, name).grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert tokens.grad is not None and tokens.grad.abs().sum() > 0
    assert all(p.grad is not None for p in comp.parameters())


def test_attention_pool_ignores_masked_tokens():
    comp = AttentionPool(10, 2, 8, num_heads=2).eval()
    tokens = torch.randn(1, 10, 8)
    mask = torch.zeros(1, 10, dtype=torch.bool)
    mask[0, 6:] = True
    changed = tokens.clone()
    changed[0, 6:] = 100.0
    torch.testing.assert_close(comp(tokens, mask), comp(changed, mask))


def test_attention_pool_needs_heads_dividing_dim():
    with pytest.raises(ValueError, match="semantic.compression.num_heads"):
        AttentionPool(10, 2, 10, num_heads=4)
