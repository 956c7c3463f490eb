# tokenlink: two commands do all the set-up on a fresh machine.
#
#   make demo   create .venv if needed, then run the demo (tokenlink demo: scenarios/demo.yaml,
#               task accuracy of analog vs digital tokens over TDL-C; trace and figures in
#               results/demo/)
#   make test   create .venv if needed, then run the test suite (CPU, two pytest-xdist workers)
#
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

.PHONY: demo test bench venv clean-venv fashion-mnist

demo: $(STAMP)
	$(VENV)/bin/tokenlink demo --output results/demo

# Two pytest-xdist workers of one thread each (tests/conftest.py): about 1.6x the
# throughput of one two-thread process on 2 cores. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(VPY) -m pytest -n $(TEST_WORKERS) --dist worksteal

bench: $(STAMP)
	$(VPY) benchmarks/phy_throughput.py

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
