"""phy.backend: the switch between the torch link (Sionna 2.x) and the TensorFlow link
(Sionna 1.x, tests/test_tf_backend.py): validated in one line, invisible in dumps at its
default (fingerprints and training keys unchanged), and a one-line error naming the one
command that creates the TensorFlow environment where it is missing."""

import importlib.util

import pytest
from pydantic import ValidationError

from tokenlink import ScenarioError, load_scenario
from tokenlink.bridge.config import TokenLinkConfig
from tokenlink.common.errors import format_validation_error
from tokenlink.phy import build_link
from tokenlink.phy.config import PhyConfig

HAS_TF_LINE = importlib.util.find_spec("tensorflow") is not None


def test_unknown_backend_is_rejected_in_one_line_naming_the_allowed_values():
    with pytest.raises(ScenarioError) as err:
        load_scenario({"phy": {"backend": "jax"}})
    text = str(err.value)
    assert "phy.backend" in text and "'torch'" in text and "'tensorflow'" in text and "\n" not in text.strip()


def test_default_backend_is_not_dumped_so_fingerprints_and_training_keys_stay():
    assert "backend" not in PhyConfig().model_dump(mode="json")
    assert "backend" not in TokenLinkConfig().model_dump(mode="json")["phy"]
    assert "backend" not in load_scenario({}).to_dict()["phy"]
    assert PhyConfig(backend="tensorflow").model_dump()["backend"] == "tensorflow"
    assert load_scenario({"phy": {"backend": "tensorflow"}}).fingerprint() != load_scenario({}).fingerprint()


def test_tensorflow_backend_rejects_what_it_does_not_implement_in_one_line():
    with pytest.raises(ValidationError) as err:
        PhyConfig(backend="tensorflow", grid={"pilot_subcarrier_step": 2}, base_station={"num_rx_antennas": 2})
    text = format_validation_error(err.value)
    assert "grid.pilot_subcarrier_step=2 (allowed: 1)" in text
    assert "base_station.num_rx_antennas=2" in text and "\n" not in text
    for estimator in ("ls", "lmmse"):  # CDL and normalized channels, with every estimator: fine
        PhyConfig(backend="tensorflow", channel={"model": "cdl", "normalize": True}, receiver={"estimator": estimator})


def test_default_backend_builds_the_torch_link():
    link = build_link({"modulation": "qpsk"})
    assert type(link).__name__ == "OFDMLink" and link.num_bits_per_symbol == 2


@pytest.mark.skipif(HAS_TF_LINE, reason="TensorFlow is installed here")
def test_missing_tensorflow_says_the_one_command_that_creates_it():
    with pytest.raises(ImportError) as err:
        build_link({"backend": "tensorflow"})
    text = str(err.value)
    assert "make venv-tf" in text and "\n" not in text
