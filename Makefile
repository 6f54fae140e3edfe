# scfd: `make run` starts the server with embedded defaults, `make demo`
# deploys and invokes the example function on it, `make test` runs every
# test. run and test install missing system packages first.
GO      ?= go
BIN     := bin/scfd
GOFLAGS ?=

.PHONY: all build run demo test test-go test-short test-k8s bench deps deps-test vet clean

all: build

build:
	$(GO) build $(GOFLAGS) -o $(BIN) ./cmd/scfd

deps:
	./scripts/deps.sh

deps-test:
	./scripts/deps.sh --test

run: deps build
	./$(BIN) serve

# demo needs `make run` going in another terminal.
demo: build
	./$(BIN) demo

vet:
	$(GO) vet ./...

# The store's tests (and those of the packages keeping tables in it) run
# on SQLite and again on PostgreSQL: scripts/testdb.sh starts Debian's
# cluster and prints the URL they read.
test: deps-test vet
	url="$$(./scripts/testdb.sh)" && SCFD_TEST_DATABASE_URL="$$url" $(GO) test -count=1 -timeout 15m ./...

# test-k8s runs the Kubernetes backend against a real single-node cluster
# on this machine (root; see test/k8s/run.sh). The first run builds the
# Kubernetes binaries into /var/cache/scfd-k8s (about 12 min on 2 cores).
test-k8s: deps-test
	./test/k8s/run.sh

test-short:
	$(GO) test -count=1 -short ./...

# bench runs the benchmarks of every package, then those that need the
# test cluster (root; see test/k8s/run.sh --bench).
bench: deps-test
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./...
	./test/k8s/run.sh --bench

clean:
	rm -rf bin
