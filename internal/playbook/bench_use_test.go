package playbook_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/lasim"
	"github.com/spresponder/spresponder/internal/playbook"
	"github.com/spresponder/spresponder/internal/reach"
	"github.com/spresponder/spresponder/internal/usage"
)

// BenchmarkRespondLatencyWithReachAndUse is BenchmarkRespondLatency with
// the reach and the use wired in as serve wires them (every app holds
// Application.ReadWrite.All and Machine.Isolate; a Log Analytics workspace,
// lasim through the real azlogs client, holds three sign-ins per key).
// Containment must take as long as without them: the p50/p99 to removed
// and to the verdict compare with BenchmarkRespondLatency's. It reports
// the Graph requests per incident (the extra ones are the reach's; the use
// makes none), the workspace queries per incident and the time to the
// notice-ready incident (reach and use read).
func BenchmarkRespondLatencyWithReachAndUse(b *testing.B) {
	const n = 60
	const ws = "8a1c5e3b-2f4d-4b6a-9c8e-7d6f5e4a3b2c"
	la := lasim.New(ws, nil)
	endpoint, err := la.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = la.Close() })
	lac, err := usage.NewLogAnalyticsClient(endpoint, usage.StaticToken("t"))
	if err != nil {
		b.Fatal(err)
	}
	sim, apps, r := benchWorld(b, n, 50*time.Millisecond, 1_000_000, true, func(cli *graph.Client, seed *graphsim.Seed, apps []graphsim.LoadApp) []playbook.Option {
		if seed != nil {
			g, m := graphsim.MicrosoftGraphServicePrincipal(), graphsim.WindowsDefenderATPServicePrincipal()
			seed.ServicePrincipals = append(seed.ServicePrincipals, g, m)
			for i, a := range apps {
				seed.AppRoleAssignments = append(seed.AppRoleAssignments,
					graphsim.AppRoleAssignment{ID: fmt.Sprintf("b0000000-0000-4000-8000-%012d", 2*i), AppRoleID: "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", PrincipalID: a.ServicePrincipalID, ResourceID: g.ID, ResourceDisplayName: g.DisplayName},
					graphsim.AppRoleAssignment{ID: fmt.Sprintf("b0000000-0000-4000-8000-%012d", 2*i+1), AppRoleID: "7e4e1300-e1b9-4102-88ba-f0cb6e6d5974", PrincipalID: a.ServicePrincipalID, ResourceID: m.ID, ResourceDisplayName: m.DisplayName})
				for k := range 3 {
					at := leak(a.AppID, a.ServicePrincipalID, a.DetectionID, a.KeyID).Time.Add(time.Duration(k+1) * time.Minute)
					la.Add(lasim.SignIn{ID: fmt.Sprintf("c0000000-0000-4000-8000-%08d%04d", i, k), Tenant: tenant, AppID: a.AppID, ServicePrincipalID: a.ServicePrincipalID,
						KeyID: a.KeyID, Time: at, IP: "203.0.113.9", Country: "NG", Resource: "Microsoft Graph", CAStatus: "notApplied"}.Row(ws))
				}
			}
			return nil
		}
		g := usage.New(zap.NewNop(), time.Now, &usage.LogAnalytics{Client: lac, Workspace: ws})
		return []playbook.Option{playbook.WithReach(reach.New(cli, nil, zap.NewNop(), time.Now), 5*time.Second), playbook.WithUse(g, 10*time.Second)}
	})
	var removed, verdict, ready []time.Duration
	i := 0
	for b.Loop() {
		if i == n {
			b.Fatalf("more iterations than prepared apps: run with -benchtime %dx or less", n)
		}
		start := time.Now()
		out, err := r.Handle(context.Background(), []detect.Signal{leakOf(apps[i])}, nil)
		if err != nil {
			b.Fatal(err)
		}
		in := out.Incidents[0]
		if in.State != incident.StateDone || in.Actions[0].State != incident.Done || in.Reach == nil || in.Reach.Tier != incident.TierCritical || in.Use == nil || in.Use.Total() != 3 {
			b.Fatalf("incident %s: %s actions %+v reach %+v use %+v", in.ID, in.State, in.Actions, in.Reach, in.Use)
		}
		removed = append(removed, in.Actions[0].Finished.Sub(start))
		verdict = append(verdict, in.Step(incident.StepConfirm).Finished.Sub(start))
		ready = append(ready, in.Use.At.Sub(start))
		i++
	}
	b.ReportMetric(pct(removed, 0.50), "p50-removed-ms")
	b.ReportMetric(pct(removed, 0.99), "p99-removed-ms")
	b.ReportMetric(pct(verdict, 0.50), "p50-verdict-ms")
	b.ReportMetric(pct(verdict, 0.99), "p99-verdict-ms")
	b.ReportMetric(pct(ready, 0.50), "p50-reach+use-read-ms")
	b.ReportMetric(float64(len(sim.Requests()))/float64(i), "graph-requests/incident")
	b.ReportMetric(float64(len(la.Queries()))/float64(i), "workspace-queries/incident")
}
