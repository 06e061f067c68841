# azid's build and test entry points. `make test` is what CI runs (.ci/run).

GO ?= go
FUZZEXECS ?= 50000

.PHONY: test setup tidy check cross-vet wine-test race bench-smoke fuzz-smoke bench benchmarks-doc

## test: everything CI checks, on a fresh machine with Go 1.26 (installs the
## real components first: see scripts/ci-setup.sh)
test: setup check race wine-test bench-smoke fuzz-smoke

## setup: install the real components the tests start (apt and npm)
setup:
	./scripts/ci-setup.sh

## tidy: go mod tidy in every module (the sub-modules replace azid with the
## root, so their go.sum must follow the root's dependencies)
tidy:
	$(GO) mod tidy
	cd cache/redis && $(GO) mod tidy
	cd bench && $(GO) mod tidy
	cd interop && $(GO) mod tidy
	cd examples/metrics && $(GO) mod tidy

## check: no tracked binaries or files over 1 MB, formatting and vet, for
## every module
check:
	@$(GO) version
	./scripts/check-files.sh
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd cache/redis && $(GO) vet ./...
	cd bench && $(GO) vet ./...
	cd interop && $(GO) vet ./...
	cd examples/metrics && $(GO) vet ./...
	./scripts/cross-vet.sh

## cross-vet: vet for macOS and Windows with CGO_ENABLED=0 (the Keychain
## and DPAPI storages must build without cgo)
cross-vet:
	./scripts/cross-vet.sh

## wine-test: the Windows storage (DPAPI) tests, run under Wine
wine-test:
	./scripts/wine-test.sh

## race: all tests of the main module under the race detector, then the
## Redis store's module (against redis-server), the tests against real peers
## (interop: azidentity, the Azure CLI, Azurite, Chromium) and the metrics
## example module
race:
	$(GO) test -race -count=1 ./...
	cd cache/redis && $(GO) test -race -count=1 ./...
	cd interop && $(GO) test -race -count=1 ./...
	cd examples/metrics && $(GO) test -race -count=1 ./...

## bench-smoke: the side-by-side module's tests (azidentity and azid against
## the emulator) and one pass of every benchmark, so they cannot rot
bench-smoke:
	cd bench && $(GO) test -race -count=1 ./...
	$(GO) test -run='^$$' -bench=. -benchtime=1x ./internal/...

## fuzz-smoke: every fuzz target for FUZZEXECS executions
fuzz-smoke:
	./scripts/fuzz-smoke.sh $(FUZZEXECS)

## bench: the engine's, the credentials' and the Redis store's benchmarks
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...
	cd cache/redis && $(GO) test -run='^$$' -bench=. -benchmem ./...

## benchmarks-doc: the side-by-side comparison with azidentity; rewrites
## docs/BENCHMARKS.md (5-7 minutes; run it on a quiet machine)
benchmarks-doc:
	cd bench && $(GO) run ./cmd/report
