"""Alignment losses: InfoNCE against hand-computed values, symmetry, gradients,
the temperature's parameterisation, pooling, MSE and retrieval recall."""

import math

import pytest
import torch

from tokenlink.semantic.losses import (
    Temperature,
    alignment_loss,
    info_nce,
    pool_tokens,
    reconstruction_mse,
    recall_at_k,
)


def test_info_nce_equals_a_hand_computed_value():
    # normalize(a) = [[0.6, 0.8], [0, 1]], normalize(b) = [[1, 0], [0, 1]]
    a = torch.tensor([[3.0, 4.0], [0.0, 2.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, 0.0], [0.0, 5.0]], dtype=torch.float64)
    # cosines [[0.6, 0.8], [0, 1]] / t=0.5 -> logits [[1.2, 1.6], [0, 2]]
    row0 = -1.2 + math.log(math.exp(1.2) + math.exp(1.6))
    row1 = -2.0 + math.log(math.exp(0.0) + math.exp(2.0))
    col0 = -1.2 + math.log(math.exp(1.2) + math.exp(0.0))
    col1 = -2.0 + math.log(math.exp(1.6) + math.exp(2.0))
    expected = 0.5 * ((row0 + row1) / 2 + (col0 + col1) / 2)
    assert info_nce(a, b, 0.5).item() == pytest.approx(expected, rel=1e-12)
    assert info_nce(a, b, torch.tensor(0.5, dtype=torch.float64)).item() == pytest.approx(expected, rel=1e-12)


def test_info_nce_of_three_orthogonal_matches_is_log_of_one_plus_two_exp():
    # Identical orthonormal embeddings: logits = I / t, loss = log(e^(1/t) + 2) - 1/t in every row and column.
    eye = torch.eye(3, dtype=torch.float64)
    t = 0.25
    expected = math.log(math.exp(1 / t) + 2.0) - 1 / t
    assert info_nce(2.0 * eye, eye, t).item() == pytest.approx(expected, rel=1e-12)


def test_info_nce_is_symmetric_in_its_arguments():
    a, b = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    torch.testing.assert_close(info_nce(a, b, 0.07), info_nce(b, a, 0.07))


def test_info_nce_is_lower_for_matched_than_for_shuffled_pairs():
    a = torch.randn(16, 32)
    b = a + 0.1 * torch.randn(16, 32)
    assert info_nce(a, b, 0.07) < info_nce(a, b.roll(1, dims=0), 0.07)


def test_info_nce_passes_gradcheck_in_float64():
    a = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(info_nce, (a, b, t))


def test_info_nce_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="semantic.losses.info_nce"):
        info_nce(torch.randn(4, 3), torch.randn(5, 3), 0.07)


def test_learnable_temperature_gets_a_gradient_and_a_fixed_one_does_not():
    a, b = torch.randn(8, 4), torch.randn(8, 4)
    learned = Temperature(0.07, learnable=True)
    info_nce(a, b, learned()).backward()
    assert learned.log_inv_t.grad is not None and learned.log_inv_t.grad.abs() > 0
    fixed = Temperature(0.07, learnable=False)
    assert list(fixed.parameters()) == []
    assert not fixed().requires_grad


def test_temperature_starts_at_init_and_is_clamped_at_one_hundredth():
    temp = Temperature(0.07, learnable=True)
    assert temp().item() == pytest.approx(0.07, rel=1e-6)
    with torch.no_grad():
        temp.log_inv_t.fill_(10.0)              # t = e^-10 without the clamp
    assert temp().item() == pytest.approx(0.01, rel=1e-6)


def test_pool_tokens_is_the_mean_and_respects_the_mask():
    tokens = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    torch.testing.assert_close(pool_tokens(tokens), tokens.mean(dim=1))
    mask = torch.tensor([[True, True, False]])
    torch.testing.assert_close(pool_tokens(tokens, mask), torch.tensor([[2.0, 3.0]]))


def test_reconstruction_mse_is_the_mean_squared_difference():
    pooled = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    text = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    assert reconstruction_mse(pooled, text).item() == pytest.approx((0 + 4 + 1 + 1) / 4)


def test_alignment_loss_is_info_nce_plus_weighted_mse_of_the_pooled_tokens():
    tokens, text = torch.randn(5, 7, 6, requires_grad=True), torch.randn(5, 6)
    loss, parts = alignment_loss(tokens, text, 0.1, mse_weight=0.5)
    pooled = tokens.mean(dim=1)
    torch.testing.assert_close(loss, info_nce(pooled, text, 0.1) + 0.5 * reconstruction_mse(pooled, text))
    torch.testing.assert_close(parts["info_nce"] + 0.5 * parts["mse"], loss.detach())
    assert not parts["info_nce"].requires_grad
    loss.backward()
    assert tokens.grad is not None


def test_recall_at_k_on_a_constructed_example():
    keys = torch.eye(4)
    query = torch.tensor([
        [1.0, 0.0, 0.0, 0.0],     # key 0 first: hit at 1
        [0.0, 0.5, 1.0, 0.0],     # key 2 before key 1: rank 2
        [0.0, 0.0, 0.2, 1.0],     # key 3 before key 2: rank 2
        [1.0, 0.9, 0.8, 0.1],     # key 3 last: rank 4
    ])
    recall = recall_at_k(query, keys, ks=(1, 2, 3, 5))
    assert recall == {"recall@1": 0.25, "recall@2": 0.75, "recall@3": 0.75, "recall@5": 1.0}
    chunked = recall_at_k(query, keys, ks=(1, 2, 3, 5), chunk_size=3)
    assert chunked == recall
