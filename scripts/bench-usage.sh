#!/usr/bin/env bash
# bench-usage: what reading the reach and the use of a leaked credential
# costs (issue 13): the respond path with and without them (containment
# must not change), the Graph requests they add per incident, and one
# complete investigation over a day of retained sign-ins read from the hub
# fake (tools/ehfake) with the real azeventhubs client. Part of `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
test -d tools/ehfake/node_modules/rhea || (cd tools/ehfake && npm ci --no-audit --no-fund --loglevel=error)

echo "== respond path without and with the reach and the use (simulated tenant, 50 ms per Graph call)"
$GO test -run '^$' -bench 'BenchmarkRespondLatency(WithReachAndUse)?$' -benchtime 50x ./internal/playbook | grep '^Benchmark'
echo "== one complete investigation over a day of retained sign-ins (hub fake, azeventhubs)"
SPRESPONDER_REQUIRE_EHFAKE=1 $GO test -run '^$' -bench 'BenchmarkInvestigateDayFromHub$' -benchtime 5x ./internal/usage | grep '^Benchmark'
