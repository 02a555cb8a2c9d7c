# The two commands a newcomer needs: `make run` and `make test`. Each sets up what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= deploy/quickstart.yaml

# Debian packages the Python dependencies build against (python-prctl needs libcap's headers).
SYSTEM_PACKAGES := libcap-dev
BENCH_PACKAGES := wrk nginx-light

.PHONY: run test unit integration bench system-deps bench-deps clean

run: $(STAMP)
	$(VENV)/bin/hotproxy -c $(CONFIG)

test: $(STAMP)
	$(PY) -m pytest -q tests

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

integration: $(STAMP)
	$(PY) -m pytest -q tests/integration

bench: $(STAMP) bench-deps
	$(VENV)/bin/pip install -q -e '.[bench]'
	$(PY) bench/compare.py $(BENCH_ARGS)

$(STAMP): pyproject.toml | system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

# Installs missing Debian packages when running as root; otherwise says what is missing.
system-deps:
	@bash scripts/ensure-debs.sh $(SYSTEM_PACKAGES)

bench-deps:
	@bash scripts/ensure-debs.sh $(BENCH_PACKAGES)

clean:
	rm -rf $(VENV) *.egg-info
