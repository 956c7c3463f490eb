"""Scalar and vector quantizers: levels, bits, soft decoding, calibration, errors."""

import itertools
import math

import numpy as np
import pytest
import torch
from tokenlink.bridge.quantization import ScalarQuantizer, VectorQuantizer, bits_to_index, index_to_bits


def _fitted_vq(codebook_size=16, subvector_dim=4, dtype=torch.float32):
    vq = VectorQuantizer(codebook_size, subvector_dim).to(dtype)
    vq.fit(torch.randn(64, 32, 8, dtype=dtype), generator=torch.Generator().manual_seed(0))
    return vq


def test_levels_and_bits_of_a_two_bit_quantizer_by_hand():
    q = ScalarQuantizer(2, clip=(0.0, 4.0))
    x = torch.tensor([[0.1, 1.2, 2.7, 3.2, -5.0, 9.0]])
    assert q(x).tolist() == [[0.5, 1.5, 2.5, 3.5, 0.5, 3.5]]  # out-of-range values saturate
    assert q.encode(torch.tensor([3.2])).tolist() == [1.0, 1.0]
    assert q.encode(torch.tensor([1.2])).tolist() == [0.0, 1.0]  # index 1, MSB first


def test_quantization_error_inside_the_range_is_uniform_with_variance_step_squared_over_12():
    q = ScalarQuantizer(5, clip=(-2.0, 2.0))
    x = torch.rand(200_000, dtype=torch.float64) * 4 - 2
    step = 4 / 32
    assert float((q(x) - x).square().mean()) == pytest.approx(step**2 / 12, rel=0.03)


@pytest.mark.parametrize("num_bits", range(1, 17))
def test_index_bits_round_trip(num_bits):
    index = torch.randint(0, 1 << num_bits, (1000,))
    bits = index_to_bits(index, num_bits)
    assert bits.shape == (1000, num_bits) and set(bits.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(bits_to_index(bits), index)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["scalar", "vector"])
def test_hard_and_noiseless_soft_decoding_equal_plain_quantization_exactly(kind, dtype):
    q = ScalarQuantizer(7, clip=(-2.5, 2.5)) if kind == "scalar" else _fitted_vq(dtype=dtype)
    x = torch.randn(4, 32, 8, dtype=dtype)
    bits = q.encode(x)
    assert bits.dtype == dtype and bits.shape == (4, 32, q.bits_per_token(8))
    assert torch.equal(q.decode_hard(bits), q(x))
    llr = (2 * bits - 1) * math.inf
    assert torch.equal(q.decode_soft(llr), q(x))


def test_soft_decoding_with_no_information_returns_the_mean_level():
    q = ScalarQuantizer(4, clip=(-1.0, 3.0))
    torch.testing.assert_close(q.decode_soft(torch.zeros(2, 5 * 4)), torch.full((2, 5), 1.0))
    vq = _fitted_vq()
    torch.testing.assert_close(vq.decode_soft(torch.zeros(1, 8)), vq.codebook.detach().mean(0).repeat(2)[None])


def test_soft_decoding_matches_brute_force_enumeration():
    gen = torch.Generator().manual_seed(1)
    llr = 2 * torch.randn(3, 4, generator=gen, dtype=torch.float64)  # one 4-bit value / index per row
    p1 = torch.sigmoid(llr)
    q = ScalarQuantizer(4, clip=(-1.0, 1.0))
    vq = VectorQuantizer(16, 2).double()
    for row in range(3):
        expect_s, expect_v = 0.0, torch.zeros(2, dtype=torch.float64)
        for k, bits in enumerate(itertools.product([0, 1], repeat=4)):
            prob = math.prod(float(p1[row, j] if b else 1 - p1[row, j]) for j, b in enumerate(bits))
            expect_s += prob * (-1.0 + (k + 0.5) * 2 / 16)
            expect_v += prob * vq.codebook.detach()[k]
        assert float(q.decode_soft(llr[row])) == pytest.approx(expect_s, rel=1e-12)
        torch.testing.assert_close(vq.decode_soft(llr[row]).detach(), expect_v)


@pytest.mark.parametrize("kind", ["scalar", "vector"])
def test_soft_decoding_beats_hard_decisions_on_a_noisy_bpsk_channel(kind):
    """BPSK over AWGN at Eb/N0 = 0 dB, LLR = 2 y / sigma^2: the conditional
    mean has a clearly lower MSE than the value of the hard-decided bits."""
    gen = torch.Generator().manual_seed(2)
    q = ScalarQuantizer(4, clip=(-3.0, 3.0)) if kind == "scalar" else _fitted_vq()
    x = torch.randn(64, 64, 8, generator=gen)
    bits = q.encode(x)
    sigma2 = 1.0
    y = (2 * bits - 1) + math.sqrt(sigma2) * torch.randn(bits.shape, generator=gen)
    llr = 2 * y / sigma2
    with torch.no_grad():
        mse_hard = float((q.decode_hard((llr > 0).float()) - x).square().mean())
        mse_soft = float((q.decode_soft(llr) - x).square().mean())
    assert mse_soft < 0.8 * mse_hard


