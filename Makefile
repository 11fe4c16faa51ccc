# atlas-kms: every command a user or CI needs. `make help` lists them.
PYTHON ?= python3
VENV ?= venv
PY := $(VENV)/bin/python
# A stamp file, not the interpreter: venv/bin/python is a symlink whose target's mtime never changes.
STAMP := $(VENV)/.installed
STACK ?= same-account

.PHONY: help install preview preview-all drift-demo heal-demo test lint typecheck check bench bench-quick clean

help:
	@echo "make install      create venv/ and install requirements-dev.txt (every target does it when needed)"
	@echo "make preview [STACK=same-account|existing-key|cross-account|foreign-key|private|adopt]  offline preview on sample data"
	@echo "make preview-all  the offline preview of every sample stack"
	@echo "make drift-demo   the drift command against bundled stand-ins on 127.0.0.1 (in sync, a new node, a denied call)"
	@echo "make heal-demo    the scheduled heal job offline: a new node allowed with nobody paged, then a change refused"
	@echo "make test         run the whole test suite (offline)"
	@echo "make lint         ruff"
	@echo "make typecheck    mypy"
	@echo "make check        ruff + mypy + tests (what CI runs)"
	@echo "make bench        benchmarks -> BENCHMARKS.md (not part of the tests)"
	@echo "make bench-quick  a shorter benchmark run -> bench/out/BENCHMARKS.quick.md"
	@echo "make clean        remove venv/ and tool caches"

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

# A stack with a world file (samples/worlds/<stack>.json) previews against what exists outside the stack.
preview: $(STAMP)
	$(PY) -m offline.preview --stack-file samples/stacks/Pulumi.$(STACK).yaml \
		$(if $(wildcard samples/worlds/$(STACK).json),--world samples/worlds/$(STACK).json)

preview-all: $(STAMP)
	@for s in same-account existing-key cross-account foreign-key private adopt; do \
		$(MAKE) --no-print-directory preview STACK=$$s || exit 1; done

drift-demo: $(STAMP)
	$(PY) -m offline.drift_demo

heal-demo: $(STAMP)
	$(PY) -m offline.heal_demo

# Two workers per core: about half of the suite's time is spent waiting on the stand-ins on 127.0.0.1.
TEST_WORKERS ?= 4

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy .

check: lint typecheck test

bench: $(STAMP)
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

bench-quick: $(STAMP)
	$(PY) -m bench.run --quick --out bench/out/BENCHMARKS.quick.md
