package usage_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/ehfaketest"
	"github.com/spresponder/spresponder/internal/hubreplay"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/lasim"
	"github.com/spresponder/spresponder/internal/usage"
)

const (
	tenant    = "4bbb79f7-5724-4c9e-95f3-de075f6ec090"
	appID     = "6131d760-7fda-4db5-8bb1-b771898e9f15"
	spID      = "b029d485-a308-4311-8720-fb3192e5284e"
	leakedKey = "dbcd79c0-c3ea-46b9-9604-ff40d43b8618"
	otherKey  = "0c3a4f4e-8a6b-4b52-9a5d-3d3c1f2e9b10"
	workspace = "8a1c5e3b-2f4d-4b6a-9c8e-7d6f5e4a3b2c"
)

var (
	leakAt    = time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC)
	removedAt = leakAt.Add(30 * time.Minute)
)

func query(until time.Time) usage.Query {
	return usage.Query{TenantID: tenant, ServicePrincipalID: spID, AppID: appID, KeyIDs: []string{leakedKey},
		Since: leakAt, Until: until, RemovedAt: map[string]time.Time{leakedKey: removedAt}}
}

// signIn builds the n-th sign-in of a generated set.
func signIn(n int, at time.Time, key string, code int) lasim.SignIn {
	s := lasim.SignIn{ID: fmt.Sprintf("5e1f0000-0000-4000-8000-%012d", n), Tenant: tenant, AppID: appID, ServicePrincipalID: spID,
		Name: "Terraform-Datadog-CLI", KeyID: key, Time: at, ErrorCode: code, IP: "10.1.2.3", City: "Amsterdam", Country: "NL",
		Resource: "Microsoft Graph", ResourceID: "00000003-0000-0000-c000-000000000000", CAStatus: "notApplied"}
	if code != 0 {
		s.FailureReason, s.CAStatus = "Conditional Access policy requires a compliant location.", "failure"
	}
	return s
}

// theFour are the leaked key's sign-ins in every source: a success before
// the removal, a refused one, then a success from elsewhere after the
// removal (the key still works somewhere), and one of another key.
func theFour() []lasim.SignIn {
	a := signIn(1, leakAt.Add(5*time.Minute), leakedKey, 0)
	b := signIn(2, leakAt.Add(10*time.Minute), leakedKey, 53003)
	c := signIn(3, removedAt.Add(time.Hour), leakedKey, 0)
	c.IP, c.City, c.Country = "203.0.113.9", "Lagos", "NG"
	d := signIn(4, leakAt.Add(20*time.Minute), otherKey, 0)
	return []lasim.SignIn{a, b, c, d}
}

