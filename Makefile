# `make test` is the one test command (README, .ci/run): lint, types, unit
# tests and the integration tests against the sandbox Asterisk, MariaDB and
# Mosquitto, which it brings up first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: bench demo test check lint typecheck pytest venv tools services sandbox sandbox-down sandbox-status clean

test: venv services sandbox lint typecheck pytest

# coachd against ChanSpy on the sandbox: bench/results/*.json and BENCHMARKS.md
# (not part of `make test`; BENCH_ARGS="--switches 1000" for the full count).
bench: venv services sandbox
	$(PY) -m bench $(BENCH_ARGS)

# One coached call on the sandbox, measured from the parties' audio (README:
# Quick start). KEEP=1 keeps the call going for you to try the feature codes.
demo: venv services sandbox
	scripts/ensure-tools demo
	$(PY) scripts/demo.py $(if $(KEEP),--keep)

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml | tools
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

tools:
	scripts/ensure-tools

services:
	scripts/ensure-services

sandbox: tools
	scripts/sandbox up

sandbox-down:
	scripts/sandbox down

sandbox-status:
	scripts/sandbox status

lint: venv
	$(VENV)/bin/ruff check coachd tests bench scripts/demo.py
	$(VENV)/bin/ruff format --check coachd tests bench scripts/demo.py

typecheck: venv
	$(VENV)/bin/mypy

pytest: venv
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
