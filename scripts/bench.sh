#!/usr/bin/env bash
# scripts/bench.sh (`make bench`): intake throughput against Node, Python and
# a raw byte scan, and cold start against bare Go and Node servers.
#
# 1. Writes one invocation of about $BENCH_MB MB (tools/benchgen: 100 events
#    of {"records":[...]}, 99% benign) to a temporary directory, so every
#    peer reads exactly the same bytes.
# 2. Pinned to one core (taskset, when there is one), in $BENCH_ROUNDS rounds
#    so that a machine whose speed drifts treats every peer alike:
#      the Go benchmarks BenchmarkIntake (decode + intake + detect) and
#        BenchmarkRawScan (the ceiling), one -count per round;
#      tools/bench/peer.js (JSON.parse x3 + the same category filter);
#      tools/bench/peer.py (json.loads x3 + the same filter).
#    Prints MB/s, records/s, allocations per record and the ratios.
# 3. Builds bin/spresponder and starts it $COLDSTART_RUNS times (serve, with
#    a fresh FUNCTIONS_CUSTOMHANDLER_PORT and a temporary
#    SPRESPONDER_STATE_DIR): time from exec to the first answer on GET / and
#    VmRSS then; the same for a bare Go net/http server and a bare Node one.
#
# Settings (environment): BENCH_MB (64), BENCH_SHAPE (default, or alt: the
# second invocation, keys in reverse order, more properties per record and
# 40% audit records), BENCH_ROUNDS (3), NODE_RUNS (5),
# PYTHON_RUNS (3), COLDSTART_RUNS (20), GO (go), NODE (node),
# PYTHON (python3), BENCH_BIN (use this binary instead of building).
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
NODE=${NODE:-node}
PYTHON=${PYTHON:-python3}
BENCH_MB=${BENCH_MB:-64}
BENCH_SHAPE=${BENCH_SHAPE:-default}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
NODE_RUNS=${NODE_RUNS:-5}
PYTHON_RUNS=${PYTHON_RUNS:-3}
COLDSTART_RUNS=${COLDSTART_RUNS:-20}

for tool in "$GO" "$NODE" "$PYTHON"; do
	command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spresponder-bench.XXXXXX")
children=()
cleanup() {
	local pid
	for pid in "${children[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run starts a command in the background and waits for it, so the traps can
# stop it.
run() {
	"$@" &
	local pid=$!
	children+=("$pid")
	wait "$pid"
}

# Pin to the last CPU this shell may run on (the first one tends to take the
# interrupts), if taskset works here.
pin=()
if command -v taskset >/dev/null 2>&1; then
	cpu=$(taskset -pc $$ 2>/dev/null | sed 's/.*: *//; s/.*,//; s/.*-//')
	if [[ -n "$cpu" ]] && taskset -c "$cpu" true 2>/dev/null; then
		pin=(taskset -c "$cpu")
	fi
fi

echo "== machine"
model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
echo "cpus: $(nproc) (${model:-unknown}); pinned: ${pin[*]:-no (no usable taskset)}"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
echo "$($GO version); node $($NODE --version); $($PYTHON --version 2>&1)"

echo "== building the tools"
$GO build -o "$tmp/benchgen" ./tools/benchgen
$GO test -c -o "$tmp/intake.test" ./internal/intake
$GO build -o "$tmp/coldstart" ./tools/bench/coldstart
$GO build -o "$tmp/bare" ./tools/bench/bare
if [[ -n "${BENCH_BIN:-}" ]]; then
	bin=$BENCH_BIN
	echo "using $bin"
else
	mkdir -p bin
	$GO build -o bin/spresponder .
	bin=bin/spresponder
fi

echo "== generating the invocation"
inv="$tmp/invocation.json"
"$tmp/benchgen" -o "$inv" -mb "$BENCH_MB" -shape "$BENCH_SHAPE" -testdata testdata/entra

echo "== throughput ($BENCH_ROUNDS rounds, one core)"
: >"$tmp/go.txt"
: >"$tmp/peers.jsonl"
for round in $(seq 1 "$BENCH_ROUNDS"); do
	echo "-- round $round"
	(cd internal/intake && SPRESPONDER_BENCH_FILE="$inv" run "${pin[@]}" "$tmp/intake.test" \
		-test.run '^$' -test.bench 'BenchmarkIntake$|BenchmarkRawScan$' \
		-test.benchtime 10x -test.count 1 -test.cpu 1) | tee -a "$tmp/go.txt" | grep '^Benchmark'
	run "${pin[@]}" "$NODE" tools/bench/peer.js "$inv" "$NODE_RUNS" | tee -a "$tmp/peers.jsonl"
	run "${pin[@]}" "$PYTHON" tools/bench/peer.py "$inv" "$PYTHON_RUNS" | tee -a "$tmp/peers.jsonl"
done

echo "== cold start ($COLDSTART_RUNS starts each)"
: >"$tmp/cold.jsonl"
mkdir -p "$tmp/state"
SPRESPONDER_STATE_DIR="$tmp/state" run env -u SPRESPONDER_BENCH_FILE "$tmp/coldstart" -name spresponder -n "$COLDSTART_RUNS" -- "$bin" serve | tee -a "$tmp/cold.jsonl"
run "$tmp/coldstart" -name go-bare -n "$COLDSTART_RUNS" -- "$tmp/bare" | tee -a "$tmp/cold.jsonl"
run "$tmp/coldstart" -name node-bare -n "$COLDSTART_RUNS" -- "$NODE" tools/bench/bare.js | tee -a "$tmp/cold.jsonl"

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
echo
"$PYTHON" tools/bench/report.py "$tmp/go.txt" "$tmp/peers.jsonl" "$tmp/cold.jsonl" "$(stat -c %s "$inv")"
