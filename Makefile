# The Makefile is the contract: CI runs the same targets. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
GO ?= go
BIN := bin/nudge
# Every target that touches Postgres or Redis starts them first (scripts/services).
SERVICES = eval "$$(scripts/services)"

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: services
services: ## Start Postgres and Redis if needed and print their URLs
	@scripts/services

# `nudge --version` prints this (else the Go build information).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)

.PHONY: build
build: ## Build bin/nudge, bin/nudge-fakes (provider fakes) and bin/nudge-demo
	$(GO) build -ldflags "-X github.com/nudge-engine/nudge/internal/cli.Version=$(VERSION)" -o $(BIN) ./cmd/nudge
	$(GO) build -o bin/nudge-fakes ./cmd/nudge-fakes
	$(GO) build -o bin/nudge-demo ./cmd/nudge-demo

# The fuzz steps run a count of inputs, not a time: with a duration, go1.26's
# coordinator can fail a target with a bare "context deadline exceeded" at the
# deadline on a busy machine (golang/go#75804, fixed in go1.27).
.PHONY: test
test: ## Run every test against real Postgres, Redis and Chromium (set up if needed)
	@$(SERVICES) && export NUDGE_CHROMIUM="$$(scripts/chromium)" && \
	  $(GO) vet ./... && $(GO) test -count=1 -timeout 25m ./... && \
	  $(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime 25000x ./campaigns && \
	  $(GO) test -run '^$$' -fuzz '^FuzzRender$$' -fuzztime 25000x ./templates

# The README's screenshots: the demo's week (40 customers), then a manager
# reading its pages in headless Chromium (demo.TestDemoWeek).
.PHONY: screenshots
screenshots: ## Refresh docs/screenshots/*.png from a demo run
	@$(SERVICES) && export NUDGE_CHROMIUM="$$(scripts/chromium)" && \
	  NUDGE_SCREENSHOTS_DIR="$(CURDIR)/docs/screenshots" $(GO) test -count=1 -run '^TestDemoWeek$$' ./demo/

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 30s)
	@scripts/fuzz $${FUZZTIME:-30s}

.PHONY: bench
bench: ## Run the benchmarks and write bench/results/*.json
	@$(SERVICES) && $(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

# The chaos suite (internal/chaos): faults during a blast through real
# worker, scheduler, redis-server and postgres processes. `make test` runs
# it at a small size; this runs every scenario at NUDGE_CHAOS_SIZE.
.PHONY: chaos
chaos: ## Run every chaos scenario at NUDGE_CHAOS_SIZE (default 20000), write bench/results/chaos.json
	@$(SERVICES) && NUDGE_CHAOS_SIZE=$${NUDGE_CHAOS_SIZE:-20000} NUDGE_CHAOS_RESULTS="$(CURDIR)/bench/results/chaos.json" \
	  $(GO) test -count=1 -timeout 90m -v -run '^TestChaos$$' ./internal/chaos/

.PHONY: lint
lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

.PHONY: demo
demo: build ## Run the engine on the bundled GrowFood example (fresh nudge_demo database)
	@scripts/demo
