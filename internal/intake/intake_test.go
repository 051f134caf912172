package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/invocation"
	"github.com/spresponder/spresponder/internal/quarantine"
)

const tenant = "4bbb79f7-5724-4c9e-95f3-de075f6ec090"

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type memKeeper struct {
	mu    sync.Mutex
	items []quarantine.Item
	fail  error
}

func (m *memKeeper) Keep(_ context.Context, it quarantine.Item) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.items = append(m.items, it)
	return nil
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "entra", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func run(t *testing.T, cfg Config, bodies ...[]byte) (Result, *memKeeper) {
	t.Helper()
	k := &memKeeper{}
	in := New(cfg, k, zap.NewNop(), func() time.Time { return epoch })
	var evs []invocation.Event
	for i, b := range bodies {
		evs = append(evs, invocation.Event{Body: b, Pos: invocation.Position{Partition: "0", SequenceNumber: int64(100 + i), Index: i}})
	}
	res, err := in.Process(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	return res, k
}

func TestSamplesGiveSignals(t *testing.T) {
	res, k := run(t, Config{},
		sample(t, "sample-ServicePrincipalRiskEvents.json"),
		sample(t, "sample-RiskyServicePrincipals.json"),
		sample(t, "sample-ServicePrincipalSignInLogs.json"),
		sample(t, "sample-SignInLogs.json"),
		sample(t, "sample-NonInteractiveUserSignInLogs.json"),
		sample(t, "sample-ManagedIdentitySignInLogs.json"),
		sample(t, "sample-AuditLogs.json"),
	)
	// The one sample record whose tenant is not a GUID (the REAL fixture's
	// anonymised "1111111111-902d-...") is kept, not acted on.
	if len(k.items) != 1 || k.items[0].Reason != quarantine.InvalidID || !strings.Contains(k.items[0].Detail, "1111111111-902d") {
		t.Fatalf("quarantined %d items, want the sign-in with a non-GUID tenant: %v", len(k.items), k.items)
	}
	kinds := map[detect.Kind][]detect.Signal{}
	for _, s := range res.Signals {
		kinds[s.Kind] = append(kinds[s.Kind], s)
	}
	leak := kinds[detect.LeakedCredential]
	if len(leak) != 1 {
		t.Fatalf("leaked credential signals = %d (%+v)", len(leak), res.Signals)
	}
	l := leak[0]
	if l.TenantID != tenant || l.AppID != "6131d760-7fda-4db5-8bb1-b771898e9f15" || l.ServicePrincipalID != "b029d485-a308-4311-8720-fb3192e5284e" ||
		len(l.KeyIDs) != 1 || l.KeyIDs[0] != "dbcd79c0-c3ea-46b9-9604-ff40d43b8618" || l.DetectionID != "2856d6e87c5c3a74021ff70291fa68107570c150d8dc145bdea5" ||
		l.RiskLevel != "high" || l.RiskEventType != "leakedCredentials" {
		t.Errorf("leak signal = %+v", l)
	}
	if l.Source.Event != 0 || l.Source.Record != 0 || l.Source.SequenceNumber != 100 || l.Source.Partition != "0" {
		t.Errorf("leak source = %+v", l.Source)
	}
	if want := time.Date(2025, 3, 4, 7, 12, 0, 0, time.UTC); !l.Time.Equal(want) {
		t.Errorf("leak time = %v", l.Time)
	}
	if r := kinds[detect.RiskDetection]; len(r) != 1 || r[0].RiskEventType != "suspiciousSignins" || r[0].RiskLevel != "medium" || r[0].Location != "Amsterdam, Noord-Holland, NL" {
		t.Errorf("risk detections = %+v", r)
	}
	if r := kinds[detect.RiskyServicePrincipal]; len(r) != 1 || r[0].RiskState != "atRisk" || r[0].RiskLevel != "high" {
		t.Errorf("risky service principals = %+v", r)
	}
	b := kinds[detect.BlockedSignIn]
	if len(b) != 1 || b[0].ErrorCode != 53003 || len(b[0].PolicyIDs) != 1 || b[0].PolicyIDs[0] != "5f2b8c1d-0a9e-4d3b-9c7a-1e2f3a4b5c6d" ||
		b[0].Thumbprint != "4809D6EA89A7C43F69FFAC84656F8CBCB571B1F9" || b[0].Source.Event != 2 || b[0].Source.Record != 2 {
		t.Errorf("blocked sign-ins = %+v", b)
	}
	// The benign secret sign-in (risk "low", state "none") and the single
	// expired-secret failure are below every threshold.
	if n := len(kinds[detect.RiskySignIn]) + len(kinds[detect.FailedSecretSignIns]); n != 0 {
		t.Errorf("unexpected sign-in signals: %+v", res.Signals)
	}
	st := res.Stats
	if st.Events != 7 || st.Quarantined != 1 || st.Signals != len(res.Signals) {
		t.Errorf("stats = %+v", st)
	}
	if st.ByCategory["SignInLogs"] != 1 || st.ByCategory["ManagedIdentitySignInLogs"] != 1 {
		t.Errorf("by category = %v", st.ByCategory)
	}
	if st.Records != st.Skipped+st.Quarantined+countSignalled(res) {
		t.Errorf("records=%d skipped=%d quarantined=%d signalled=%d: some records are not accounted for", st.Records, st.Skipped, st.Quarantined, countSignalled(res))
	}
}

func countSignalled(r Result) int {
	n := 0
	for _, s := range r.Signals {
		n += s.Count
	}
	return n
}

func TestDuplicatesCollapse(t *testing.T) {
	ev := sample(t, "sample-ServicePrincipalRiskEvents.json")
	res, _ := run(t, Config{}, ev, ev, ev)
	if len(res.Signals) != 2 {
		t.Fatalf("got %d signals, want 2", len(res.Signals))
	}
	if res.Signals[0].Count != 3 || res.Signals[0].Source.Event != 0 {
		t.Errorf("first signal = %+v", res.Signals[0])
	}
}

func signIn(code int, keyID, ip, riskState string) map[string]any {
	return map[string]any{
		"time": "2025-03-04T10:15:02Z", "category": "ServicePrincipalSignInLogs", "tenantId": tenant,
		"resultType": code, "Level": "4",
		"properties": map[string]any{
			"id": "si-" + strings.ReplaceAll(ip, ".", "-") + keyID, "appId": "6131d760-7fda-4db5-8bb1-b771898e9f15", "servicePrincipalId": "b029d485-a308-4311-8720-fb3192e5284e",
			"ipAddress": ip, "status": map[string]any{"errorCode": code}, "riskState": riskState, "riskLevelDuringSignIn": "none",
			"servicePrincipalCredentialKeyId": keyID, "clientCredentialType": "clientSecret", "createdDateTime": "2025-03-04T10:15:02Z",
		},
	}
}

func body(t *testing.T, recs ...any) []byte {
	b, err := json.Marshal(map[string]any{"records": recs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFailedSecretSignIns(t *testing.T) {
	key := "dbcd79c0-c3ea-46b9-9604-ff40d43b8618"
	two := body(t, signIn(7000215, key, "198.51.100.7", "none"), signIn(7000215, key, "198.51.100.8", "none"))
	res, _ := run(t, Config{}, two)
	if len(res.Signals) != 0 {
		t.Fatalf("two failures should stay below the threshold: %+v", res.Signals)
	}
	// Expired secrets (7000222) are counted apart from invalid ones: two
	// of each stay below the threshold, and three expired make an
	// expiredSecretSignIns signal, not a failedSecretSignIns one.
	res, _ = run(t, Config{}, two, body(t, signIn(7000222, key, "198.51.100.9", "none"), signIn(7000222, key, "198.51.100.9", "none")))
	if len(res.Signals) != 0 || res.Stats.SkippedBy[string(detect.ExpiredSecretBelowThreshold)] != 2 || res.Stats.SkippedBy[string(detect.InvalidSecretBelowThreshold)] != 2 {
		t.Fatalf("signals = %+v, stats %+v", res.Signals, res.Stats)
	}
	res, _ = run(t, Config{}, two, body(t, signIn(7000222, key, "198.51.100.9", "none"), signIn(7000222, key, "198.51.100.9", "none"), signIn(7000222, key, "198.51.100.9", "none")))
	if len(res.Signals) != 1 || res.Signals[0].Kind != detect.ExpiredSecretSignIns || res.Signals[0].Count != 3 {
		t.Fatalf("signals = %+v", res.Signals)
	}
}

func TestRiskySignInAndNetworks(t *testing.T) {
	key := "dbcd79c0-c3ea-46b9-9604-ff40d43b8618"
	res, _ := run(t, Config{}, body(t, signIn(0, key, "203.0.113.45", "atRisk")))
	if len(res.Signals) != 1 || res.Signals[0].Kind != detect.RiskySignIn || res.Signals[0].KeyIDs[0] != key {
		t.Fatalf("signals = %+v", res.Signals)
	}
	cfg := Config{Detect: detect.Options{AllowedNetworks: allowed("10.0.0.0/8")}}
	res, _ = run(t, cfg, body(t, signIn(0, key, "10.1.2.3", "none"), signIn(0, key, "203.0.113.45", "none")))
	if len(res.Signals) != 1 || res.Signals[0].RiskEventType != detect.UnexpectedNetwork || res.Signals[0].IPAddress != "203.0.113.45" {
		t.Fatalf("signals = %+v", res.Signals)
	}
}

func TestBadInputIsKept(t *testing.T) {
	good := sample(t, "sample-ServicePrincipalRiskEvents.json")
	foreign := strings.ReplaceAll(string(good), tenant, "99999999-0000-4000-8000-000000000000")
	huge := []byte(`{"records":[{"category":"SignInLogs","pad":"` + strings.Repeat("x", 3<<20) + `"}]}`)
	// A bad time alone is tolerated (no decision reads it); a detection
	// without an id cannot be verified and is kept as malformed.
	badRecord := body(t, map[string]any{"category": "ServicePrincipalRiskEvents", "tenantId": tenant, "time": "yesterday-ish", "properties": map[string]any{}})
	res, k := run(t, Config{AllowedTenants: []string{tenant}},
		[]byte(`{"records": [1, {"no":"category"}]}`),            // unknown shapes
		[]byte(`{"records": [{"category":"SignInLogs"}, {"cate`), // truncated
		[]byte(`{"something":"else"}`),                           // not a diagnostic body
		[]byte(foreign), huge, badRecord, good)
	reasons := map[quarantine.Reason]int{}
	for _, it := range k.items {
		reasons[it.Reason]++
		if it.Size != len(it.Body) || it.ID == "" {
			t.Errorf("item %+v not kept whole", it.ID)
		}
	}
	want := map[quarantine.Reason]int{quarantine.UnknownShape: 2, quarantine.MalformedEvent: 2, quarantine.ForeignTenant: 2, quarantine.Oversized: 1, quarantine.MalformedRecord: 1}
	for r, n := range want {
		if reasons[r] != n {
			t.Errorf("%s: kept %d, want %d (all: %v)", r, reasons[r], n, reasons)
		}
	}
	if len(res.Signals) != 2 {
		t.Errorf("the good event after the bad ones gave %d signals, want 2", len(res.Signals))
	}
	if res.Stats.Quarantined != len(k.items) {
		t.Errorf("stats say %d quarantined, keeper has %d", res.Stats.Quarantined, len(k.items))
	}
}

func TestQuarantineFailureFailsTheBatch(t *testing.T) {
	k := &memKeeper{fail: errors.New("disk full")}
	in := New(Config{}, k, zap.NewNop(), func() time.Time { return epoch })
	_, err := in.Process(context.Background(), []invocation.Event{{Body: []byte(`{"records":[7]}`)}})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
}

// Every skipped record says why, and a failed-secret sign-in below the
// threshold is counted (it used to be counted nowhere), with an expired
// secret (7000222) kept apart from an invalid one (7000215).
func TestEverySkippedRecordHasAReason(t *testing.T) {
	key := "dbcd79c0-c3ea-46b9-9604-ff40d43b8618"
	dismissed := strings.Replace(leakRecord(okEnvelope, okProps), `"riskState":"atRisk"`, `"riskState":"dismissed"`, 1)
	res, k := run(t, Config{AllowedTenants: []string{tenant}},
		sample(t, "sample-SignInLogs.json"),
		sample(t, "sample-ManagedIdentitySignInLogs.json"),
		sample(t, "sample-AuditLogs.json"),
		body(t, signIn(0, key, "198.51.100.7", "none"), signIn(50126, key, "198.51.100.7", "none"),
			signIn(7000215, key, "198.51.100.8", "none"), signIn(7000222, "3f5518bb-4d4d-480f-bdd0-7b04a58e2800", "198.51.100.9", "none"),
			map[string]any{"category": "SomethingNew", "tenantId": tenant}),
		events(dismissed),
	)
	st := res.Stats
	want := map[string]int{
		SkipUserSignIn: 1, SkipManagedIdentitySignIn: 1, SkipUnknownCategory: 1,
		string(detect.SignInWithoutRisk): 1, string(detect.SignInOtherFailure): 1,
		string(detect.InvalidSecretBelowThreshold): 1, string(detect.ExpiredSecretBelowThreshold): 1,
		string(detect.RiskNotActive): 1,
	}
	// The audit sample's tenant is not in the allow-list: it is kept.
	if len(k.items) != 1 || k.items[0].Reason != quarantine.ForeignTenant {
		t.Errorf("kept %+v", k.items)
	}
	sum := 0
	for r, n := range st.SkippedBy {
		sum += n
		if want[r] != n {
			t.Errorf("skipped for %s: %d, want %d", r, n, want[r])
		}
	}
	for r, n := range want {
		if st.SkippedBy[r] != n {
			t.Errorf("skipped for %s: %d, want %d (all: %v)", r, st.SkippedBy[r], n, st.SkippedBy)
		}
	}
	if sum != st.Skipped || st.Records != st.Skipped+st.Quarantined+countSignalled(res) {
		t.Errorf("stats do not add up: %+v", st)
	}
	line := st.Summary()
	for _, part := range []string{"skipped=8 quarantined=1", "expiredSecretBelowThreshold=1", "invalidSecretBelowThreshold=1", "userSignIn=1", "; quarantined: foreignTenant=1"} {
		if !strings.Contains(line, part) {
			t.Errorf("summary %q lacks %q", line, part)
		}
	}
}

// batchKeeper records how it was called.
type batchKeeper struct {
	memKeeper
	batches int
}

func (b *batchKeeper) KeepAll(_ context.Context, items []quarantine.Item) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batches++
	b.items = append(b.items, items...)
	return nil
}

// A flood of junk costs a few writes in one batch, a bounded number of log
// lines, and loses nothing: every line is in some kept item.
func TestJunkFloodIsKeptInOneBatch(t *testing.T) {
	const n = 5000
	evs := make([]invocation.Event, n)
	for i := range evs {
		evs[i] = invocation.Event{Body: []byte(fmt.Sprintf("junk line %d", i)), Err: errors.New("event body is not JSON"), Pos: invocation.Position{Partition: "1", Index: i}}
	}
	recs := make([]string, n)
	for i := range recs {
		recs[i] = fmt.Sprintf(`{"category":"ServicePrincipalRiskEvents","tenantId":"%s","n":%d}`, foreignTenant, i)
	}
	evs = append(evs, invocation.Event{Body: events(recs...), Pos: invocation.Position{Partition: "1", Index: n}})
	core, logs := observer.New(zap.InfoLevel)
	k := &batchKeeper{}
	in := New(Config{AllowedTenants: []string{tenant}}, k, zap.New(core), func() time.Time { return epoch })
	res, err := in.Process(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	if k.batches != 1 {
		t.Errorf("KeepAll called %d times, want once", k.batches)
	}
	if len(k.items) > 2*MaxItemsPerReason+2 {
		t.Errorf("%d items kept for 2 reasons", len(k.items))
	}
	if res.Stats.Quarantined != 2*n || res.Stats.ByReason[string(quarantine.MalformedEvent)] != n || res.Stats.ByReason[string(quarantine.ForeignTenant)] != n {
		t.Errorf("stats = %+v", res.Stats)
	}
	seen := map[string]bool{}
	for _, it := range k.items {
		for _, line := range bytes.Split(it.Body, []byte("\n")) {
			seen[string(line)] = true
		}
		for _, m := range regexp.MustCompile(`"n":\d+}`).FindAll(it.Body, -1) {
			seen[string(m)] = true
		}
	}
	for i := range n {
		if !seen[fmt.Sprintf("junk line %d", i)] || !seen[fmt.Sprintf(`"n":%d}`, i)] {
			t.Fatalf("item %d lost", i)
		}
	}
	// The overflow of records is itself a body intake can read again.
	for _, it := range k.items {
		if it.Reason == quarantine.ForeignTenant && it.Position.Record == -1 {
			res, _ := run(t, Config{AllowedTenants: []string{tenant}}, it.Body)
			if res.Stats.ByReason[string(quarantine.ForeignTenant)] != n-MaxItemsPerReason {
				t.Errorf("overflow item replays as %+v", res.Stats)
			}
		}
	}
	if logs.Len() > MaxLoggedItems+1 {
		t.Errorf("%d log lines for a flood", logs.Len())
	}
}

// One bad value in a field the responder does not use keeps the
// detection: the signal is made, and both it and the stats name the field.
func TestBadUnusedFieldKeepsTheDetection(t *testing.T) {
	good := string(sample(t, "sample-ServicePrincipalRiskEvents.json"))
	bad := strings.Replace(good, `"lastUpdatedDateTime"`, `"lastUpdatedDateTime":"not a time","x-was-lastUpdatedDateTime"`, 1)
	if bad == good {
		t.Fatal("sample has no lastUpdatedDateTime")
	}
	res, k := run(t, Config{}, []byte(bad))
	if len(k.items) != 0 || len(res.Signals) != 2 {
		t.Fatalf("quarantined %d, signals %+v", len(k.items), res.Signals)
	}
	if len(res.Signals[0].Tolerated) != 1 || !strings.HasPrefix(res.Signals[0].Tolerated[0], "properties.lastUpdatedDateTime: ") ||
		res.Stats.Tolerated["properties.lastUpdatedDateTime"] != 1 || !strings.Contains(res.Stats.Summary(), "tolerated bad values: properties.lastUpdatedDateTime=1") {
		t.Errorf("signal %+v, stats %+v", res.Signals[0].Tolerated, res.Stats)
	}
}
