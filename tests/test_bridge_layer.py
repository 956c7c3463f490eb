"""The TokenLink layer: same realization for both paths, SNR per sample,
resource accounting, framing, realizations for traces, bad input."""

import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from tokenlink.bridge import TokenLink, shares_memory
from tokenlink.bridge.framing import pack, unpack

TDL_LS = {"channel": {"model": "tdl", "speed_mps": 5.0}, "receiver": {"estimator": "ls", "equalizer": "lmmse"}}


def test_pack_and_unpack_fill_slots_in_order_and_drop_padding():
    payload = torch.arange(10.0).reshape(2, 5)
    slots = pack(payload, 3, 2)
    assert slots.tolist() == [[0, 1, 2], [3, 4, 0], [5, 6, 7], [8, 9, 0]]
    assert torch.equal(unpack(slots, 2, 5), payload)
    with pytest.raises(ValueError, match="do not fit"):
        pack(payload, 2, 2)


def test_resource_accounting_of_the_benchmark_frame():
    """14 x 76 grid, 2 pilot symbols: 912 data REs and 152 pilot REs per slot,
    slot = 14 (76 + 6) / (76 * 30 kHz)."""
    link = TokenLink({"digital": {"clip": (-1.0, 1.0), "bits_per_value": 4}, "phy": {"modulation": "16qam"}})
    tokens = torch.randn(2, 128, 256)
    slot_s = 14 * (76 + 6) / (76 * 30e3)
    analog = link.transmit(tokens, mode="analog", snr_db=10.0).resources
    assert (analog.channel_uses, analog.num_slots, analog.num_ofdm_symbols) == (16384, 18, 252)
    assert (analog.data_res, analog.pilot_res, analog.num_bits) == (18 * 912, 18 * 152, None)
    assert analog.airtime_s == pytest.approx(18 * slot_s)
    assert analog.values_per_channel_use == 2.0
    assert analog.fill == pytest.approx(16384 / (18 * 912))
    digital = link.transmit(tokens, mode="digital", snr_db=10.0).resources
    assert (digital.num_bits, digital.channel_uses, digital.num_slots) == (131072, 32768, 36)
    assert digital.spectral_efficiency_bps_hz == pytest.approx(131072 / (36 * slot_s * 76 * 30e3))
    assert digital.batch_size == 2 and digital.as_dict()["mode"] == "digital"


def test_both_paths_see_the_same_channel_realization_and_noise_level():
    link = TokenLink({"phy": TDL_LS, "digital": {"clip": (-3.0, 3.0)}})
    tokens = torch.randn(3, 64, 32)
    snr = torch.tensor([0.0, 10.0, 20.0])
    both = link.transmit_both(tokens, snr_db=snr, return_realization=True, return_metrics=True)
    ra, rd = both["analog"].realization, both["digital"].realization
    assert ra.h_freq.shape == (3, 2, 14, 76) and rd.h_freq.shape == (3, 3, 14, 76)
    assert torch.equal(ra.h_freq, rd.h_freq[:, :2])
    assert not torch.equal(rd.h_freq[:, 1], rd.h_freq[:, 2])  # every slot has its own draw
    assert torch.equal(ra.no, rd.no) and torch.equal(ra.snr_db, snr)
    torch.testing.assert_close(ra.no, 10 ** (-snr / 10))
    assert ra.no_eff.shape == (3, 64 * 16)
    for out in both.values():
        assert out.tokens.shape == tokens.shape
        assert bool((out.metrics.mse[0] > out.metrics.mse[2]))  # 0 dB worse than 20 dB


def test_realization_exports_to_numpy_without_copies():
    link = TokenLink({"phy": TDL_LS})
    real = link.transmit(torch.randn(2, 8, 8), snr_db=10.0, return_realization=True).realization
    arrays = real.to_numpy()
    assert arrays["h_freq"].dtype == np.complex64 and arrays["h_freq"].shape == (2, 1, 14, 76)
    for name, arr in arrays.items():
        assert shares_memory(getattr(real, name), arr)


def test_training_draws_one_snr_per_sample_from_the_range_and_eval_uses_the_given_one():
    link = TokenLink({"phy": TDL_LS, "train_snr_db_range": (0.0, 20.0), "snr_db": 7.0})
    tokens = torch.randn(256, 4, 8)
    link.train()
    snr = link.transmit(tokens, return_realization=True).realization.snr_db
    assert float(snr.min()) >= 0.0 and float(snr.max()) <= 20.0
    assert float(snr.std()) > 4.0  # uniform on [0, 20]: std 5.77
    link.eval()
    assert torch.all(link.transmit(tokens, return_realization=True).realization.snr_db == 7.0)
    assert torch.all(link.transmit(tokens, snr_db=3.0, return_realization=True).realization.snr_db == 3.0)


def test_output_keeps_input_dtype_and_shape_for_odd_dims():
    link = TokenLink({"phy": TDL_LS})
    for dtype in (torch.float64, torch.bfloat16):
        tokens = torch.randn(2, 5, 7, dtype=dtype)
        rx = link(tokens, snr_db=30.0)
        assert rx.dtype == dtype and rx.shape == tokens.shape


def test_same_seed_gives_the_same_received_tokens():
    from tokenlink.phy import set_seed

    link = TokenLink({"phy": TDL_LS})
    tokens = torch.randn(2, 16, 16)
    set_seed(4)
    a = link(tokens, snr_db=5.0)
    set_seed(4)
    assert torch.equal(a, link(tokens, snr_db=5.0))


