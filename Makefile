# Every target creates the environment first when it is missing, so each one works on a fresh machine.
#   make demo   - the main job on the built-in sample data
#   make test   - the whole test suite (what .ci/run calls)
# GPU machines: `make setup TORCH_SPEC="torch==2.13.0" TORCH_INDEX=https://<your CUDA wheel index>` or just
# `make setup TORCH_SPEC=torch` (PyPI's default Linux wheel is a CUDA build). See README.md.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.medtranslate-installed
JOBS ?= 2

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# torch first, so nothing below can pull a CUDA build on a CPU machine
	$(BIN)/python -m pip install -q --disable-pip-version-check $(TORCH_SPEC) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	@touch $@

demo: $(STAMP)
	$(BIN)/medtranslate demo --output demo_output

test: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n $(JOBS) -q -p no:cacheprovider tests

lint: $(STAMP)
	$(BIN)/ruff check medtranslate tests benchmarks
	$(BIN)/ruff format --check medtranslate tests benchmarks

bench: $(STAMP)
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) demo_output build *.egg-info