def test_calibration_rules():
    x = torch.randn(100, 50, 3, dtype=torch.float64) * torch.tensor([1.0, 2.0, 5.0], dtype=torch.float64)
    q = ScalarQuantizer(4, calibration="minmax")
    q.calibrate(x)
    assert float(q.lo) == float(x.min()) and float(q.hi) == float(x.max())
    q = ScalarQuantizer(4, calibration="std", calibration_param=2.0)
    q.calibrate(x)
    assert float(q.hi) == pytest.approx(float(x.mean() + 2 * x.std(unbiased=False)))
    q = ScalarQuantizer(4, calibration="percentile", calibration_param=1.0)
    q.calibrate(x)
    assert float(q.lo) == pytest.approx(np.percentile(x.numpy(), 1.0))
    assert float(q.hi) == pytest.approx(np.percentile(x.numpy(), 99.0))
    q = ScalarQuantizer(4, calibration="minmax", per_dim=True)
    q.calibrate(x)
    assert q.lo.shape == (3,)
    constant = ScalarQuantizer(2, calibration="minmax")
    constant.calibrate(torch.full((4, 2), 1.5))
    assert float(constant.lo) < 1.5 < float(constant.hi)
    torch.testing.assert_close(q.hi, x.reshape(-1, 3).amax(0))
    assert bool((q(x) <= q.hi).all())


@pytest.mark.parametrize("per_dim", [False, True])
def test_state_dict_round_trip_restores_the_range(per_dim):
    q = ScalarQuantizer(4, per_dim=per_dim)
    x = torch.randn(10, 10, 4)
    q.calibrate(x)
    fresh = ScalarQuantizer(4, per_dim=per_dim)
    fresh.load_state_dict(q.state_dict())
    assert torch.equal(fresh.lo, q.lo) and torch.equal(fresh.hi, q.hi)
    assert torch.equal(fresh(x), q(x))


def test_per_dim_percentile_calibration_matches_numpy_per_channel():
    x = torch.randn(400, 3, dtype=torch.float64) * torch.tensor([1.0, 2.0, 5.0], dtype=torch.float64)
    q = ScalarQuantizer(4, calibration="percentile", calibration_param=2.5, per_dim=True)
    q.calibrate(x)
    np.testing.assert_allclose(q.lo.numpy(), np.percentile(x.numpy(), 2.5, axis=0))
    np.testing.assert_allclose(q.hi.numpy(), np.percentile(x.numpy(), 97.5, axis=0))


@pytest.mark.parametrize("kind", ["scalar", "vector"])
def test_straight_through_gradient_is_the_identity(kind):
    q = ScalarQuantizer(3, clip=(-1.0, 1.0)) if kind == "scalar" else _fitted_vq()
    x = torch.randn(2, 5, 8, requires_grad=True)
    q(x).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


def test_kmeans_fit_lowers_the_quantization_error_and_the_vq_loss_trains_the_codebook():
    x = torch.randn(32, 64, 8)
    vq = VectorQuantizer(32, 4)
    before = float((vq(x) - x).square().mean())
    vq.fit(x, generator=torch.Generator().manual_seed(0))
    after = float((vq(x) - x).square().mean())
    assert after < 0.8 * before
    vq.loss(x).backward()
    assert vq.codebook.grad is not None and float(vq.codebook.grad.abs().sum()) > 0


@pytest.mark.parametrize("bits", [0, 17, 2.5])
def test_bits_per_value_outside_1_to_16_is_rejected(bits):
    with pytest.raises(ValueError, match=r"bits_per_value must be an integer in 1\.\.16"):
        ScalarQuantizer(bits, clip=(0.0, 1.0))


def test_bad_inputs_are_rejected_with_the_argument_named():
    q = ScalarQuantizer(4, clip=(0.0, 1.0))
    with pytest.raises(TypeError, match="tokens must be a real floating tensor"):
        q.encode(torch.ones(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="tokens contain NaN or Inf"):
        q.encode(torch.tensor([0.5, float("nan")]))
    with pytest.raises(ValueError, match=r"llr must have last dimension dim \* bits_per_value"):
        q.decode_soft(torch.zeros(2, 5))
    with pytest.raises(RuntimeError, match=r"pass clip=\(lo, hi\) or call calibrate"):
        ScalarQuantizer(4).encode(torch.zeros(3))
    with pytest.raises(ValueError, match="clip must be finite"):
        ScalarQuantizer(4, clip=(1.0, 1.0))
    with pytest.raises(ValueError, match="codebook_size must be a power of two"):
        VectorQuantizer(100, 4)
    with pytest.raises(ValueError, match=r"token dim \(10\) must be divisible by subvector_dim \(4\)"):
        VectorQuantizer(16, 4).encode(torch.zeros(1, 10))
    with pytest.raises(ValueError, match="soft decoding supports codebook_size <= 4096"):
        VectorQuantizer(8192, 2).decode_soft(torch.zeros(1, 13))


def test_percentile_calibration_of_a_tensor_too_large_for_torch_quantile_uses_a_subsample(monkeypatch):
    import tokenlink.bridge.quantization as quantization

    monkeypatch.setattr(quantization, "_QUANTILE_MAX", 20_000)  # stands in for torch.quantile's 16M limit
    x = torch.randn(100_003, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    q = ScalarQuantizer(4, calibration="percentile", calibration_param=5.0, per_dim=True)
    q.calibrate(x)
    np.testing.assert_allclose(q.lo.numpy(), np.percentile(x.numpy(), 5.0, axis=0), atol=0.05)
    np.testing.assert_allclose(q.hi.numpy(), np.percentile(x.numpy(), 95.0, axis=0), atol=0.05)
