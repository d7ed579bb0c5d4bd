# One-command entry points. Each creates .venv on first use and installs what it needs:
# torch 2.13.0 (the CPU build), the build tools, and jittrace itself (incremental rebuilds).
#   make demo    - trace jittrace's built-in model and show train/eval surviving save + load
#   make test    - build everything and run the whole test suite (Python and C++)
#   make bench   - run the benchmark suite against torch.jit.trace

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH := torch==2.13.0
# Build and test tools; pinned loosely, all from PyPI.
TOOLS := scikit-build-core>=0.10 cmake>=3.21 ninja pytest>=8 hypothesis>=6 numpy pytest-benchmark>=4

.PHONY: demo test test-python bench bench-quick install clean

$(VENV)/.tools-installed:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH) $(TOOLS)
	touch $@

install: $(VENV)/.tools-installed
	$(PY) -m pip install --quiet --no-build-isolation --no-deps .

demo: install
	$(VENV)/bin/jittrace demo

test: install
	$(PY) -m pytest

bench: install
	$(PY) -m benchmarks

bench-quick: install
	$(PY) -m benchmarks --quick

clean:
	rm -rf build $(VENV)
