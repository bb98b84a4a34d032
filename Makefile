# Fireline: two commands on a fresh machine.
#   make run    set up and run the bot (with no Slack tokens it says exactly what to set)
#   make test   set up and pass the tests (needs Redis on 127.0.0.1:6379; started if installed)

PYTHON ?= python3
# The checkout's own venv wherever make runs from: `make -f <checkout>/Makefile run` starts the
# bot in the current directory, with the .env there (tests/test_readme_setup.py does).
ROOT   := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
VENV   := $(ROOT)/.venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench install clean image

# The container image. Uses docker when a daemon answers, else buildah (daemonless, rootless-
# capable; vfs storage and chroot isolation work inside an unprivileged container too).
# PYTHON_IMAGE overrides the base (a registry mirror of python:3.11-slim); see docs/image.md.
IMAGE        ?= localhost/fireline:dev
PYTHON_IMAGE ?= python:3.11-slim

$(STAMP): $(ROOT)/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e "$(ROOT)[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/fireline serve

# On 2 pytest-xdist workers: much of the suite waits (servers, processes, a browser), so two
# at once nearly halve it on a 2-core machine (docs/decisions/parallel-tests.md).
# TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
XDIST        := -n $(TEST_WORKERS)

test: $(STAMP)
	./scripts/ensure-services
	$(BIN)/python -m pytest -q $(XDIST)

# The fast subset while working (a third of the time): no slow, browser or process tests.
.PHONY: test-fast
test-fast: $(STAMP)
	./scripts/ensure-services
	$(BIN)/python -m pytest -q $(XDIST) -m "not slow and not browser and not process"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	./scripts/ensure-services
	$(BIN)/python -m bench.declare_latency

# Every benchmark in bench/ on tiny inputs (~30 s): fails if one crashes or its checks fail.
.PHONY: bench-smoke
bench-smoke: $(STAMP)
	./scripts/ensure-services
	$(BIN)/python -m bench --smoke

image:
	@if docker info >/dev/null 2>&1; then \
		docker build -f deploy/Dockerfile --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) -t $(IMAGE) . ; \
	else \
		buildah --storage-driver vfs bud --isolation chroot -f deploy/Dockerfile \
			--build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) -t $(IMAGE) . ; \
	fi

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
