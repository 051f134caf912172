# spresponder: the commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
# FUZZTIME for `make fuzz` (a duration like 1m, or a count like 500x).
# `make test` runs each target for a fixed number of inputs, not a
# duration: a duration-bound run on a loaded machine can end inside the
# fuzzer's own start-up and fail with "context deadline exceeded".
FUZZTIME ?= 30s
FUZZSHORT ?= 400x
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/spresponder/spresponder/internal/app.Version=$(VERSION)

# Every fuzz target, as package:Function. `make fuzz` runs each for FUZZTIME.
FUZZ_TARGETS := \
	./internal/invocation:FuzzDecode \
	./internal/jsonscan:FuzzUnescape \
	./internal/jsonscan:FuzzSkipValue \
	./internal/jsonscan:FuzzSkipContainerFast \
	./internal/invocation:FuzzFusedMatchesTwoPass \
	./internal/invocation:FuzzFusedRoundTrip \
	./internal/entra:FuzzAuditScreen \
	./internal/entra:FuzzOneReading \
	./internal/detect:FuzzSignInScreen \
	./internal/detect:FuzzRecordDecoders \
	./internal/capolicy:FuzzDecodePolicies \
	./internal/rules:FuzzParse \
	./internal/logtable:FuzzRecord \
	./internal/replay:FuzzRead \
	./internal/act:FuzzDecodeToken \
	./internal/act:FuzzForm \
	./internal/notify:FuzzCardLinks \
	./internal/usage:FuzzWalk \
	./internal/usage:FuzzRows

.PHONY: all build test vet unit fuzz fuzz-short bench demo screenshots package lint infra-check clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/spresponder .

# test: vet, the unit and integration tests with the race detector, and a
# short run of every fuzz target. Installs nothing that needs root.
test: vet unit fuzz-short

vet:
	$(GO) vet ./...

# Azurite and the Event Hubs fake's AMQP library are installed once up
# front (npm ci into local node_modules/, no root), so test packages that
# start them in parallel do not race to install them.
unit:
	scripts/azurite.sh install
	test -d tools/ehfake/node_modules/rhea || (cd tools/ehfake && npm ci --no-audit --no-fund --loglevel=error)
	$(GO) test -race -count=1 ./...

fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZSHORT)

# Each target's output goes to a log of its own (no fixed /tmp path that two
# runs would share); a failure prints it and names the target.
fuzz:
	@set -e; log=$$(mktemp -d); trap 'rm -rf "$$log"' EXIT; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg > "$$log/$$fn.log" 2>&1 || { cat "$$log/$$fn.log"; echo "FAIL: fuzz target $$fn in $$pkg"; exit 1; }; \
	done

bench:
	scripts/bench.sh
	scripts/bench-respond.sh
	scripts/bench-consume.sh
	scripts/bench-usage.sh

# demo: the whole story against the simulated tenant, no cloud.
demo:
	@$(GO) build -o bin/demo ./tools/demo && bin/demo

# screenshots: the demo's Teams card and report page (desktop and phone
# width) and email, checked with the real renderers and written to docs/img
# (needs Debian's chromium and Node; not part of make test).
screenshots:
	$(GO) run ./tools/screenshots -out docs/img

package:
	mkdir -p dist
	GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/spresponder .
	$(GO) run ./tools/package -bin dist/spresponder -o dist/spresponder.zip

# lint: gofmt, vet and golangci-lint v2 (pinned; built once into
# ~/.cache/spresponder/bin, about 2 minutes the first time). Config: .golangci.yml.
GOLANGCI := $(HOME)/.cache/spresponder/bin/golangci-lint
GOLANGCI_VERSION := v2.15.0
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	@test -x $(GOLANGCI) && $(GOLANGCI) version 2>/dev/null | grep -q $(GOLANGCI_VERSION:v%=%) || \
		GOBIN=$(HOME)/.cache/spresponder/bin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)
	$(GOLANGCI) run --timeout 10m ./...

# infra-check: infra/ with the real tools, offline: tofu fmt, the KQL of the
# workbook and alerts, tofu init + validate against the azurerm 5.x schema,
# tofu test (mocked provider), tflint and tfsec. The tools (OpenTofu, the
# azurerm provider, tflint, tfsec) are built from the Go module proxy once
# into ~/.cache/spresponder: the first run takes about 20 minutes on an idle
# 2-core machine (74 measured while other test suites shared the cores),
# later ones under a minute. Details in scripts/infra-check.sh.
infra-check:
	scripts/infra-check.sh

clean:
	rm -rf bin dist
