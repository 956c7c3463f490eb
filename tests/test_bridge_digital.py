"""Digital tokens over the OFDM link: TER vs BER, infinite SNR, soft vs hard."""

import math

import pytest
import torch
from tokenlink.bridge import TokenLink, bit_error_rate, token_error_rate
from tokenlink.phy import set_seed


def _digital(phy: dict, **digital) -> TokenLink:
    digital.setdefault("clip", (-3.0, 3.0))
    return TokenLink({"mode": "digital", "phy": phy, "digital": digital})


def test_token_error_rate_counts_a_token_wrong_if_any_bit_is():
    bits = torch.zeros(1, 4, 3)
    bits_hat = bits.clone()
    bits_hat[0, 0, 0] = 1
    bits_hat[0, 2, :] = 1
    assert float(token_error_rate(bits, bits_hat)) == pytest.approx(0.5)
    assert float(bit_error_rate(bits, bits_hat)) == pytest.approx(4 / 12)


def test_awgn_token_error_rate_equals_one_minus_one_minus_ber_to_bits_per_token():
    """QPSK over AWGN: bit errors are independent (I and Q see independent
    noise), so TER = 1 - (1 - BER)^bits_per_token within statistical error."""
    link = _digital({"modulation": "qpsk", "channel": {"model": "awgn"}}, bits_per_value=4)
    tokens = torch.randn(64, 256, 4)  # 16 bits per token
    out = link.transmit(tokens, snr_db=7.0, return_metrics=True)
    ber, ter = float(out.metrics.ber.mean()), float(out.metrics.ter.mean())
    predicted = 1 - (1 - ber) ** 16
    n_tokens = tokens.shape[0] * tokens.shape[1]
    sigma = math.sqrt(predicted * (1 - predicted) / n_tokens + (16 * (1 - ber) ** 15) ** 2 * ber / (n_tokens * 16))
    assert 0.05 < ter < 0.5  # a regime where the comparison means something
    assert abs(ter - predicted) < 4 * sigma


@pytest.mark.parametrize(
    "phy",
    [
        {"modulation": "256qam", "channel": {"model": "awgn"}, "receiver": {"estimator": "ls"}},
        {"modulation": "16qam", "channel": {"model": "tdl", "speed_mps": 10.0},
         "receiver": {"estimator": "perfect", "equalizer": "lmmse"}},
        {"modulation": "64qam", "channel": {"model": "rayleigh"}, "receiver": {"equalizer": "zf"}},
    ],
)
@pytest.mark.parametrize("dequantization", ["hard", "soft"])
def test_infinite_snr_equals_plain_quantization_exactly(phy, dequantization):
    link = _digital(phy, bits_per_value=6, dequantization=dequantization)
    tokens = torch.randn(3, 40, 10)
    out = link.transmit(tokens, snr_db=math.inf, return_metrics=True)
    assert torch.equal(out.tokens, link.quantizer(tokens))
    assert float(out.metrics.ber.max()) == 0.0


@pytest.mark.parametrize("dequantization", ["hard", "soft"])
def test_vector_quantized_tokens_at_infinite_snr_equal_the_codebook_lookup(dequantization):
    link = TokenLink({"mode": "digital", "phy": {"modulation": "16qam"},
                      "digital": {"quantizer": "vector", "codebook_size": 64, "subvector_dim": 4,
                                  "dequantization": dequantization}})
    tokens = torch.randn(4, 16, 12)
    link.calibrate(tokens)
    rx = link(tokens, snr_db=math.inf)
    assert torch.equal(rx, link.quantizer(tokens))
    assert link.transmit(tokens, snr_db=math.inf).resources.num_bits == 16 * 3 * 6


