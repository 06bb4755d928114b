# Front door: `make run` starts the whole stack, `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
ENGINE_VENV := .venv-engine
BIN := $(VENV)/bin

.PHONY: run test lint check venv engine-venv clean

# The stamp files make the install step rerun only when a requirements file changes.
$(VENV)/.installed: requirements/base.txt requirements/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.txt
	touch $@

$(ENGINE_VENV)/.installed: requirements/engines.txt
	test -x $(ENGINE_VENV)/bin/python || $(PYTHON) -m venv $(ENGINE_VENV)
	$(ENGINE_VENV)/bin/pip install --quiet --upgrade pip
	$(ENGINE_VENV)/bin/pip install --quiet -r requirements/engines.txt
	touch $@

venv: $(VENV)/.installed

engine-venv: $(ENGINE_VENV)/.installed

run: venv engine-venv
	$(BIN)/python deploy/local/run.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check: venv
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

test: venv engine-venv lint check
	$(BIN)/pytest

clean:
	rm -rf .run .pytest_cache .ruff_cache
