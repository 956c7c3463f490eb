"""Bad configurations fail at construction with a message that names the
parameter and says what is allowed."""

import pytest
import torch
from pydantic import ValidationError

from tokenlink.phy import ChannelConfig, GridConfig, OFDMLink, PhyConfig, ReceiverConfig, simulate_ber
from tokenlink.phy.config import format_validation_error


def _message(exc_info) -> str:
    err = exc_info.value
    return format_validation_error(err) if isinstance(err, ValidationError) else str(err)


def test_unknown_modulation_names_field_and_allowed_values():
    with pytest.raises(ValidationError) as e:
        PhyConfig(modulation="32qam")
    msg = _message(e)
    assert msg.startswith("modulation:")
    for allowed in ("'bpsk'", "'qpsk'", "'16qam'", "'64qam'", "'256qam'"):
        assert allowed in msg


def test_unknown_channel_model_names_field_and_allowed_values():
    with pytest.raises(ValidationError) as e:
        PhyConfig(channel={"model": "tdl-x"})
    msg = _message(e)
    assert msg.startswith("channel.model:")
    for allowed in ("'awgn'", "'rayleigh'", "'rician'", "'tdl'", "'cdl'"):
        assert allowed in msg


def test_unknown_tdl_profile_is_rejected():
    with pytest.raises(ValidationError, match="profile"):
        ChannelConfig(model="tdl", profile="F")


@pytest.mark.parametrize("fft_size", [0, -64])
def test_non_positive_fft_size_is_rejected(fft_size):
    with pytest.raises(ValidationError) as e:
        GridConfig(fft_size=fft_size)
    msg = _message(e)
    assert msg.startswith("fft_size:") and "greater than 0" in msg


def test_pilot_index_out_of_range_names_allowed_range():
    with pytest.raises(ValidationError) as e:
        GridConfig(num_ofdm_symbols=14, pilot_ofdm_symbol_indices=[2, 14])
    msg = _message(e)
    assert "pilot_ofdm_symbol_indices [14] out of range" in msg and "0..13" in msg


def test_negative_pilot_index_is_rejected():
    with pytest.raises(ValidationError, match="pilot_ofdm_symbol_indices"):
        GridConfig(pilot_ofdm_symbol_indices=[-1])


def test_negative_k_factor_is_rejected():
    with pytest.raises(ValidationError) as e:
        ChannelConfig(model="rician", k_factor=-1.0)
    msg = _message(e)
    assert msg.startswith("k_factor:") and "greater than or equal to 0" in msg


def test_empty_snr_list_is_rejected():
    link = OFDMLink({"grid": {"fft_size": 12}})
    with pytest.raises(ValueError, match="esno_db must contain at least one SNR point"):
        simulate_ber(link, [])


def test_unknown_key_is_rejected_with_its_dotted_name():
    with pytest.raises(ValidationError) as e:
        PhyConfig(grid={"fft_sise": 64})
    assert _message(e) == "grid.fft_sise: unknown field"


def test_cyclic_prefix_longer_than_fft_is_rejected():
    with pytest.raises(ValidationError, match="cyclic_prefix_length must be <= fft_size"):
        GridConfig(fft_size=16, cyclic_prefix_length=17)


def test_guards_that_leave_no_subcarrier_are_rejected():
    with pytest.raises(ValidationError, match="num_guard_carriers"):
        GridConfig(fft_size=8, num_guard_carriers=(4, 4))


def test_speed_range_must_be_ordered():
    with pytest.raises(ValidationError, match="max_speed_mps"):
        ChannelConfig(model="tdl", speed_mps=10.0, max_speed_mps=3.0)


def test_estimated_csi_needs_pilots():
    with pytest.raises(ValidationError, match="needs pilots"):
        PhyConfig(grid={"pilot_pattern": "empty"}, receiver={"estimator": "ls"})


def test_unknown_estimator_and_equalizer_are_rejected():
    with pytest.raises(ValidationError, match="estimator"):
        ReceiverConfig(estimator="mmse")
    with pytest.raises(ValidationError, match="equalizer"):
        ReceiverConfig(equalizer="mrc")


def test_bad_noise_variance_is_rejected():
    link = OFDMLink({"grid": {"fft_size": 12}})
    bits = link.source(2)
    with pytest.raises(ValueError, match="no \\(noise variance\\) must be >= 0"):
        link(bits, -1.0)
    with pytest.raises(ValueError, match="no \\(noise variance\\) must be >= 0 and finite"):
        link(bits, torch.tensor([0.1, float("nan")]))


def test_wrong_bits_shape_names_expected_shape():
    link = OFDMLink({"grid": {"fft_size": 12}})
    with pytest.raises(ValueError, match=rf"bits must have shape \[batch_size, {link.num_bits_per_slot}\]"):
        link.modulate(link.source(2)[:, :-4])


def test_unknown_device_is_rejected():
    with pytest.raises(ValueError, match="device must be"):
        OFDMLink(device="tpu")


def test_configs_are_immutable():
    cfg = PhyConfig()
    with pytest.raises(ValidationError):
        cfg.modulation = "qpsk"
