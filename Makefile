# scfd: `make run` starts the server with embedded defaults, `make test` runs
# every test. Both install missing system packages first.
GO      ?= go
BIN     := bin/scfd
GOFLAGS ?=

.PHONY: all build run test test-go test-short bench deps deps-test vet clean

all: build

build:
	$(GO) build $(GOFLAGS) -o $(BIN) ./cmd/scfd

deps:
	./scripts/deps.sh

deps-test:
	./scripts/deps.sh --test

run: deps build
	./$(BIN) serve

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
