# traced: build, run, test, bench.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
DATA     ?= ./data
FUZZTIME ?= 60s
PKGS     := ./...

.PHONY: all build run test test-deps vet generate templ-check bench bench-quick fuzz clean deb

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/traced ./cmd/traced
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/tracectl ./cmd/tracectl

# traced with its embedded defaults, data in ./data: HEP on UDP+TCP 9060 and 9061, web on 9080.
run: build
	./bin/traced --data $(DATA) --hep-addr :9060 --hep-addr :9061 --web-addr :9080

# Installs what the tests need when it is missing (as root; Chromium for the browser test too), then runs every test.
test: test-deps vet
	$(GO) test -count=1 -timeout 15m $(PKGS)

test-deps:
	@bash scripts/install-test-deps.sh --browser

# Regenerates the templ components' Go code (committed).
generate:
	$(GO) tool templ generate -path httpui

# Fails when a *_templ.go is not what its .templ generates (checked on a copy, so
# the working tree is left alone).
templ-check:
	@tmp=$$(mktemp -d) && cp -r httpui $$tmp/ && \
	"$$($(GO) tool -n templ)" generate -path $$tmp/httpui >/dev/null 2>&1 && \
	for f in $$(cd $$tmp && find httpui -name '*_templ.go'); do \
		cmp -s $$tmp/$$f $$f || { echo "$$f is stale: run make generate"; rm -rf $$tmp; exit 1; }; \
	done; rm -rf $$tmp

vet: templ-check
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet $(PKGS)

# Benchmarks; results go to docs/BENCHMARKS.md with the machine and the date: the hot path's micro-benchmarks,
# then the built traced under hepload (rates, transports, a long run, a large archive). About 35 minutes; the
# parameters (BENCH_DURATION, BENCH_RATES, BENCH_LONG, BENCH_ARCHIVE, ...) are described in scripts/bench.sh.
bench: build
	bash scripts/bench.sh

# A short run of the load parts for development (10 s per rate, 1 min long run, 1M-message archive), written to
# bin/BENCHMARKS-quick.md; its figures are not for the record.
bench-quick: build
	BENCH_QUICK=1 bash scripts/bench.sh

# Explores every fuzz target for FUZZTIME each (CI runs only their seed corpora).
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

# The Debian package bin/traced_<version>_<arch>.deb, built with dpkg-buildpackage and debhelper
# (packaging/deb/build.sh; the version comes from git). As root, `sh install.sh` installs it.
deb:
	GO=$(GO) sh packaging/deb/build.sh

clean:
	rm -rf bin
