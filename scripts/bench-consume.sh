#!/usr/bin/env bash
# bench-consume: `spresponder consume` end to end (issue 12), records per
# second with benign traffic and with 1% leaked-credential detections, one
# and two consumer processes, against tools/ehfake (the real azeventhubs
# Processor over AMQP), Azurite (ledger and checkpoints) and the simulated
# tenant, all on this machine. Part of `make bench`; see BENCHMARKS.md.
#
# Settings (environment): SPRESPONDER_BENCH_CONSUME_EVENTS (events of 50
# records per partition; default 500 benign, 100 with signals), GO (go).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
test -d tools/ehfake/node_modules/rhea || (cd tools/ehfake && npm ci --no-audit --no-fund --loglevel=error)
scripts/azurite.sh install >/dev/null
echo "== consume: load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! SPRESPONDER_REQUIRE_EHFAKE=1 SPRESPONDER_REQUIRE_AZURITE=1 $GO test -timeout 30m -run '^$' \
	-bench 'BenchmarkConsume' -benchtime 1x ./internal/e2e >"$out" 2>&1; then
	grep -v '^ *{' "$out" | tail -40
	echo "bench-consume: FAIL" >&2
	exit 1
fi
grep '^Benchmark' "$out"
echo "== consume: load average at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