func laClient(t *testing.T, sim *lasim.Server) usage.Querier {
	t.Helper()
	endpoint, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	c, err := usage.NewLogAnalyticsClient(endpoint, usage.StaticToken("test-token"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLogAnalyticsThroughAzlogs: the real azlogs client queries a local
// server answering in the query API's shape; each row becomes a record the
// strict sign-in decoder reads; only the leaked key's sign-ins come back,
// with address, location, resource and Conditional Access result, and the
// one after the removal is marked so.
func TestLogAnalyticsThroughAzlogs(t *testing.T) {
	var rows []lasim.Row
	for _, s := range theFour() {
		rows = append(rows, s.Row(workspace))
	}
	sim := lasim.New(workspace, rows)
	g := usage.New(zap.NewNop(), time.Now, &usage.LogAnalytics{Client: laClient(t, sim), Workspace: workspace})
	u := g.Gather(context.Background(), query(leakAt.Add(24*time.Hour)))
	if len(u.Unknown) != 0 || len(u.Unreadable) != 0 {
		t.Fatalf("unknown %v, unreadable %v", u.Unknown, u.Unreadable)
	}
	if u.Total() != 3 || u.Successes != 2 || u.Failures != 1 {
		t.Fatalf("want 3 sign-ins (2 succeeded, 1 failed), got %+v", u)
	}
	first, refused, late := u.SignIns[0], u.SignIns[1], u.SignIns[2]
	if first.IPAddress != "10.1.2.3" || first.Location != "Amsterdam, NL" || first.Resource != "Microsoft Graph" || first.Source != "logAnalytics" || first.AfterRemoval {
		t.Errorf("first sign-in read as %+v", first)
	}
	if refused.Success || refused.ErrorCode != 53003 || refused.CAStatus != "failure" || !strings.Contains(refused.FailureReason, "Conditional Access") {
		t.Errorf("refused sign-in read as %+v", refused)
	}
	if !late.Success || !late.AfterRemoval || late.Location != "Lagos, NG" {
		t.Errorf("sign-in after the removal read as %+v", late)
	}
	qs := sim.Queries()
	if len(qs) != 1 || !strings.Contains(qs[0], "AADServicePrincipalSignInLogs") || !strings.Contains(qs[0], `ServicePrincipalCredentialKeyId in~ ("`+leakedKey+`")`) {
		t.Errorf("query sent: %q", qs)
	}
}

// TestLogAnalyticsWithoutThePermission: a workspace that refuses (403)
// degrades to "use unknown: permission ... missing", never an error that
// holds anything back, and the other source still counts.
func TestLogAnalyticsWithoutThePermission(t *testing.T) {
	sim := lasim.New(workspace, []lasim.Row{theFour()[0].Row(workspace)})
	sim.Forbid(true)
	g := usage.New(zap.NewNop(), time.Now, &usage.LogAnalytics{Client: laClient(t, sim), Workspace: workspace}, &usage.Hub{})
	u := g.Gather(context.Background(), query(leakAt.Add(time.Hour)))
	want := []string{
		"use unknown: permission " + usage.LogAnalyticsPermission + " missing (Log Analytics workspace " + workspace + ")",
		"use unknown: event hub - (consumer group -) not configured",
	}
	if fmt.Sprint(u.Unknown) != fmt.Sprint(want) {
		t.Fatalf("unknown:\n got %q\nwant %q", u.Unknown, want)
	}
	if u.Total() != 0 {
		t.Errorf("a refused query found sign-ins: %+v", u.SignIns)
	}
	if lead := (&u).Lead(3); !strings.Contains(strings.Join(lead, " "), "permission "+usage.LogAnalyticsPermission+" missing") {
		t.Errorf("lead does not say what is missing: %q", lead)
	}
}

// daySignIns is a day of retained sign-ins of one tenant: one event a
// minute over two partitions, each with a handful of sign-ins of other
// apps and keys, and the leaked key's sign-ins (theFour) among them. It
// returns the fixture and its size in bytes.
func daySignIns(seed uint64) (ehfaketest.Fixture, int) {
	r := rand.New(rand.NewPCG(seed, 1))
	fx := ehfaketest.Fixture{Hub: "entra", Partitions: map[string][]ehfaketest.Event{}}
	special := theFour()
	n, size := 100, 0
	for m := range 24 * 60 {
		at := leakAt.Add(-time.Hour).Add(time.Duration(m) * time.Minute)
		var recs []map[string]any
		for range 5 {
			n++
			s := signIn(n, at.Add(time.Duration(r.IntN(59))*time.Second), fmt.Sprintf("%08x-0000-4000-8000-000000000000", r.Uint32()), 0)
			s.ServicePrincipalID = fmt.Sprintf("%08x-1111-4000-8000-000000000000", r.Uint32())
			recs = append(recs, s.Record())
		}
		for _, s := range special {
			if !s.Time.Before(at) && s.Time.Before(at.Add(time.Minute)) {
				recs = append(recs, s.Record())
			}
		}
		p := fmt.Sprint(m % 2)
		body := lasim.Event(recs...)
		size += len(body)
		fx.Partitions[p] = append(fx.Partitions[p], ehfaketest.Event{Body: body, EnqueuedTime: at.Add(time.Minute)})
	}
	return fx, size
}

// TestHubDayOfSignIns reads a day of retained sign-ins from the hub fake
// with the real azeventhubs client through the usage consumer group and
// finds exactly the leaked key's three, then a byte cap that stops the
// read early says so.
func TestHubDayOfSignIns(t *testing.T) {
	fx, size := daySignIns(1)
	conn := ehfaketest.Start(t, fx)
	hub := &usage.Hub{Hub: hubreplay.Config{ConnectionString: conn, Hub: "entra", ConsumerGroup: "spresponder-usage"}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u := usage.New(zap.NewNop(), time.Now, hub).Gather(ctx, query(leakAt.Add(23*time.Hour)))
	if len(u.Unknown) != 0 || len(u.Unreadable) != 0 {
		t.Fatalf("unknown %v, unreadable %v", u.Unknown, u.Unreadable)
	}
	if u.Total() != 3 || u.Successes != 2 || !u.SignIns[2].AfterRemoval || u.SignIns[0].Source != "hub" {
		t.Fatalf("want the leaked key's 3 sign-ins, got %+v", u.SignIns)
	}
	if len(u.Sources) != 1 || !strings.Contains(u.Sources[0], "consumer group spresponder-usage") {
		t.Errorf("sources: %q", u.Sources)
	}
	for _, s := range u.Sources {
		if strings.Contains(s, ehfaketest.Key) {
			t.Fatal("the hub's key reached the use")
		}
	}

	hub.Hub.MaxBytes = int64(size / 10)
	u = usage.New(zap.NewNop(), time.Now, hub).Gather(ctx, query(leakAt.Add(23*time.Hour)))
	if len(u.Unknown) != 1 || !strings.HasPrefix(u.Unknown[0], "use partly unknown: event hub entra") || !strings.Contains(u.Unknown[0], fmt.Sprintf("%d bytes", size/10)) {
		t.Fatalf("a capped read must say so: %q", u.Unknown)
	}
}

// TestBadRecordsAreNamedNotDropped: records and events that cannot be read
// are listed with where they are; the readable ones still count.
func TestBadRecordsAreNamedNotDropped(t *testing.T) {
	good := theFour()[0].Record()
	bad := theFour()[1].Record()
	bad["properties"].(map[string]any)["status"] = "not an object"
	events := []string{
		lasim.Event(good, bad),
		`{"records":[{"category":"ServicePrincipalSignInLogs","tenantId":"x","properties":{"servicePrincipalCredentialKeyId":"` + leakedKey + `"`,
		`{"no":"records"}`,
	}
	f := usage.Walk(eventsOf(events), query(leakAt.Add(time.Hour)), "hub")
	if len(f.SignIns) != 1 {
		t.Fatalf("want the one good sign-in, got %+v", f.SignIns)
	}
	if len(f.Unreadable) != 3 || !strings.HasPrefix(f.Unreadable[0], "partition 0 seq 0 record 1:") || !strings.Contains(f.Unreadable[1], "malformed event") {
		t.Fatalf("unreadable: %q", f.Unreadable)
	}
}

// TestQueryOfAnIncident takes Graph's keys, the earliest activity time and
// the time a removal was done (not planned).
func TestQueryOfAnIncident(t *testing.T) {
	in := &incident.Incident{Key: incident.Key{TenantID: tenant}, App: incident.App{AppID: appID, ServicePrincipalID: spID},
		Credentials: []incident.Credential{{KeyID: strings.ToUpper(leakedKey), Found: true}},
		Actions: []incident.Action{
			{KeyID: leakedKey, State: incident.Done, Finished: removedAt},
			{KeyID: otherKey, State: incident.Done, DryRun: true, Finished: removedAt},
		}}
	in.Signals = append(in.Signals, sigAt(leakAt.Add(time.Hour), otherKey), sigAt(leakAt, otherKey))
	q := usage.QueryOf(in, leakAt.Add(2*time.Hour))
	if fmt.Sprint(q.KeyIDs) != "["+leakedKey+"]" || !q.Since.Equal(leakAt) || !q.RemovedAt[leakedKey].Equal(removedAt) || len(q.RemovedAt) != 1 {
		t.Fatalf("query: %+v", q)
	}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	q.KeyIDs = []string{`x") or true or ("`}
	if q.Validate() == nil {
		t.Fatal("a key id that is not a GUID must not reach a query")
	}
}
