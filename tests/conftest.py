"""Test-wide settings: CPU only, seeded, no network."""

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# semantic/ caches (unzipped MiniLM, generated data sets, pretrained encoder
# weights) go to a fresh folder per test session, never the user's own cache.
# Under `pytest -n 2` the controller makes the folder and its workers (which
# inherit its environment) share it: cache entries are written to a temporary
# name and renamed into place (semantic/cache.py), so two writers are safe.
os.environ.setdefault("TOKENLINK_TEST_CACHE", tempfile.mkdtemp(prefix="tokenlink-test-cache-"))
os.environ["TOKENLINK_CACHE"] = os.environ["TOKENLINK_TEST_CACHE"]

import pytest
from sionna.phy import config as sionna_config

from tokenlink.phy import set_seed

sionna_config.device = "cpu"
sionna_config.precision = "single"

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `pytest -n 2` (make test): one thread per worker, so that two workers on two
    # cores do not oversubscribe them.
    import importlib.util

    import torch

    torch.set_num_threads(1)
    if importlib.util.find_spec("tensorflow") is not None:  # .venv-tf (make test-tf)
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)


#: Override with TOKENLINK_TEST_SEED=<int> to check that the statistical
#: tests hold for other random streams, not just the default one.
TEST_SEED = int(os.environ.get("TOKENLINK_TEST_SEED", "20261125"))


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state."""
    set_seed(TEST_SEED)
    yield


def pytest_sessionfinish(session):
    """The session's semantic/ cache folder goes away with the session (with the
    controller's, under `pytest -n 2`: the workers share it)."""
    if not hasattr(session.config, "workerinput"):
        import shutil

        shutil.rmtree(os.environ["TOKENLINK_TEST_CACHE"], ignore_errors=True)
