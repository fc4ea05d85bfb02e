# werfpull developer entry points. `make help` lists them.
#
#   make test [PYTEST_ARGS="-k plan -x"]
#   make plan REPO=registry.example.com/app/stages [IMAGES="backend frontend"] [ALL=1] [DEST=...]
#   make pull-cache REPO=... [JOBS=4]
#   make script REPO=... [OUT=build/pull-cache.sh]
#   DIR=path/to/project and CONFIG=path/to/werf.yaml are forwarded as --dir / --config.

SHELL := bash
.DEFAULT_GOAL := help

PYTHON ?= python3
RUFF ?= $(PYTHON) -m ruff
SHELLCHECK ?= shellcheck
WERFPULL ?= $(PYTHON) -m werfpull

PYTEST_ARGS ?=
REPO ?=
IMAGES ?=
ALL ?=
DEST ?=
JOBS ?=
DIR ?=
CONFIG ?=
OUT ?= build/pull-cache.sh

# Only directories that exist: ruff fails on a missing path, and bench/ may be empty.
RUFF_PATHS ?= $(wildcard werfpull tests bench scripts/demo)
# Generated pull scripts can be appended: make lint SHELLCHECK_FILES+=build/pull-cache.sh
SHELLCHECK_FILES ?= scripts/bootstrap scripts/make-base-image .ci/run $(sort $(shell find scripts -name '*.sh' 2>/dev/null))

# ARGS passes any other werfpull flag, e.g. ARGS=--insecure-registry for a loopback registry.
ARGS ?=
WERFPULL_COMMON = $(if $(DIR),--dir $(DIR)) $(if $(CONFIG),--config $(CONFIG)) $(ARGS)
WERFPULL_SELECT = $(REPO) $(IMAGES) $(if $(ALL),--all-stages) $(if $(DEST),--dest '$(DEST)')

# $(error) inside a recipe fires only when that target actually runs.
require_repo = $(if $(strip $(REPO)),,$(error REPO is not set: make $@ REPO=<registry>/<repository> [IMAGES="img1 img2"]))

.PHONY: help bootstrap test lint bench plan pull-cache script demo clean

help:
	@echo 'targets: bootstrap test lint bench plan pull-cache script demo clean'
	@echo 'e.g.     make plan REPO=registry.example.com/app/stages IMAGES=backend'

bootstrap:
	PYTHON='$(PYTHON)' scripts/bootstrap

test: bootstrap
	$(strip $(PYTHON) -m pytest -q -ra tests $(PYTEST_ARGS))

# A pull script rendered from a fixed plan (with an awkward image name) is linted too.
LINT_SCRIPT = build/lint/pull-cache.sh

lint: bootstrap
	$(RUFF) check $(RUFF_PATHS)
	@mkdir -p $(dir $(LINT_SCRIPT))
	$(WERFPULL) script --plan tests/data/example-plan.json -o $(LINT_SCRIPT)
	$(SHELLCHECK) $(SHELLCHECK_FILES) $(LINT_SCRIPT)
	dash -n $(LINT_SCRIPT) && busybox sh -n $(LINT_SCRIPT)

bench: bootstrap
	$(PYTHON) -m bench

plan:
	$(call require_repo)
	$(strip $(WERFPULL) plan $(WERFPULL_SELECT) $(WERFPULL_COMMON))

pull-cache:
	$(call require_repo)
	$(strip $(WERFPULL) pull $(WERFPULL_SELECT) $(if $(JOBS),--jobs $(JOBS)) $(WERFPULL_COMMON))

script:
	$(call require_repo)
	@mkdir -p $(dir $(OUT))
	$(strip $(WERFPULL) script $(WERFPULL_SELECT) $(WERFPULL_COMMON) -o $(OUT))

# The same interpreter bootstrap installed werfpull's dependencies into; DEMO_WORK=MB
# sets how much data the example's install stage generates (make demo DEMO_WORK=50).
demo: bootstrap
	PYTHONPATH=$(CURDIR) $(PYTHON) scripts/demo

clean:
	rm -rf build .pytest_cache .ruff_cache .tox *.egg-info
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
