// Package ledgertest is the conformance suite every ledger.Ledger backend
// must pass: the behaviour the playbook and the handler rely on, stated once
// and run against each backend.
package ledgertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
)

// Open returns an empty ledger for one test; the test's cleanup releases it.
type Open func(t *testing.T) ledger.Ledger

// T0 is the suite's fixed clock reading.
var T0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// Run runs the suite. Each subtest gets its own empty ledger from open.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(t *testing.T, l ledger.Ledger)
	}{
		{"ClaimCreatesOnce", testClaimCreatesOnce},
		{"ClaimExistingReturnsStored", testClaimExisting},
		{"ClaimRace50", testClaimRace},
		{"GetMissing", testGetMissing},
		{"InvalidID", testInvalidID},
		{"UpdateETag", testUpdateETag},
		{"UpdateChangesNothingElse", testUpdateChangesNothingElse},
		{"UpdateMissing", testUpdateMissing},
		{"UpdateRightAfterClaim", testUpdateRightAfterClaim},
		{"HistoryRewriteRefused", testHistoryRewrite},
		{"Mutate20Concurrent", testMutateConcurrent},
		{"MutateFnError", testMutateFnError},
		{"ListFilters", testListFilters},
		{"QuarantineIdempotent", testQuarantineIdempotent},
		{"QuarantineKeepAll", testQuarantineKeepAll},
		{"ByServicePrincipal", testByServicePrincipal},
		{"QuarantineLargeBody", testQuarantineLargeBody},
		{"QuarantineMissing", testQuarantineMissing},
		{"CancelledContext", testCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// Signal returns a leaked-credential signal for app n.
func Signal(n int) detect.Signal {
	return detect.Signal{
		Kind:               detect.LeakedCredential,
		TenantID:           "72f988bf-86f1-41af-91ab-2d7cd011db47",
		AppID:              fmt.Sprintf("11111111-2222-3333-4444-%012d", n),
		ServicePrincipalID: fmt.Sprintf("aaaaaaaa-bbbb-cccc-dddd-%012d", n),
		DisplayName:        fmt.Sprintf("app %d", n),
		KeyIDs:             []string{fmt.Sprintf("0000%04d-0000-0000-0000-000000000000", n)},
		DetectionID:        fmt.Sprintf("det-%d", n),
		RiskEventType:      "leakedCredentials",
		RiskLevel:          "high",
		Time:               T0,
	}
}

// Incident returns a fresh incident for app n, opened at T0.
func Incident(n int) *incident.Incident {
	return incident.New(Signal(n), T0)
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// encode is the comparison form: the stored document without the ETag.
func encode(t *testing.T, in *incident.Incident) string {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustClaim(t *testing.T, l ledger.Ledger, in *incident.Incident) *incident.Incident {
	t.Helper()
	stored, created, err := l.Claim(ctxFor(t), in)
	if err != nil {
		t.Fatalf("Claim(%s): %v", in.ID, err)
	}
	if !created {
		t.Fatalf("Claim(%s): created=false for a new incident", in.ID)
	}
	return stored
}

func mustGet(t *testing.T, l ledger.Ledger, id string) *incident.Incident {
	t.Helper()
	in, err := l.Get(ctxFor(t), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return in
}

func testClaimCreatesOnce(t *testing.T, l ledger.Ledger) {
	in := Incident(1)
	want := encode(t, in)
	stored, created, err := l.Claim(ctxFor(t), in)
	if err != nil || !created {
		t.Fatalf("Claim = created %v, err %v; want created", created, err)
	}
	if stored.ETag == "" || in.ETag != stored.ETag {
		t.Fatalf("Claim ETag: stored %q, in %q; want the same non-empty ETag", stored.ETag, in.ETag)
	}
	got := mustGet(t, l, in.ID)
	if encode(t, got) != want {
		t.Errorf("Get after Claim:\n got %s\nwant %s", encode(t, got), want)
	}
	if got.ETag != stored.ETag {
		t.Errorf("Get ETag %q, Claim ETag %q: same version must have the same ETag", got.ETag, stored.ETag)
	}
}

func testClaimExisting(t *testing.T, l ledger.Ledger) {
	first := mustClaim(t, l, Incident(2))
	want := encode(t, first)

	again := Incident(2)
	again.Operator = "second claimer"
	again.Signals = append(again.Signals, Signal(99))
	stored, created, err := l.Claim(ctxFor(t), again)
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Fatal("second Claim of the same id: created=true")
	}
	if encode(t, stored) != want {
		t.Errorf("second Claim returned\n %s\nwant the stored\n %s", encode(t, stored), want)
	}
	if stored.ETag != first.ETag {
		t.Errorf("second Claim ETag %q, want the stored %q", stored.ETag, first.ETag)
	}
	if again.ETag != "" {
		t.Errorf("second Claim set the caller's ETag to %q; it must leave it alone", again.ETag)
	}
}

func testClaimRace(t *testing.T, l ledger.Ledger) {
	const n = 50
	ctx := ctxFor(t)
	var (
		wg      sync.WaitGroup
		created atomic.Int32
		winner  atomic.Int32
		start   = make(chan struct{})
		errs    = make(chan error, n)
		seen    = make([]string, n)
	)
	winner.Store(-1)
	for i := range n {
		wg.Go(func() {
			in := Incident(3)
			in.Operator = fmt.Sprintf("claimer-%d", i)
			<-start
			stored, ok, err := l.Claim(ctx, in)
			if err != nil {
				errs <- fmt.Errorf("claimer %d: %w", i, err)
				return
			}
			if ok {
				created.Add(1)
				winner.Store(int32(i))
			}
			seen[i] = stored.Operator
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := created.Load(); got != 1 {
		t.Fatalf("%d of %d concurrent claims created the incident; want exactly 1", got, n)
	}
	want := fmt.Sprintf("claimer-%d", winner.Load())
	if got := mustGet(t, l, Incident(3).ID).Operator; got != want {
		t.Errorf("stored incident is %q's; the creator was %q", got, want)
	}
	for i, op := range seen {
		if op != "" && op != want {
			t.Errorf("claimer %d saw the incident of %q; want the creator's %q", i, op, want)
		}
	}
}

func testGetMissing(t *testing.T, l ledger.Ledger) {
	_, err := l.Get(ctxFor(t), Incident(4).ID)
	if !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("Get of a missing id: %v; want ErrNotFound", err)
	}
	if errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("Get of a missing id: %v is also ErrUnavailable", err)
	}
}

func testInvalidID(t *testing.T, l ledger.Ledger) {
	ctx := ctxFor(t)
	for _, id := range []string{"", "../escape", "a/b", ".hidden", "sp ace"} {
		if _, err := l.Get(ctx, id); err == nil || errors.Is(err, ledger.ErrUnavailable) {
			t.Errorf("Get(%q) = %v; want an invalid-id error", id, err)
		}
		in := Incident(5)
		in.ID = id
		if _, _, err := l.Claim(ctx, in); err == nil {
			t.Errorf("Claim with id %q succeeded", id)
		}
	}
}

func testUpdateETag(t *testing.T, l ledger.Ledger) {
	ctx := ctxFor(t)
	mustClaim(t, l, Incident(6))
	v1 := mustGet(t, l, Incident(6).ID)
	stale := mustGet(t, l, Incident(6).ID)

	v1.State = incident.StateParked
	v1.Record(T0.Add(time.Minute), "verify", "parked", "graph throttled")
	old := v1.ETag
	if err := l.Update(ctx, v1); err != nil {
		t.Fatalf("Update with a fresh ETag: %v", err)
	}
	if v1.ETag == "" || v1.ETag == old {
		t.Fatalf("Update left ETag %q (was %q); want a new one", v1.ETag, old)
	}
	got := mustGet(t, l, v1.ID)
	if got.ETag != v1.ETag || encode(t, got) != encode(t, v1) {
		t.Fatalf("Get after Update differs from what was written (ETag %q vs %q)", got.ETag, v1.ETag)
	}

	stale.Operator = "stale writer"
	err := l.Update(ctx, stale)
	if !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("Update with a stale ETag: %v; want ErrConflict", err)
	}
	if errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("stale ETag error %v is also ErrUnavailable", err)
	}
	if after := mustGet(t, l, v1.ID); encode(t, after) != encode(t, v1) {
		t.Fatal("a refused Update changed the stored incident")
	}

	// A second write with the ETag the first write returned works too.
	v1.Attempts++
	if err := l.Update(ctx, v1); err != nil {
		t.Fatalf("Update with the ETag of the previous Update: %v", err)
	}

	noETag := Incident(6)
	if err := l.Update(ctx, noETag); err == nil {
		t.Fatal("Update without an ETag succeeded")
	}
	garbage := mustGet(t, l, v1.ID)
	garbage.ETag = `"not-an-etag"`
	if err := l.Update(ctx, garbage); !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("Update with an unknown ETag: %v; want ErrConflict", err)
	}
}

func testUpdateChangesNothingElse(t *testing.T, l ledger.Ledger) {
	in := mustClaim(t, l, Incident(7))
	in.Notified = append(in.Notified, incident.Notification{Channel: "teams", Target: "owners", State: incident.Done})
	want := encode(t, in)
	if err := l.Update(ctxFor(t), in); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, l, in.ID); encode(t, got) != want {
		t.Errorf("stored after Update:\n %s\nwant exactly what was written:\n %s", encode(t, got), want)
	}
}

func testUpdateMissing(t *testing.T, l ledger.Ledger) {
	ctx := ctxFor(t)
	// An ETag from another incident, used on one that was never claimed.
	other := mustClaim(t, l, Incident(8))
	missing := Incident(9)
	missing.ETag = other.ETag
	err := l.Update(ctx, missing)
	if !errors.Is(err, ledger.ErrNotFound) && !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("Update of an incident never claimed: %v; want ErrNotFound or ErrConflict", err)
	}
	if _, err := l.Get(ctx, missing.ID); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("a refused Update created the incident (Get: %v)", err)
	}
}