def test_soft_dequantization_has_lower_mse_than_hard_at_low_snr():
    tokens = torch.randn(16, 64, 16)
    mse = {}
    for mode in ("hard", "soft"):
        link = _digital({"modulation": "16qam", "channel": {"model": "awgn"}}, bits_per_value=4,
                        dequantization=mode)
        set_seed(9)  # same noise for both
        mse[mode] = float(link.transmit(tokens, snr_db=4.0, return_metrics=True).metrics.mse.mean())
    assert mse["soft"] < 0.8 * mse["hard"]


def test_straight_through_estimator_passes_identity_gradient():
    link = _digital({"channel": {"model": "awgn"}})
    tokens = torch.randn(2, 8, 6, requires_grad=True)
    link(tokens, snr_db=3.0).sum().backward()
    assert torch.equal(tokens.grad, torch.ones_like(tokens))
    detached = _digital({"channel": {"model": "awgn"}}, ste=False)
    assert not detached(tokens, snr_db=3.0).requires_grad


def test_calibration_sets_the_clipping_range_from_data():
    link = TokenLink({"mode": "digital", "digital": {"calibration": "minmax"}})
    tokens = torch.linspace(-2.0, 5.0, 60).reshape(1, 10, 6)
    link.calibrate(tokens)
    assert float(link.quantizer.lo) == pytest.approx(-2.0) and float(link.quantizer.hi) == pytest.approx(5.0)


@pytest.mark.parametrize("demapping", ["maxlog", "app"])
def test_hard_decisions_without_llrs_equal_the_llr_signs(demapping):
    link = _digital({"modulation": "64qam", "demapping": demapping, "channel": {"model": "tdl"},
                     "receiver": {"estimator": "ls"}}, bits_per_value=5)
    tokens = torch.randn(4, 32, 12)
    set_seed(21)
    fast = link.transmit(tokens, snr_db=12.0, return_metrics=True)
    set_seed(21)
    full = link.transmit(tokens, snr_db=12.0, return_metrics=True, return_llr=True)
    assert fast.llr is None and full.llr.shape == full.bits.shape == (4, 32, 60)
    assert torch.equal(fast.tokens, full.tokens)
    assert torch.equal(fast.metrics.ber, full.metrics.ber) and float(full.metrics.ber.mean()) > 0


@pytest.mark.parametrize(
    "modulation, digital",
    [
        ("16qam", {"bits_per_value": 4}),  # an index is a label
        ("16qam", {"bits_per_value": 2}),  # two indices per label
        ("qpsk", {"bits_per_value": 6}),  # three labels per index
        ("256qam", {"bits_per_value": 16}),
        ("bpsk", {"bits_per_value": 3}),
        ("16qam", {"quantizer": "vector", "codebook_size": 16, "subvector_dim": 2}),
        ("qpsk", {"quantizer": "vector", "codebook_size": 16, "subvector_dim": 1}),
    ],
)
def test_hard_maxlog_decisions_carried_as_integers_equal_the_bit_path(modulation, digital):
    """Without LLRs, quantization indices travel as symbol labels (no bit
    tensors); tokens, BER and TER equal the path through bits and LLR signs.
    The frame length (7 x 5 values) leaves a partial symbol and a partial slot."""
    link = _digital({"modulation": modulation, "demapping": "maxlog", "channel": {"model": "tdl"},
                     "receiver": {"estimator": "ls"}}, **digital)
    tokens = torch.randn(3, 7, 10)
    link.calibrate(tokens)
    set_seed(5)
    words = link.transmit(tokens, snr_db=8.0, return_metrics=True, return_realization=True)
    set_seed(5)
    bits = link.transmit(tokens, snr_db=8.0, return_metrics=True, return_realization=True, return_llr=True)
    assert words.bits is None and bits.bits is not None  # the integer path was taken
    assert torch.equal(words.tokens, bits.tokens)
    torch.testing.assert_close(words.metrics.ber, bits.metrics.ber)
    torch.testing.assert_close(words.metrics.ter, bits.metrics.ter)
    assert 0 < float(bits.metrics.ber.mean()) < 0.5
    torch.testing.assert_close(words.realization.no_eff, bits.realization.no_eff)
