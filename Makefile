# Newswire: `make run` brings the system up, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv chromium bench-tools run test test-quick lint format bench lock clean

venv: $(STAMP)

# The runtime dependencies come from requirements.lock, hashes checked, exactly as the image
# installs them, so the tests run what ships; then the project and its dev and test tools.
# uv (pinned in pyproject.toml) installs them in a few seconds, where pip takes twenty.
UV_VERSION := $(shell sed -n 's/.*"uv==\([0-9.]*\)".*/\1/p' pyproject.toml)
UV_PIP := $(BIN)/uv pip install --quiet --python $(BIN)/python

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is needed: run 'make PYTHON=python3.11 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(UV_PIP) --require-hashes --no-deps -r requirements.lock
	$(UV_PIP) -e ".[dev,test]"
	@touch $(STAMP)

# The browser test drives Debian's chromium; a fresh machine (CI) gets it here.
chromium:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO=sudo; else SUDO=; fi; \
		$$SUDO apt-get update && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends chromium; \
	}

# The benchmarks drive wrk (a C load generator) and compare with nginx serving the same files;
# strace counts round trips to Redis by service (`bench.publish_latency --round-trips`).
bench-tools:
	@command -v wrk >/dev/null && command -v nginx >/dev/null && command -v strace >/dev/null || { \
		if [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO=sudo; else SUDO=; fi; \
		$$SUDO apt-get update && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends \
			wrk nginx-light strace; \
	}

run: venv
	$(BIN)/python -m devstack

# Tests run in TEST_WORKERS processes (pytest-xdist). A module, or the modules that share one
# stack (tests/module_groups.py), runs whole on one worker, so that stack starts once; the
# modules that start services go first. Each worker has its own Valkey. Four pay on two
# cores: much of the suite waits on services and deadlines rather than computes.
TEST_WORKERS ?= 4
# pytest rewrites the asserts of its plugins' packages (all of hypothesis) at every start, in
# every worker, unless it may keep the result: let it, even where the environment says not to
# write bytecode.
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest

test: venv chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(PYTEST) -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=15

# The edit loop: the tests that run in this process against one Valkey, none that start
# services, spread over the workers test by test.
test-quick: venv
	$(PYTEST) -n $(TEST_WORKERS) -m "not processes" -q

bench: venv bench-tools
	$(BIN)/python -m bench

# requirements.lock: every runtime dependency of pyproject.toml, transitive ones too, pinned
# with hashes. Run after changing a pin in pyproject.toml; tests/test_lock_file.py checks.
lock: venv
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --quiet --output-file requirements.lock

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache test-output
