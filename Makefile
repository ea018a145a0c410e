# AccSS3D: every target installs what it needs (a venv under .venv, pinned versions).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JOBS ?= 2
BUILD := build

.PHONY: setup sysdeps test test-slow test-all demo bench lint format clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	@touch $@

setup: $(STAMP) sysdeps

# Debian packages: Icarus Verilog for the cocotb testbenches.
sysdeps:
	@command -v iverilog >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo sudo ); \
	  echo "installing iverilog (Debian)"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq iverilog >/dev/null; }

test: setup
	$(PY) -m pytest -q -n $(JOBS) -m "not slow and not bench"

test-slow: setup
	$(PY) -m pytest -q -n $(JOBS) -m "slow"

test-all: setup
	$(PY) -m pytest -q -n $(JOBS) -m "not bench"

demo: setup
	$(PY) -m accss3d demo --out $(BUILD)/demo

bench: setup
	$(PY) -m pytest -q -m bench -p no:xdist -s tests/bench

lint: setup
	$(PY) -m ruff check hw sw sim tests
	$(PY) -m ruff format --check hw sw sim tests

format: setup
	$(PY) -m ruff check --fix hw sw sim tests
	$(PY) -m ruff format hw sw sim tests

clean:
	rm -rf $(BUILD) sim_build .pytest_cache .ruff_cache
