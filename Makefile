# make test: create .venv, install with test extras, run the suite (what CI runs).
# make demo: install, run real queries on the bundled profiles, and check one number.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export _TYPER_FORCE_DISABLE_TERMINAL := 1
export TERMINAL_WIDTH := 120

# make demo's smoke test: a number, not only an exit status (README "Quick start").
export SMOKE_TEST := import json, sys; t = json.load(sys.stdin)["occupancy"]["SERT"]; assert 0.77 < t < 0.79, t; print(f"smoke test passed: escitalopram 10 mg/day, {t * 100:.1f} % of SERT")

.PHONY: install test demo bench lint fuzz refit clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml $(shell find sert_cli drug_profiles -type f -not -name '*.pyc')
	$(BIN)/python -m pip install --quiet ".[test]"
	touch $(STAMP)

install: $(STAMP)

test: install
	$(BIN)/python -m pytest -q

demo: install
	$(BIN)/sert occupancy escitalopram --dose 10
	$(BIN)/sert dose escitalopram --phenotype CYP2C19=PM
	$(BIN)/sert occupancy escitalopram --dose 10 --format json | $(BIN)/python -c "$$SMOKE_TEST"

# make bench BENCH_ARGS=--quick: 100,000 batch rows instead of a million (see --help).
bench: install
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

fuzz: install
	SERT_FUZZ_EXAMPLES=2000 $(BIN)/python -m pytest -q tests/test_fuzz.py tests/test_attack_inputs.py

# make refit: after a change to the PET points or to a profile's PK, refit the PET constants
# and write them (with their intervals and bases) into drug_profiles/ and pet_spread.csv.
refit: install
	$(BIN)/python -m sert_cli.refit

lint: install
	$(BIN)/ruff check sert_cli tests benchmarks
	$(BIN)/ruff format --check sert_cli tests benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
