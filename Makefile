# Two commands on a fresh machine: `make run` and `make test`. Both create .venv themselves.
# `make run` installs what running needs; `make test` (and bench, lint) adds the dev tools.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SUM := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.installed-run-$(SUM)
DEV_STAMP := $(VENV)/.installed-dev-$(SUM)
# setuptools prints a boxed warning on every editable install about folders that could shadow
# the package; here those folders are the package, so the box says nothing useful.
PIP_INSTALL := PYTHONWARNINGS=ignore::UserWarning $(BIN)/python -m pip install --quiet

.PHONY: run test bench lint clean

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip >/dev/null

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@$(PIP_INSTALL) -e .
	@rm -f $(VENV)/.installed-run-* && touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	@$(PIP_INSTALL) -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	@$(BIN)/repbot run

test: $(DEV_STAMP)
	$(BIN)/python -m pytest -q -n auto --dist worksteal $(PYTEST_ARGS)

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

lint: $(DEV_STAMP)
	$(BIN)/ruff check bot adapters content storage tests bench

clean:
	rm -rf $(VENV) .pytest_cache
