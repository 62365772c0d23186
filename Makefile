# One command each. Every target creates and uses the local virtualenv (.venv), bootstrapping uv
# into .tools/ from the machine's Python 3.11, so a fresh clone needs nothing else.
PYTHON ?= python3.11
UV_VERSION ?= 0.13.8
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench chaos audit clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

setup: $(VENV)/.synced

demo: setup
	$(BIN)/kitepilot demo

test: setup
	$(BIN)/pytest -n 2 -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The bench also installs the libraries it compares against (dependency group `bench`).
bench: setup
	$(UV) sync --frozen --group bench --python $(PYTHON)
	$(BIN)/python -m bench

# The reliability suite at full size (crash-restart, broker faults, kill switch under load, fuzzing,
# dirty data, security); figures in var/reliability/, method and results in docs/RELIABILITY.md.
chaos: setup
	$(BIN)/pytest -n 2 -q -m chaos tests
	$(BIN)/python -m tests.reliability

# Known vulnerabilities in the locked dependencies (pip-audit); see .ci/audit.
audit: setup
	.ci/audit

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache .hypothesis
