# scfd: `make run` starts the server with embedded defaults, `make demo`
# deploys and invokes the example function on it, `make test` runs every
# test. run and test install missing system packages first.
GO      ?= go
BIN     := bin/scfd
GOFLAGS ?=

.PHONY: all build run demo test test-go test-short bench deps deps-test vet clean

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

test: deps-test vet
	$(GO) test -count=1 -timeout 15m ./...

test-short:
	$(GO) test -count=1 -short ./...

bench: deps-test
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./...

clean:
	rm -rf bin
