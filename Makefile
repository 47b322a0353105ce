# The two set-up commands: `make bench` (the main job) and `make test` (the tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PRESET ?= default
RESULTS ?= results

.PHONY: test bench clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.dev-installed: pyproject.toml | $(VENV)/bin/activate
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(VENV)/.bench-installed: pyproject.toml | $(VENV)/bin/activate
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $@

test: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -n 2 -q

bench: $(VENV)/.bench-installed
	$(PY) -m jaxnn.bench.cli --preset $(PRESET) --out $(RESULTS)/$(PRESET)

clean:
	rm -rf $(VENV) results .pytest_cache

# Rewrite the generated blocks of README.md and docs/*.md from the committed results in benchmarks/results/.
.PHONY: docs
docs:
	$(PYTHON) benchmarks/make_docs.py
