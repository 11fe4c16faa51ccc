# atlas-kms: every command a user or CI needs. `make help` lists them.
PYTHON ?= python3
VENV ?= venv
PY := $(VENV)/bin/python
STACK ?= same-account

.PHONY: help install preview preview-all test lint typecheck check bench clean

help:
	@echo "make preview [STACK=same-account|existing-key|cross-account|foreign-key]  offline preview on sample data"
	@echo "make test       run the whole test suite (offline)"
	@echo "make check      ruff + mypy + tests (what CI runs)"
	@echo "make bench      benchmarks -> BENCHMARKS.md (not part of the tests)"

$(PY): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(PY)

install: $(PY)

preview: $(PY)
	$(PY) -m offline.preview --stack-file samples/stacks/Pulumi.$(STACK).yaml

preview-all: $(PY)
	@for s in same-account existing-key cross-account foreign-key; do \
		$(PY) -m offline.preview --stack-file samples/stacks/Pulumi.$$s.yaml || exit 1; done

test: $(PY)
	$(PY) -m pytest

lint: $(PY)
	$(VENV)/bin/ruff check .

typecheck: $(PY)
	$(VENV)/bin/mypy .

check: lint typecheck test

bench: $(PY)
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
