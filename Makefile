# bmc — the two commands a new machine needs are `make demo` and `make test`.
GO ?= go
BIN := bin
# What every command prints with --version.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)

.PHONY: all build test test-quick demo demo-sim fmt vet bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w -X github.com/bmc-sched/bmc/buildinfo.version=$(VERSION)' -o $(BIN)/ ./cmd/...

# The whole suite, as CI runs it: unit tests, end-to-end tests of the real
# binaries, and the virtual-lab tests (QEMU + ipmi_sim, tagged vlab), all with -race.
test:
	scripts/install-deps
	$(GO) vet ./...
	$(GO) test -race -timeout 25m ./...
	$(GO) test -race -timeout 15m -tags vlab ./scripts/vlabtest/
	$(GO) test -race -timeout 35m -tags vlab -run 'Lab' ./e2e/
	# After the e2e lab tests: their aarch64 lab fetched the arm64 kernel,
	# initrd and firmware that agent/pid1's aarch64 QEMU test boots.
	$(GO) test -race -timeout 10m -tags vlab -run QEMU ./agent/pid1/ ./boot/ ./boot/initramfs/

# Unit tests only, for the edit-compile loop.
test-quick:
	$(GO) test -short ./...

# The virtual lab end to end: two QEMU machines behind IPMI BMCs boot three
# jobs over the network (one with its own kernel command line, one CPU-heavy,
# one failing), then the lab goes down. A few minutes on 2 cores; root the
# first time (scripts/vlab installs QEMU, ipmi_sim, ...). See scripts/demo.
demo:
	scripts/demo

# A quick try on simulated machines: no hardware, no QEMU.
demo-sim: build
	scripts/demo-sim

fmt:
	gofmt -l -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

clean:
	rm -rf $(BIN)
