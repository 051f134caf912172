package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/ehfaketest"
	"github.com/spresponder/spresponder/internal/graphsim"
)

// BenchmarkConsume: `spresponder consume` end to end, records per second,
// from the first partition claimed to every partition checkpointed at its
// last event and every leaked key removed. The hub (tools/ehfake) holds two partitions of events of 50
// records each from the start; the consumers start at the earliest event
// (SPRESPONDER_CONSUME_START=earliest), with the shipped batch size (100)
// and info logging, the ledger and the checkpoints on Azurite, Graph the
// simulated tenant, Teams a local stand-in. Everything runs on the same
// cores: the fake, Azurite, the tenant and the consumers.
//
//   - benign: successful service-principal sign-ins of apps no rule names
//     (decoded, detected, no signal);
//   - signals1pct: the same with one record in 100 a leakedCredentials
//     detection of its own app, which is verified, contained (removePassword)
//     and notified (Teams): an incident per 100 records.
//
// One and two consumer processes. Sizes: 500 events per partition
// (50,000 records) benign, 100 (10,000 records, 100 incidents) with
// signals; SPRESPONDER_BENCH_CONSUME_EVENTS sets both.
func BenchmarkConsume(b *testing.B) {
	const perEvent, partitions = 50, 2
	for _, mix := range []struct {
		name   string
		signal bool
		events int
	}{{"benign", false, 500}, {"signals1pct", true, 100}} {
		events := mix.events
		if v, err := strconv.Atoi(os.Getenv("SPRESPONDER_BENCH_CONSUME_EVENTS")); err == nil && v > 0 {
			events = v
		}
		for _, procs := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/procs=%d", mix.name, procs), func(b *testing.B) {
				var records, signals, secs float64
				for range b.N {
					r, s, d := consumeRun(b, procs, partitions, events, perEvent, mix.signal)
					records, signals, secs = records+float64(r), signals+float64(s), secs+d.Seconds()
				}
				b.ReportMetric(records/secs, "records/s")
				b.ReportMetric(signals/float64(b.N), "signals/run")
				b.ReportMetric(secs/float64(b.N), "s/run")
				b.ReportMetric(0, "ns/op") // one run is the unit, reported above
			})
		}
	}
}

// consumeRun fills a hub, runs procs consumers until every partition is
// checkpointed at its end, and returns the records, the signals the
// consumers reported, and the time from the first claim to the last
// checkpoint.
func consumeRun(b *testing.B, procs, partitions, events, perEvent int, withSignals bool) (int, int, time.Duration) {
	b.Helper()
	b.StopTimer()
	ep := azurite.BlobEndpoint(b)
	total := partitions * events * perEvent
	leaks := 0
	if withSignals {
		leaks = total / 100
	}
	w := newWorld(b, leaks, ep)
	rng := rand.New(rand.NewPCG(uint64(procs), uint64(leaks)))
	parts := map[string][]ehfaketest.Event{}
	start := time.Now().Add(-time.Hour)
	n := 0
	for p := range partitions {
		pid := strconv.Itoa(p)
		for e := range events {
			recs := make([]any, perEvent)
			for r := range recs {
				if withSignals && n%100 == 50 && n/100 < leaks {
					recs[r] = leakRecord(w.apps[n/100])
				} else {
					recs[r] = benignSignIn(rng)
				}
				n++
			}
			body, _ := json.Marshal(map[string]any{"records": recs})
			parts[pid] = append(parts[pid], ehfaketest.Event{Body: string(body), EnqueuedTime: start.Add(time.Duration(e) * time.Millisecond)})
		}
	}
	conn := startEHFakeWith(b, parts)
	cpContainer := fmt.Sprintf("cp-%d", rand.IntN(1<<30))
	env := consumeEnv(w, conn, cpContainer)
	env["SPRESPONDER_CONSUME_BATCH_SIZE"] = "100"
	env["SPRESPONDER_CONSUME_MAX_WAIT"] = "500ms"
	env["SPRESPONDER_CONSUME_SWEEP_INTERVAL"] = "0s"
	delete(env, "SPRESPONDER_STAGE_DEADLINE") // the shipped 60s: nothing is parked under load
	var cs []*consumer
	for i := range procs {
		cs = append(cs, startConsume(b, fmt.Sprint("bench", i), env))
	}
	waitFor(b, "a partition claimed", 30*time.Second, func() bool {
		for _, c := range cs {
			if len(c.owned()) > 0 {
				return true
			}
		}
		return false
	})
	b.StartTimer()
	t0 := time.Now()
	cps := checkpointStore(b, ep, cpContainer)
	waitFor(b, "every partition checkpointed at its end and every leaked key removed", 8*time.Minute, func() bool {
		if len(w.removals()) < leaks {
			return false
		}
		got := checkpointed(b, cps, conn)
		for p := range partitions {
			if seq, ok := got[strconv.Itoa(p)]; !ok || seq != int64(events-1) {
				return false
			}
		}
		return true
	})
	took := time.Since(t0)
	b.StopTimer()
	sigs := 0
	for _, c := range cs {
		for _, l := range c.lines() {
			if l.Msg == "batch" {
				sigs += l.Signals
			}
		}
	}
	if withSignals && len(w.removals()) != leaks {
		b.Fatalf("%d of %d leaked keys removed", len(w.removals()), leaks)
	}
	if !withSignals && sigs != 0 {
		b.Fatalf("benign traffic made %d signals", sigs)
	}
	return total, sigs, took
}

// benignSignIn is a successful service-principal sign-in of an app no rule
// or Conditional Access policy names.
func benignSignIn(r *rand.Rand) map[string]any {
	id := func() string {
		return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, r.Uint32()&0xfff, r.Uint64()&0xffffffffffff)
	}
	app, sp := id(), id()
	return map[string]any{
		"time": "2026-11-29T06:22:28.3518405Z", "resourceId": "/tenants/" + tenant + "/providers/Microsoft.aadiam",
		"operationName": "Sign-in activity", "operationVersion": "1.0", "category": "ServicePrincipalSignInLogs",
		"tenantId": tenant, "resultType": "0", "resultSignature": "None", "durationMs": 0, "callerIpAddress": "1.128.3.4",
		"correlationId": id(), "Level": 4, "location": "IN",
		"properties": map[string]any{
			"id": id(), "createdDateTime": "2026-11-29T06:22:28.3518405+00:00", "appId": app, "ipAddress": "1.128.3.4",
			"status": map[string]any{"errorCode": 0}, "correlationId": id(), "conditionalAccessStatus": "notApplied",
			"appliedConditionalAccessPolicies": []any{}, "isInteractive": false, "tokenIssuerType": "AzureAD",
			"servicePrincipalCredentialKeyId": id(), "servicePrincipalId": sp, "servicePrincipalName": "bench-app",
			"resourceDisplayName": "Microsoft Graph", "resourceId": id(), "uniqueTokenIdentifier": "tok" + app[:8],
		},
	}
}

// leakRecord is the record of leakEvent.
func leakRecord(a graphsim.LoadApp) map[string]any {
	var ev struct {
		Records []map[string]any `json:"records"`
	}
	_ = json.Unmarshal([]byte(leakEvent(a)), &ev)
	return ev.Records[0]
}
