#!/usr/bin/env bash
# bench-respond: the response path's benchmarks (issues 3 and 5): time from
# signal to credential removed and to the Conditional Access verdict
# against a simulated tenant answering every Graph call after 50 ms, Graph
# requests per incident, 100 concurrent incidents against the breaker, and
# the ledger's claims and updates per second, with the embedded file store
# and with Azure Blob Storage (Azurite); a storm of 100 leaked secrets under
# the tenant's identity protection limit, and reconcile's cost in Graph
# requests per hour (issue 12). Part of `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export AZURITE_BLOB_PORT=$port AZURITE_QUEUE_PORT=$((port+1)) AZURITE_TABLE_PORT=$((port+2))
scripts/azurite.sh start >/dev/null
trap 'scripts/azurite.sh stop >/dev/null 2>&1 || true' EXIT
blob="http://127.0.0.1:$port/devstoreaccount1"

echo "== respond path, ledger: embedded file store"
$GO test -run '^$' -bench 'BenchmarkRespondLatency$' -benchtime 50x ./internal/playbook | grep '^Benchmark'
echo "== respond path, ledger: Azure Blob Storage (Azurite on the same cores)"
SPRESPONDER_AZURITE_BLOB=$blob $GO test -run '^$' -bench 'BenchmarkRespondLatency$' -benchtime 50x ./internal/playbook | grep '^Benchmark'
echo "== 100 concurrent incidents, breaker 5 per hour"
$GO test -run '^$' -bench 'BenchmarkConcurrentIncidents$' -benchtime 3x ./internal/playbook | grep '^Benchmark'
echo "== storm: 100 leaked secrets at once, breaker raised, the tenant's identity protection limit on (about 5 minutes)"
$GO test -run '^$' -bench 'BenchmarkStorm$' -benchtime 1x -timeout 30m ./internal/playbook | grep '^Benchmark'
echo "== reconcile cost: an hour of Sweeps on a simulated clock, quiet and noisy tenant"
$GO test -run '^$' -bench 'BenchmarkReconcileCost' -benchtime 1x ./internal/reconcile | grep '^Benchmark'
echo "== ledger claims and updates (1 goroutine, and parallel as several instances)"
SPRESPONDER_AZURITE_BLOB=$blob $GO test -p 1 -run '^$' -bench 'Benchmark(Claim|Update|Mutate)' -benchtime 2s ./internal/ledger | grep '^Benchmark'
