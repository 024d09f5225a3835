# Build, test and tooling for tracer. `make help` lists the targets.
#
# Tests talk to real engines and nodes: chDB (libchdb.so, from npm), btcd in
# regtest (built from the Go module proxy into bin/) and Debian's
# clickhouse-server (apt-get install clickhouse-server; .ci/run installs it).

GO       ?= go
BIN      := $(CURDIR)/bin
FUZZTIME ?= 30s

# libchdb.so ships in the npm package @chdb/lib-linux-x64-gnu; only the
# library is kept, the package is 166 MB packed and 560 MB unpacked.
CHDB_VERSION ?= 26.5.3
CHDB_PACKAGE := @chdb/lib-linux-x64-gnu
CHDB_DIR     := $(CURDIR)/.cache/chdb
CHDB_LIB     := $(CHDB_DIR)/libchdb.so

BTCD_VERSION ?= v0.24.2
BTCD_BIN     ?= $(BIN)/btcd

# What the tests and the tracer binary read.
RUN_ENV := CHDB_LIB_PATH=$(CHDB_LIB) BTCD_BIN=$(BTCD_BIN)

.DEFAULT_GOAL := help
.PHONY: help libchdb btcd build test demo bench fuzz lint clean

help: ## List the targets
	@echo "Targets:"
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  %-8s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo "Variables: CHDB_VERSION=$(CHDB_VERSION) BTCD_VERSION=$(BTCD_VERSION) FUZZTIME=$(FUZZTIME)"

libchdb: ## Fetch libchdb.so (CHDB_VERSION) from npm into .cache/chdb (skipped when present)
	@if [ -f $(CHDB_LIB) ] && [ "$$(cat $(CHDB_DIR)/VERSION 2>/dev/null)" = "$(CHDB_VERSION)" ]; then \
		echo "libchdb $(CHDB_VERSION): $(CHDB_LIB) is present"; \
	else \
		set -e; \
		command -v npm >/dev/null || { echo "libchdb: needs npm (Debian: apt-get install npm)" >&2; exit 1; }; \
		mkdir -p $(CHDB_DIR); \
		tmp=$$(mktemp -d $(CHDB_DIR)/fetch.XXXXXX); \
		trap 'rm -rf "$$tmp"' EXIT; \
		echo "libchdb: npm pack $(CHDB_PACKAGE)@$(CHDB_VERSION)"; \
		tgz=$$(cd "$$tmp" && npm pack --silent $(CHDB_PACKAGE)@$(CHDB_VERSION) | tail -n 1); \
		tar -xzf "$$tmp/$$tgz" -C "$$tmp" package/libchdb.so; \
		mv "$$tmp/package/libchdb.so" $(CHDB_LIB); \
		echo $(CHDB_VERSION) > $(CHDB_DIR)/VERSION; \
		echo "libchdb: $(CHDB_LIB)"; \
	fi

btcd: ## Build btcd (BTCD_VERSION) into bin/ for the regtest tests
	GOBIN=$(BIN) $(GO) install github.com/btcsuite/btcd@$(BTCD_VERSION)

build: ## Build bin/tracer
	$(GO) build -o $(BIN)/tracer ./cmd/tracer

test: libchdb btcd ## Run every test against real engines (chDB, btcd; clickhouse-server if installed)
	$(RUN_ENV) $(GO) test -count=1 -timeout 30m ./...

demo: libchdb build ## Run `tracer demo` on embedded chDB
	$(RUN_ENV) $(BIN)/tracer demo

bench: libchdb build ## Run `tracer bench ingest`
	$(RUN_ENV) GODEBUG=madvdontneed=0 $(BIN)/tracer bench ingest

# One `go test -list` over all packages names the targets: it prints each
# package's matches before that package's "ok" line.
fuzz: ## Run every Fuzz target for FUZZTIME each
	@set -e; \
	$(RUN_ENV) $(GO) test -list '^Fuzz' ./... | \
	awk '/^Fuzz/ { names = names " " $$1; next } /^ok / { n = split(names, f, " "); for (i = 1; i <= n; i++) print $$2, f[i]; names = "" }' | \
	while read -r pkg target; do \
		echo "fuzz: $$pkg $$target for $(FUZZTIME)"; \
		$(RUN_ENV) $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

lint: ## gofmt -l (must list nothing) and go vet
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean: ## Remove bin/ and .cache/ (libchdb is fetched again on next use)
	rm -rf $(BIN) $(CURDIR)/.cache