// The incident a Claim returned is written again without a re-read, with
// history values that look different after a trip through storage (a clock
// reading with a monotonic part and a zone name, invalid UTF-8, characters
// JSON escapes): that is still the same history, not a rewrite.
func testUpdateRightAfterClaim(t *testing.T, l ledger.Ledger) {
	ctx := ctxFor(t)
	in := Incident(14)
	in.Record(time.Now().In(time.FixedZone("CET", 3600)), "claim", "note", "bad \xff utf-8 <b>&amp; \u2028")
	stored := mustClaim(t, l, in)
	stored.Record(time.Now(), "verify", "verified", "")
	if err := l.Update(ctx, stored); err != nil {
		t.Fatalf("Update of the incident Claim returned: %v", err)
	}
	again := mustGet(t, l, in.ID)
	again.Record(time.Now(), "contain", "done", "")
	if err := l.Update(ctx, again); err != nil {
		t.Fatalf("Update after a Get: %v", err)
	}
}

func testHistoryRewrite(t *testing.T, l ledger.Ledger) {
	ctx := ctxFor(t)
	in := mustClaim(t, l, Incident(10))
	in.Record(T0.Add(time.Minute), "verify", "verified", "")
	if err := l.Update(ctx, in); err != nil {
		t.Fatal(err)
	}
	before := encode(t, mustGet(t, l, in.ID))

	rewrites := map[string]func(*incident.Incident){
		"edit first line": func(x *incident.Incident) { x.History[0].Detail = "something else" },
		"drop last line":  func(x *incident.Incident) { x.History = x.History[:len(x.History)-1] },
		"drop all":        func(x *incident.Incident) { x.History = nil },
		"reorder": func(x *incident.Incident) {
			x.History[0], x.History[1] = x.History[1], x.History[0]
		},
		"edit and append": func(x *incident.Incident) {
			x.History[1].What = "forged"
			x.Record(T0.Add(2*time.Minute), "contain", "done", "")
		},
		"change time": func(x *incident.Incident) { x.History[0].At = x.History[0].At.Add(time.Nanosecond) },
	}
	for name, rewrite := range rewrites {
		x := mustGet(t, l, in.ID)
		rewrite(x)
		if err := l.Update(ctx, x); !errors.Is(err, ledger.ErrHistoryRewritten) {
			t.Errorf("%s: Update = %v; want ErrHistoryRewritten", name, err)
		}
		_, err := ledger.Mutate(ctx, l, in.ID, func(y *incident.Incident) error { rewrite(y); return nil })
		if !errors.Is(err, ledger.ErrHistoryRewritten) {
			t.Errorf("%s: Mutate = %v; want ErrHistoryRewritten", name, err)
		}
	}
	if after := encode(t, mustGet(t, l, in.ID)); after != before {
		t.Fatalf("refused rewrites changed the stored incident:\n %s\nwas\n %s", after, before)
	}

	// Appending, and changing anything outside History, is fine.
	x := mustGet(t, l, in.ID)
	x.State = incident.StateDone
	x.Record(T0.Add(3*time.Minute), "notify", "sent", "teams")
	if err := l.Update(ctx, x); err != nil {
		t.Fatalf("append-only Update refused: %v", err)
	}
}

