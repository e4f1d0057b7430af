# One-command entry points; each does its own set-up on a fresh Debian machine.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
# the compiled modules (setup.py; the list is skydns_common/native.py's NATIVE):
# built again when one of their sources changes
NATIVE_STAMP = $(VENV)/.native
NATIVE_SRC := setup.py $(wildcard skydns/_udp.c) $(shell sed -n '/^NATIVE = (/,/^)/p' skydns_common/native.py \
	| grep -o '"[a-z_.]*"' | tr -d '"' | sed 's|\.|/|g; s|$$|.py|')

# says whether the build compiled the per-question path (pip -q hides setup.py's messages)
NATIVE_SAY = @$(BIN)/python -c "import skydns_common.native as n, skydns.transport as t; \
	print('skydns-stack: per-question path', 'compiled' if n.running_compiled() else 'from source (' + n.reason + ')', \
	'- UDP batch', 'built' if t.batch_module() else 'not built')"

# the images: localhost/skydns-stack:latest and localhost/skydns-etcd:latest,
# on a local Debian base made with debootstrap (no registry), or BASE=python:3.11-slim
BASE   ?= localhost/skydns-base:bookworm

.PHONY: setup test unit lint run bench image clean

setup: $(STAMP) $(NATIVE_STAMP)

$(STAMP): pyproject.toml scripts/install-system-deps
	./scripts/install-system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,lint]'
	$(NATIVE_SAY)
	touch $(STAMP) $(NATIVE_STAMP)

$(NATIVE_STAMP): $(STAMP) $(NATIVE_SRC)
	$(BIN)/pip install -q --no-deps -e .
	$(NATIVE_SAY)
	touch $(NATIVE_STAMP)

test: setup
	$(BIN)/pytest -q $(PYTEST_ARGS)

# the fast tier: no etcd, no process started, nothing slow (markers in pyproject.toml)
unit: setup
	$(BIN)/pytest -q -m "not etcd and not process and not slow" $(PYTEST_ARGS)

# layers (import-linter), style (ruff) and types (mypy), configured in pyproject.toml
lint: setup
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/mypy

run: setup
	$(BIN)/python scripts/run-stack $(RUN_ARGS)

bench: setup
	$(BIN)/python -m bench.run $(BENCH_ARGS)

image: setup
	BASE=$(BASE) PYTHON=$(BIN)/python ./scripts/build-images

clean:
	rm -rf $(VENV) .run .pytest_cache .hypothesis .mypy_cache .ruff_cache .import_linter_cache dist
