# Two commands on a fresh machine with Python 3.11+, make and the package registries:
#   make demo   creates .venv, installs oncofed, builds the demo nodes with real cohorts
#   make test   creates .venv, installs oncofed with its test tools, runs the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/oncofed demo

test: $(VENV)/.installed
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/ingest_clinical.py
	$(BIN)/python benchmarks/roundtrip.py
	$(BIN)/python benchmarks/federated_cox.py
	$(BIN)/python benchmarks/vcf_ingest.py
	$(BIN)/python benchmarks/idc_ingest.py
	$(BIN)/python benchmarks/portal_pages.py
	$(BIN)/python benchmarks/beacon_query.py

clean:
	rm -rf $(VENV) .demo .pytest_cache