@pytest.mark.parametrize(
    "tokens, error, match",
    [
        (torch.ones(2, 3, 4, dtype=torch.int64), TypeError, "tokens must be a real floating tensor"),
        (torch.ones(2, 3, 4, dtype=torch.complex64), TypeError, "tokens must be a real floating tensor"),
        (torch.ones(3, 4), ValueError, r"tokens must have shape \[batch, num_tokens, dim\]"),
        (torch.ones(2, 0, 4), ValueError, r"tokens must have shape \[batch, num_tokens, dim\]"),
        (torch.tensor([[[1.0, float("nan")]]]), ValueError, "tokens contain NaN or Inf"),
        (torch.tensor([[[1.0, float("inf")]]]), ValueError, "tokens contain NaN or Inf"),
        (np.ones((2, 3, 4)), TypeError, "tokens must be a torch.Tensor"),
    ],
)
def test_bad_tokens_are_rejected_with_the_argument_named(tokens, error, match):
    with pytest.raises(error, match=match):
        TokenLink()(tokens, snr_db=10.0)


def test_bad_snr_and_mode_are_rejected():
    link = TokenLink()
    tokens = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match=r"snr_db must be a scalar or have shape \[batch=2\]"):
        link(tokens, snr_db=torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="snr_db must be a number in dB or \\+inf"):
        link(tokens, snr_db=float("nan"))
    with pytest.raises(ValueError, match="mode must be one of"):
        link.transmit(tokens, mode="hybrid")


def test_frame_that_exceeds_the_slot_budget_is_rejected():
    link = TokenLink({"max_slots_per_frame": 4})
    link(torch.randn(1, 16, 456), snr_db=10.0)  # 16 x 228 = 3648 symbols = 4 slots: fits
    with pytest.raises(ValueError, match="need 5 slots per frame .* more than max_slots_per_frame=4"):
        link(torch.randn(1, 17, 456), snr_db=10.0)


@pytest.mark.parametrize(
    "config, field",
    [
        ({"digital": {"bits_per_value": 0}}, "bits_per_value"),
        ({"digital": {"bits_per_value": 17}}, "bits_per_value"),
        ({"digital": {"codebook_size": 100}}, "codebook_size must be a power of two"),
        ({"digital": {"clip": (1.0, -1.0)}}, "clip must be finite"),
        ({"mode": "hybrid"}, "mode"),
        ({"analog": {"power_norm": "token"}}, "power_norm"),
        ({"train_snr_db_range": (10.0, 0.0)}, "train_snr_db_range"),
    ],
)
def test_bad_config_names_the_field(config, field):
    with pytest.raises(ValidationError, match=field):
        TokenLink(config)


def test_uncalibrated_quantizer_says_how_to_fix_it():
    link = TokenLink({"mode": "digital"})
    with pytest.raises((RuntimeError, ValueError), match="calibrate"):
        link(torch.randn(1, 2, 4), snr_db=10.0)


@pytest.mark.parametrize("config_mode,call", [
    ("digital", lambda link, t: link.transmit(t, snr_db=10.0)),
    ("analog", lambda link, t: link.transmit(t, snr_db=10.0, mode="digital")),
    ("analog", lambda link, t: link.transmit_both(t, snr_db=10.0)),
])
def test_digital_sends_without_clipping_range_raise_one_line_naming_calibrate_and_clip(config_mode, call):
    """The link never calibrates on the tokens it sends: no range, no send, and no random draw spent."""
    from tokenlink.bridge import rng_state

    link = TokenLink({"mode": config_mode, "phy": {"channel": {"model": "rayleigh"}}})
    tokens = torch.randn(2, 3, 4)
    before = rng_state("cpu").clone()
    with pytest.raises(RuntimeError) as err:
        call(link, tokens)
    message = str(err.value)
    assert "\n" not in message and "link.calibrate(" in message and "digital.clip" in message
    assert torch.equal(rng_state("cpu"), before)
    assert link.quantizer.has_range is False


def test_transmit_both_works_after_calibrate_or_with_clip_and_analog_needs_neither():
    tokens = torch.randn(2, 3, 4)
    assert TokenLink({"mode": "analog"}).transmit(tokens, snr_db=10.0).tokens.shape == (2, 3, 4)
    calibrated = TokenLink({"mode": "analog"})
    calibrated.calibrate(tokens)
    assert calibrated.quantizer.has_range
    both = calibrated.transmit_both(tokens, snr_db=10.0)
    assert both["digital"].tokens.shape == both["analog"].tokens.shape == (2, 3, 4)
    clipped = TokenLink({"mode": "digital", "digital": {"clip": (-3.0, 3.0)}})
    assert clipped.transmit_both(tokens, snr_db=10.0)["digital"].tokens.shape == (2, 3, 4)


def test_noiseless_analog_link_with_perfect_csi_is_exact():
    link = TokenLink({"phy": {"channel": {"model": "rayleigh"}, "receiver": {"equalizer": "zf"}}},
                     precision="double")
    tokens = torch.randn(2, 10, 9, dtype=torch.float64)
    torch.testing.assert_close(link(tokens, snr_db=math.inf), tokens, rtol=1e-10, atol=1e-12)
