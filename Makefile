# tokenlink: two commands do all the set-up on a fresh machine.
#
#   make demo   create .venv if needed, then run the demo (tokenlink demo: scenarios/demo.yaml,
#               task accuracy of analog vs digital tokens over TDL-C; trace and figures in
#               results/demo/)
#   make test   create .venv if needed, then run the test suite (CPU, two pytest-xdist workers)
#
# Optional: make venv-tf     create .venv-tf, the TensorFlow backend's environment (phy.backend:
#               tensorflow): torch + tensorflow-cpu + Sionna 1.x (TensorFlow line) + tokenlink's
#               link layers (phy/, bridge/). It cannot be .venv: both Sionna lines import as
#               'sionna', and TensorFlow 2.19 needs numpy<2.2 where Sionna 2.2 needs numpy>=2.2.6.
#           make test-tf     create .venv-tf if needed, then run the TensorFlow backend's tests there
# Optional: make fashion-mnist  installs Debian's dataset-fashion-mnist (31 MB, needs
# root or sudo) for fedsl.dataset: fashion_mnist; the tests do not need it.
#
# Both are idempotent: the virtual environment is (re)installed only when it
# is missing or pyproject.toml changed. torch is installed first, on its own,
# so pip takes the pinned build (the CPU wheel on machines without CUDA)
# before Sionna asks for "torch>=2.9.1".

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.tokenlink-installed
TORCH  := $(shell sed -n 's/^ *"\(torch==[^"]*\)".*/\1/p' pyproject.toml)

.PHONY: demo test bench venv clean-venv fashion-mnist venv-tf test-tf clean-venv-tf

demo: $(STAMP)
	$(VENV)/bin/tokenlink demo --output results/demo

# Two pytest-xdist workers of one thread each (tests/conftest.py): about 1.6x the
# throughput of one two-thread process on 2 cores. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(VPY) -m pytest -n $(TEST_WORKERS) --dist worksteal

bench: $(STAMP)
	$(VPY) benchmarks/phy_throughput.py --analog
	$(VPY) benchmarks/lmmse_estimator.py
	$(VPY) benchmarks/ber_curve.py
	$(VPY) benchmarks/channel_generation.py

venv: $(STAMP)

fashion-mnist:
	@dpkg -s dataset-fashion-mnist >/dev/null 2>&1 && echo "dataset-fashion-mnist is installed" || \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y dataset-fashion-mnist

$(STAMP): pyproject.toml setup.py requirements-nodeps.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  found=$$($(PYTHON) -c 'import platform; print("Python", platform.python_version())' 2>/dev/null || echo "not found"); \
	  echo "error: tokenlink needs Python >= 3.11, '$(PYTHON)' is $$found; install Python 3.11+ or run: make $(or $(MAKECMDGOALS),test) PYTHON=/path/to/python3.11" >&2; \
	  exit 1; }
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet "$(TORCH)"
	$(VPY) -m pip install --quiet -e ".[dev]"
	$(VPY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	@touch $(STAMP)

clean-venv:
	rm -rf $(VENV)

# ---------------------------------------------------------------- TensorFlow backend
# Sionna 1.2.2 (the newest TensorFlow-based release) documents TensorFlow 2.14-2.19. It is
# installed --no-deps (its metadata asks for the full `tensorflow` wheel) with its own
# small requirements; tokenlink itself --no-deps with what phy/ and bridge/ import, pinned
# as in pyproject.toml except numpy (TensorFlow 2.19: numpy<2.2).
VENV_TF  := .venv-tf
VPY_TF   := $(VENV_TF)/bin/python
STAMP_TF := $(VENV_TF)/.tokenlink-installed
TF_PINS  := tensorflow-cpu==2.19.1 numpy==2.1.3 scipy==1.14.1 matplotlib==3.10.0 importlib_resources==6.4.5 \
            h5py==3.16.0 pydantic==2.14.4 pyyaml==6.0.4 tqdm==4.70.1 pytest==9.2.0 pytest-xdist==3.8.0
# The TensorFlow backend's tests, and the DLPack exchange with TensorFlow (skipped in .venv).
TF_TESTS := tests/test_tf_backend.py tests/test_dlpack.py::test_tensorflow_exchange_is_zero_copy \
            tests/test_dlpack.py::test_tensorflow_gets_a_contiguous_copy_of_a_strided_tensor

venv-tf: $(STAMP_TF)

test-tf: $(STAMP_TF)
	TF_CPP_MIN_LOG_LEVEL=2 $(VPY_TF) -m pytest -n $(TEST_WORKERS) --dist worksteal -p no:cacheprovider \
	  -W ignore::DeprecationWarning $(TF_TESTS)

# --no-compile: byte-compiling all of TensorFlow up front takes longer than installing it
# (tensorflow-cpu: 41-49 s with, 24-27 s without), and only the few processes of make test-tf
# import it. Not for .venv: where PYTHONDONTWRITEBYTECODE is set (this CI), nothing would ever
# be compiled, and every test process would compile its imports again (make test: 727 s vs 527-639 s).
$(STAMP_TF): pyproject.toml setup.py Makefile
	@test -x $(VPY_TF) || $(PYTHON) -m venv $(VENV_TF)
	$(VPY_TF) -m pip install --quiet --no-compile "$(TORCH)"
	$(VPY_TF) -m pip install --quiet --no-compile $(TF_PINS)
	$(VPY_TF) -m pip install --quiet --no-compile --no-deps sionna-no-rt==1.2.2
	$(VPY_TF) -m pip install --quiet --no-compile --no-deps -e .
	@touch $(STAMP_TF)

clean-venv-tf:
	rm -rf $(VENV_TF)
