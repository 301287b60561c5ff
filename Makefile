# storyrec developer entry points. A newcomer needs two: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)

.PHONY: help venv tools demo demo-day test test-unit test-integration lint typecheck stack-up stack-down stack-status bundle clean

help:
	@echo "make demo   - 42 simulated days of the whole pipeline on the local stack: two trainings, the lift table"
	@echo "make demo-day - one day through the deployed wiring (Functions emulator, rules, the homepage)"
	@echo "make test   - install everything and run lint plus the whole test suite"
	@echo "other: venv tools lint typecheck test-unit test-integration stack-up stack-down stack-status bundle clean"
	@echo "bench: make bench (every benchmark, ~1 h+), make bench-quick (< 10 min): docs/BENCHMARKS.md"
	@echo "dev CLI: .venv/bin/storyrec-dev stack up|down|status|env, demo, simulate (operator CLI: .venv/bin/storyrec)"

# One progress line per step with its elapsed time; pip's notes about a machine's unreachable local index
# mirrors ("WARNING: Location ... is ignored") are filtered, everything else pip says is shown.
PIP_QUIET := 2>&1 | { grep -v '^WARNING: Location' || true; }
$(STAMP): pyproject.toml
	@set -eo pipefail; t=$$SECONDS; echo "venv: creating $(VENV) ..."; test -x $(PY) || $(PYTHON) -m venv $(VENV); \
	echo "venv: upgrading pip ..."; $(PY) -m pip install --quiet --upgrade pip $(PIP_QUIET); \
	echo "venv: installing storyrec[dev] (first time: a few minutes) ..."; \
	$(PY) -m pip install --quiet -e '.[dev]' $(PIP_QUIET); \
	rm -f $(VENV)/.installed-* && touch $(STAMP); echo "venv: ready ($$((SECONDS - t)) s)"

venv: $(STAMP)

# The Node tooling the tests drive (each step is a no-op once its lockfile is installed): firebase-tools,
# the Firestore launcher jar and functions_gcp/venv (setup.sh, which also installs tests/rules and
# tests/bundler), and serverless 3 for the packaging check.
DEPLOY_TOOLS := infra/deploy/node_modules/.package-lock.json
$(DEPLOY_TOOLS): infra/deploy/package-lock.json
	@t=$$SECONDS; echo "tools: serverless 3 (npm ci infra/deploy) ..."; \
	npm ci --prefix infra/deploy --no-audit --no-fund --loglevel=error && echo "tools: serverless ready ($$((SECONDS - t)) s)"

tools: venv $(DEPLOY_TOOLS)
	@t=$$SECONDS; echo "tools: firebase-tools, the emulators' launcher, functions_gcp/venv, rules and bundler tests ..."; \
	bash infra/local/firebase/setup.sh >/dev/null && echo "tools: ready ($$((SECONDS - t)) s)"

# The newcomer's first command: a short simulation (docs/simulate.md, "The demo preset"). demo-day: the one-day
# demo through the Functions emulator, the Firestore rules and the homepage (what tests/e2e/test_demo.py runs).
demo: venv
	$(VENV)/bin/storyrec-dev simulate --demo

demo-day: venv
	$(VENV)/bin/storyrec-dev demo

test: venv tools lint typecheck
	$(PY) -m pytest

test-unit: venv
	$(PY) -m pytest -m unit

test-integration: venv
	$(PY) -m pytest -m "integration or e2e"

lint: venv
	$(VENV)/bin/ruff check .

typecheck: venv
	$(VENV)/bin/mypy shared

stack-up: venv
	$(VENV)/bin/storyrec-dev stack up

stack-down: venv
	$(VENV)/bin/storyrec-dev stack down

stack-status: venv
	$(VENV)/bin/storyrec-dev stack status

# Firebase deploys only functions_gcp/: copy the common code and the schemas into it.
bundle:
	bash infra/local/firebase/bundle.sh

clean:
	-$(VENV)/bin/storyrec-dev stack down
	rm -rf functions_gcp/shared .pytest_cache .ruff_cache .mypy_cache

# Local Personalize engine benchmarks (docs/BENCHMARKS.md, "Local Personalize engine").
.PHONY: bench-quality bench-engine
bench-quality: venv
	$(PY) benchmarks/bench_quality.py --datasets deskdrop,catalogue,news,sequence,traffic --seeds 0,1,2

bench-engine: venv
	$(PY) benchmarks/bench_engine.py train
	$(PY) benchmarks/bench_engine.py latency --clients 16 --requests 500 --rates 0,1000
	$(PY) benchmarks/bench_engine.py scale --events 10000000 --users 1000000 --items 100000

# Every benchmark at stated sizes, one harness: benchmarks/results.json and the tables of docs/BENCHMARKS.md
# ("All benchmarks in one run"). bench-quick: small sizes, under 10 minutes (benchmarks/results-quick.json).
.PHONY: bench bench-quick
bench: venv tools
	$(PY) benchmarks/harness.py

bench-quick: venv tools
	$(PY) benchmarks/harness.py --quick
