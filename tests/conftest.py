"""Test-wide settings: CPU only, seeded, no network."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from sionna.phy import config as sionna_config

from tokenlink.phy import set_seed

sionna_config.device = "cpu"
sionna_config.precision = "single"


#: Override with TOKENLINK_TEST_SEED=<int> to check that the statistical
#: tests hold for other random streams, not just the default one.
TEST_SEED = int(os.environ.get("TOKENLINK_TEST_SEED", "20261125"))


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state."""
    set_seed(TEST_SEED)
    yield
