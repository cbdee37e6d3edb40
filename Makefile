# Every target creates the environment first when it is missing, so each one works on a fresh machine.
#   make demo   - the main job on the built-in sample data
#   make test   - the whole test suite (what .ci/run calls)
# The tools land in $(VENV)/bin (medtranslate, python, ruff): `source .venv/bin/activate` or call them by path.
# torch is installed first, from TORCH_SPEC (and TORCH_INDEX when set); set-up reruns when either changes.
# GPU machines, a CUDA build of torch (see README.md, "The two commands"):
#   make setup TORCH_SPEC="torch==2.13.0+cu128" TORCH_INDEX=https://download.pytorch.org/whl/cu128
#       PyTorch's own wheel index; the +cu128 label pins the CUDA 12.8 build (cu126, cu129, ... likewise)
#   make setup TORCH_INDEX=https://pypi.org/simple
#       PyPI's torch==2.13.0 for Linux x86_64 is a CUDA build (CUDA libraries from the nvidia-* wheels)
# CPU-only build from PyTorch's index: make setup TORCH_SPEC="torch==2.13.0+cpu" TORCH_INDEX=https://download.pytorch.org/whl/cpu

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.medtranslate-installed
TORCH_WANTED := $(VENV)/.medtranslate-torch
JOBS ?= 2

.PHONY: setup demo test lint bench clean browser FORCE

setup: $(STAMP)

# holds "TORCH_SPEC TORCH_INDEX"; rewritten (so newer than the stamp) only when they change
$(TORCH_WANTED): FORCE
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo '$(TORCH_SPEC) $(TORCH_INDEX)' | cmp -s - $@ || echo '$(TORCH_SPEC) $(TORCH_INDEX)' > $@

$(STAMP): setup.cfg pyproject.toml $(TORCH_WANTED)
	@# torch first, from the chosen build, so the package's own requirement is already met; an explicit
	@# TORCH_INDEX replaces an installed build of the same version (e.g. +cpu by a CUDA build)
	$(BIN)/python -m pip install -q --disable-pip-version-check $(TORCH_SPEC) \
		$(if $(TORCH_INDEX),--index-url $(TORCH_INDEX) --force-reinstall)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	@touch $@

demo: $(STAMP)
	$(BIN)/medtranslate demo --output demo_output

# The rating page's tests (tests/rating) drive a headless Chromium: Debian's chromium + chromium-driver, no download
# at run time. Installed here when missing, as root or with sudo under CI; elsewhere the browser tests are skipped
# with a note (under CI they fail instead of skipping).
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo -n"; \
	  if command -v apt-get >/dev/null 2>&1 && { [ -z "$$SUDO" ] || [ -n "$$CI" ]; }; then \
	    echo "installing chromium and chromium-driver for the browser tests (apt-get)"; \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "note: chromium / chromedriver not found: the browser tests will be skipped" \
	      "(apt-get install chromium chromium-driver)"; \
	  fi; \
	fi

test: $(STAMP) browser
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n $(JOBS) -q -p no:cacheprovider tests

lint: $(STAMP)
	$(BIN)/ruff check medtranslate tests benchmarks
	$(BIN)/ruff format --check medtranslate tests benchmarks

bench: $(STAMP)
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) demo_output build *.egg-info
