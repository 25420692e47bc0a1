# The verbs a person types.  Every target works from a fresh clone: the first
# one that needs the environment creates it (.venv, gradgen installed editable
# with its test dependencies).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test test-all lint generate check golden readme bench bench-quick fuzz clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: generate the gradients of examples/ into generated/ and show one
demo: $(STAMP)
	$(BIN)/gradgen generate
	@echo
	@echo "==> generated/cosine_grad.py"
	@cat generated/cosine_grad.py

## test: lint, the whole test suite, then the freshness check of generated/
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy gradgen
	$(BIN)/python -m pytest -n auto
	$(BIN)/gradgen check

## test-all: the exhaustive sweeps too (every systematic case of every rule)
test-all: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy gradgen
	$(BIN)/python -m pytest -n auto --run-slow
	$(BIN)/gradgen check

## lint: ruff and mypy, as configured in pyproject.toml
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy gradgen

## generate: rewrite generated/ from examples/ ([tool.gradgen] in pyproject.toml)
generate: $(STAMP)
	$(BIN)/gradgen generate

## check: fail with a diff when generated/ is stale or was edited by hand
check: $(STAMP)
	$(BIN)/gradgen check

## golden: rewrite the expected outputs of tests/cases/ (review the diff!)
golden: $(STAMP)
	$(BIN)/python -m tests.golden --update

## readme: rewrite README.md's table of supported functions from templates/ (gradgen rules)
readme: $(STAMP)
	$(BIN)/python -m gradgen.catalog --update-readme

## bench: timings against the peers (~6 min on 2 cores; rewrites bench/results.*)
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.run

## bench-quick: under a minute, into a temporary folder (peers only if installed)
bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

## fuzz: random programs through every mode and oracle, in parallel; shrunk
## findings in fuzz-findings/ (FUZZ_N, FUZZ_SEED, FUZZ_JOBS = CPU count, FUZZ_TIMEOUT s;
## FUZZ_ARGS: more options of `python -m tests.fuzz run`, e.g. --max-time, --shrink-time)
FUZZ_N ?= 10000
FUZZ_SEED ?= 0
FUZZ_JOBS ?=
FUZZ_TIMEOUT ?= 20
FUZZ_ARGS ?=
fuzz: $(STAMP)
	FUZZ_JOBS=$(FUZZ_JOBS) $(BIN)/python -m tests.fuzz run --n $(FUZZ_N) --seed $(FUZZ_SEED) \
		--timeout $(FUZZ_TIMEOUT) --out fuzz-findings $(FUZZ_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
