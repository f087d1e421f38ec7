# daxkv build and test targets. `make test` is what CI runs; it installs
# what it needs (staticcheck with go install; qemu and a Debian kernel for
# the DAX guest) and must pass on a fresh Debian 12 machine.

GO          ?= go
GOBIN       := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
PKGS        := ./...

.PHONY: build test vet lint fmt-check ensure-tmux test-race test-raftstore test-short torture crash crash-quick crash-gate-test fuzz bench bench-quick bench-kv test-bench test-dax test-arm64 clean

## test: everything CI runs: vet, lint, the race-enabled suite with the
## invariants tag (the torture test's 10 s tier among it), the crash
## suite's quick tier, the arm64 flush path under qemu-user, and the DAX
## guest; and daxkv driven through a terminal (tmux) for its progress bar.
test: vet lint test-race test-bench test-raftstore crash-quick test-arm64 test-dax

## build: bin/daxkv, stamped with the commit (daxkv --version).
build:
	$(GO) build -buildvcs=true -ldflags "-X main.commit=$$(git rev-parse HEAD 2>/dev/null)" -o bin/daxkv ./cmd/daxkv

vet:
	$(GO) vet $(PKGS)
	GOARCH=arm64 $(GO) vet $(PKGS)
	cd bench && $(GO) vet ./...
	cd raftstore && $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "not gofmt'ed:"; echo "$$out"; exit 1; fi

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: fmt-check $(STATICCHECK)
	$(STATICCHECK) $(PKGS)
	cd bench && $(STATICCHECK) ./...
	cd raftstore && $(STATICCHECK) ./...

## test-race also drives daxkv through a terminal (tmux), installed here
## with apt-get when missing.
## scripts/digest.sh repeats, at the end of a failed run, the lines that
## say why (a fatal error's first lines come before thousands of lines of
## goroutine dump).
test-race: ensure-tmux
	DAXKV_REQUIRE_TMUX=1 scripts/digest.sh $(GO) test -race -tags invariants -count=1 -timeout 15m $(PKGS)

## test-raftstore: the raft storage module (its own go.mod): the store's
## contract, SIGKILL mid-StoreLogs, and a 3-node cluster, under -race.
test-raftstore:
	cd raftstore && ../scripts/digest.sh $(GO) test -race -count=1 -timeout 10m ./...

ensure-tmux:
	@command -v tmux >/dev/null 2>&1 || { \
		echo "installing tmux"; \
		DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 install -y tmux >/dev/null || \
		{ DEBIAN_FRONTEND=noninteractive apt-get -q update >/dev/null && \
		  DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 install -y tmux >/dev/null; }; }

test-short:
	$(GO) test -short -count=1 $(PKGS)

## torture: the concurrent torture test (kv/torture_test.go) for TORTURE
## (default 60s), under -race with the invariants tag.
TORTURE ?= 60s
torture:
	DAXKV_TORTURE=$(TORTURE) $(GO) test -race -tags invariants -count=1 -timeout 30m -run '^TestTorture$$' -v ./kv/

## crash-quick / crash: the crash-injection suite (see CRASH.md). Both end
## with "crash-suite: images=N points=P violations=V mutants=C/M".
crash-quick:
	$(GO) run -tags mutants ./cmd/daxkv crashtest --tier quick --nest-every 16 --mutants --quiet

crash:
	$(GO) run -tags mutants ./cmd/daxkv crashtest --tier full --nest-every 32 --mutants

## crash-gate-test: the mutation gate as a Go test (crash-quick runs the same
## gate through the CLI).
crash-gate-test:
	$(GO) test -tags mutants -count=1 -timeout 10m -run 'TestGate' ./crash/

## fuzz: each decoder of on-media bytes for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run XXX -fuzz FuzzDecodeRecord -fuzztime $(FUZZTIME) ./recovery/
	$(GO) test -run XXX -fuzz FuzzReadSuperblock -fuzztime $(FUZZTIME) ./recovery/
	$(GO) test -run XXX -fuzz FuzzRecover -fuzztime $(FUZZTIME) ./recovery/

## bench-quick / bench: daxkv against bbolt, pebble, badger and PMDK in one
## run (bench/, its own module; see bench/README.md): N = 100k (and 10k of
## 4 KiB values) in a few minutes, or the full N = 1M (and 100k of 4 KiB).
## Both print a table and write bench/out/results.json and chart.png.
bench-quick:
	cd bench && $(GO) run . --quick --out out

bench:
	cd bench && $(GO) run . --out out

## test-bench: the bench harness's own tests (a tiny run of the plan on
## daxkv and the Go peers; the PMDK driver's self-test where it builds).
test-bench:
	cd bench && $(GO) test -count=1 ./...

## bench-kv: the kv package's Go benchmarks (pools on /dev/shm, emulated
## mode), 5 runs each for benchstat.
bench-kv:
	$(GO) test -run XXX -bench . -benchmem -count 5 ./kv/ | tee bench.out

## test-arm64: the flush package's arm64 build under qemu-user, forcing the
## DC CVAC path (DC CVAP raises SIGILL under qemu-user).
test-arm64:
	bash scripts/test-arm64.sh

## test-dax: the real DAX path (MAP_SYNC, device DAX, power-off crash) in a
## QEMU guest with emulated NVDIMMs.
test-dax:
	bash test/daxvm/run.sh

clean:
	rm -f *.test bench.out
	rm -rf bin
