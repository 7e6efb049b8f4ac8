# traced: build, run, test, bench.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
DATA     ?= ./data
FUZZTIME ?= 60s
PKGS     := ./...

.PHONY: all build run test test-deps vet generate templ-check bench fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/traced ./cmd/traced
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/tracectl ./cmd/tracectl

# traced with its embedded defaults, data in ./data: HEP on UDP+TCP 9060 and 9061, web on 9080.
run: build
	./bin/traced --data $(DATA) --hep-addr :9060 --hep-addr :9061 --web-addr :9080

# Installs what the tests need when it is missing (as root), then runs every test.
test: test-deps vet
	$(GO) test -count=1 -timeout 15m $(PKGS)

test-deps:
	@bash scripts/install-test-deps.sh

# Regenerates the templ components' Go code (committed).
generate:
	$(GO) tool templ generate -path httpui

# Fails when a committed *_templ.go is not what its .templ generates.
templ-check:
	@$(GO) tool templ generate -path httpui >/dev/null 2>&1
	@git diff --quiet -- '*_templ.go' || { echo "generated templ files are stale: run make generate and commit"; git diff --stat -- '*_templ.go'; exit 1; }

vet: templ-check
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet $(PKGS)

# Benchmarks; results go to docs/BENCHMARKS.md with the machine and the date.
bench:
	bash scripts/bench.sh

# Explores every fuzz target for FUZZTIME each (CI runs only their seed corpora).
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin
