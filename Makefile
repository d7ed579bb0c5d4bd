# One-command entry points. Each creates .venv on first use and installs what it needs:
# torch 2.13.0 (the CPU build), the build tools, and jittrace itself (incremental rebuilds).
#   make demo    - trace jittrace's built-in model and show train/eval surviving save + load
#   make test    - build everything and run the whole test suite (Python and C++)
#   make test-deprecations - the suite with jittrace's own deprecation warnings as errors
#   make lint    - ruff, clang-format, mypy (strict) and stubtest of _C.pyi (make -k lint: all)
#   make bench   - run the benchmark suite against torch.jit.trace
#   make bench-models - guards on 74 real architectures: false alarms, correctness at another
#                  size, trace time (about 6 minutes), writes benchmarks/MODELS.md
#   make sanitize - build the C++ core and its tests with ASan + UBSan and run them

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH := torch==2.13.0
# Build and test tools, all from PyPI; transformers builds tiny models from configs (no downloads)
# for tests and benchmarks of real architectures. nlohmann-json is a build requirement (the core
# reads manifests with it; headers only): builds run without isolation, so the venv needs it.
TOOLS := "scikit-build-core>=0.10" "cmake>=3.21" ninja "nlohmann-json>=3.12,<4" "pytest>=8" \
  "hypothesis>=6" numpy transformers
# Linters, pinned exactly: a new release brings new rules and formatting, which should come in a
# commit of its own rather than break an unrelated one.
LINT_TOOLS := "ruff==0.17.6" "mypy==2.4.1" "clang-format==23.1.5"

.PHONY: demo test test-deprecations lint lint-ruff lint-ruff-format lint-clang-format lint-mypy lint-stubtest \
  bench bench-quick bench-models sanitize install clean

# Re-run when this file changes (a new tool): venv creation and pip are idempotent.
$(VENV)/.tools-installed: Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH) $(TOOLS)
	touch $@

$(VENV)/.lint-tools-installed: $(VENV)/.tools-installed Makefile
	$(PY) -m pip install --quiet $(LINT_TOOLS)
	touch $@

install: $(VENV)/.tools-installed
	$(PY) -m pip install --quiet --no-build-isolation --no-deps .

demo: install
	$(VENV)/bin/jittrace demo

test: install
	$(PY) -m pytest

# The suite again with DeprecationWarning and FutureWarning from jittrace's own code as errors
# (see tests/conftest.py): ready for torch.jit's deprecations becoming errors.
test-deprecations: install
	JITTRACE_DEPRECATIONS_AS_ERRORS=1 $(PY) -m pytest -q

# Each part fails the target; `make -k lint` runs every part and then fails if any failed.
lint: lint-ruff lint-ruff-format lint-clang-format lint-mypy lint-stubtest

# Settings in pyproject.toml [tool.ruff].
lint-ruff: $(VENV)/.lint-tools-installed
	$(VENV)/bin/ruff check .

lint-ruff-format: $(VENV)/.lint-tools-installed
	$(VENV)/bin/ruff format --check .

# Every C++ file in git (fails, too, when git lists none).
lint-clang-format: $(VENV)/.lint-tools-installed
	files="$$(git ls-files '*.cpp' '*.h')" && test -n "$$files" && \
	  $(VENV)/bin/clang-format --dry-run -Werror $$files

# Settings in pyproject.toml [tool.mypy]. Needs the build: jittrace/_build_info.py is generated.
lint-mypy: install $(VENV)/.lint-tools-installed
	$(PY) -m mypy

# The stub python/jittrace/_C.pyi (as installed) against the compiled module.
lint-stubtest: install $(VENV)/.lint-tools-installed
	$(PY) -m mypy.stubtest jittrace._C

bench: install
	$(PY) -m benchmarks

bench-quick: install
	$(PY) -m benchmarks --quick

# Tiny transformers and torch.nn models traced at one size, called at another (see benchmarks/MODELS.md).
bench-models: install
	$(PY) -m benchmarks.realmodels

# The core and the C++ tests only (no Python module: libtorch_python is not built with ASan).
SANITIZE_DIR := build/sanitize
sanitize: $(VENV)/.tools-installed
	$(VENV)/bin/cmake -S . -B $(SANITIZE_DIR) -G Ninja -DCMAKE_MAKE_PROGRAM=$(CURDIR)/$(VENV)/bin/ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJITTRACE_SANITIZE=ON -DJITTRACE_BUILD_TESTS=ON \
	  -DJITTRACE_BUILD_PYTHON=OFF -DPython_EXECUTABLE=$(CURDIR)/$(PY)
	$(VENV)/bin/cmake --build $(SANITIZE_DIR)
	cd $(SANITIZE_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(CURDIR)/$(VENV)/bin/ctest --output-on-failure

clean:
	rm -rf build $(VENV)
