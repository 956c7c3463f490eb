"""Test-wide settings: CPU only, seeded, no network."""

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# semantic/ caches (unzipped MiniLM, generated data sets, pretrained encoder
# weights) go to a fresh folder per test session, never the user's own cache.
os.environ["TOKENLINK_CACHE"] = tempfile.mkdtemp(prefix="tokenlink-test-cache-")

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


@pytest.fixture(scope="session", autouse=True)
def _remove_test_cache():
    """The session's semantic/ cache folder goes away with the session."""
    yield
    import shutil

    shutil.rmtree(os.environ["TOKENLINK_CACHE"], ignore_errors=True)