func testMutateConcurrent(t *testing.T, l ledger.Ledger) {
	const n = 20
	ctx := ctxFor(t)
	id := mustClaim(t, l, Incident(11)).ID
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := ledger.Mutate(ctx, l, id, func(in *incident.Incident) error {
				in.Attempts++
				in.Record(T0.Add(time.Duration(i)*time.Second), "contain", fmt.Sprintf("mutator-%d", i), "")
				return nil
			})
			if err != nil {
				errs <- fmt.Errorf("mutator %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := mustGet(t, l, id)
	if len(got.History) != n+1 {
		t.Fatalf("history has %d events after %d concurrent appends; want %d", len(got.History), n, n+1)
	}
	if got.Attempts != n {
		t.Errorf("Attempts = %d after %d concurrent increments; want %d", got.Attempts, n, n)
	}
	var whats []string
	for _, e := range got.History[1:] {
		whats = append(whats, e.What)
	}
	slices.Sort(whats)
	for i := range n {
		if _, ok := slices.BinarySearch(whats, fmt.Sprintf("mutator-%d", i)); !ok {
			t.Errorf("mutator-%d's event was lost; history: %v", i, whats)
		}
	}
}

func testMutateFnError(t *testing.T, l ledger.Ledger) {
	ctx := ctxFor(t)
	in := mustClaim(t, l, Incident(12))
	boom := errors.New("playbook says no")
	_, err := ledger.Mutate(ctx, l, in.ID, func(x *incident.Incident) error {
		x.State = incident.StateDone
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Mutate = %v; want fn's error", err)
	}
	if got := mustGet(t, l, in.ID); got.State != incident.StateOpen || got.ETag != in.ETag {
		t.Fatalf("Mutate wrote although fn failed: state %s", got.State)
	}
	if _, err := ledger.Mutate(ctx, l, Incident(13).ID, func(*incident.Incident) error { return nil }); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("Mutate of a missing incident = %v; want ErrNotFound", err)
	}
	out, err := ledger.Mutate(ctx, l, in.ID, func(x *incident.Incident) error { x.Operator = "oncall"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, l, in.ID); got.ETag != out.ETag || got.Operator != "oncall" {
		t.Fatalf("Mutate result (ETag %q) is not what is stored (ETag %q, operator %q)", out.ETag, got.ETag, got.Operator)
	}
}
