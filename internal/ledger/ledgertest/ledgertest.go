// Package ledgertest is the conformance suite every ledger.Ledger backend
// must pass: the behaviour the playbook and the handler rely on, stated once
// and run against each backend.
package ledgertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/quarantine"
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

func testListFilters(t *testing.T, l ledger.Ledger) {
	ctx := ctxFor(t)
	type spec struct {
		n       int
		state   incident.State
		created time.Duration // after T0
		next    time.Duration // NextAttempt after T0; 0: none
		app     int           // which app the incident is about
	}
	specs := []spec{
		{n: 20, state: incident.StateOpen, created: 0, app: 1},
		{n: 21, state: incident.StateParked, created: time.Hour, next: time.Hour + 5*time.Minute, app: 2},
		{n: 22, state: incident.StateParked, created: 2 * time.Hour, next: 4 * time.Hour, app: 1},
		{n: 23, state: incident.StateDone, created: 3 * time.Hour, app: 2},
		{n: 24, state: incident.StateParked, created: 4 * time.Hour, app: 3},
		{n: 25, state: incident.StateNeedsHuman, created: 5 * time.Hour, next: time.Minute, app: 1},
	}
	ids := map[int]string{}
	for _, s := range specs {
		in := Incident(s.n)
		sig := Signal(s.app)
		in.App.AppID = sig.AppID
		in.Key.AppID = strings.ToLower(sig.AppID)
		in.State = s.state
		in.Created = T0.Add(s.created)
		in.Updated = in.Created
		if s.next != 0 {
			in.NextAttempt = T0.Add(s.next)
		}
		mustClaim(t, l, in)
		ids[s.n] = in.ID
	}
	app1 := Signal(1).AppID
	cases := []struct {
		name string
		f    ledger.Filter
		want []int
	}{
		{"all", ledger.Filter{}, []int{20, 21, 22, 23, 24, 25}},
		{"open", ledger.Filter{States: []incident.State{incident.StateOpen}}, []int{20}},
		{"parked or done", ledger.Filter{States: []incident.State{incident.StateParked, incident.StateDone}}, []int{21, 22, 23, 24}},
		{"app", ledger.Filter{AppID: app1}, []int{20, 22, 25}},
		{"app any case", ledger.Filter{AppID: strings.ToUpper(app1)}, []int{20, 22, 25}},
		{"unknown app", ledger.Filter{AppID: "00000000-0000-0000-0000-000000000000"}, nil},
		{"since", ledger.Filter{Since: T0.Add(2 * time.Hour)}, []int{22, 23, 24, 25}},
		{"since after all", ledger.Filter{Since: T0.Add(24 * time.Hour)}, nil},
		{"due", ledger.Filter{DueBefore: T0.Add(90 * time.Minute)}, []int{21, 24}},
		{"due exactly at", ledger.Filter{DueBefore: T0.Add(4 * time.Hour)}, []int{21, 22, 24}},
		{"due and app", ledger.Filter{DueBefore: T0.Add(5 * time.Hour), AppID: app1}, []int{22}},
		{"state and since", ledger.Filter{States: []incident.State{incident.StateParked}, Since: T0.Add(90 * time.Minute)}, []int{22, 24}},
	}
	for _, c := range cases {
		got, err := l.List(ctx, c.f)
		if err != nil {
			t.Fatalf("%s: List: %v", c.name, err)
		}
		var gotIDs, wantIDs []string
		for _, in := range got {
			gotIDs = append(gotIDs, in.ID)
			if in.ETag == "" {
				t.Errorf("%s: List returned %s without an ETag", c.name, in.ID)
			}
		}
		for _, n := range c.want {
			wantIDs = append(wantIDs, ids[n])
		}
		if !slices.Equal(gotIDs, wantIDs) {
			t.Errorf("%s: List = %v; want %v (oldest first)", c.name, gotIDs, wantIDs)
		}
	}

	// Listed incidents carry a usable ETag.
	due, err := l.List(ctx, ledger.Filter{DueBefore: T0.Add(90 * time.Minute)})
	if err != nil || len(due) == 0 {
		t.Fatalf("List due: %v, %d", err, len(due))
	}
	due[0].State = incident.StateOpen
	due[0].Record(T0.Add(2*time.Hour), "redrive", "resumed", "")
	if err := l.Update(ctx, due[0]); err != nil {
		t.Fatalf("Update with a listed ETag: %v", err)
	}
	// And the lists follow the update.
	parked, err := l.List(ctx, ledger.Filter{States: []incident.State{incident.StateParked}})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range parked {
		if in.ID == due[0].ID {
			t.Errorf("%s still listed as parked after it was updated to open", in.ID)
		}
	}
}

func item(body []byte, detail string, at time.Time) quarantine.Item {
	pos := quarantine.Position{Partition: "0", SequenceNumber: 42, Offset: "4096", Event: 1, Record: -1}
	return quarantine.NewItem(quarantine.MalformedEvent, detail, pos, body, at)
}

func testQuarantineIdempotent(t *testing.T, l ledger.Ledger) {
	ctx := ctxFor(t)
	first := item([]byte(`{"records":[{"not":"closed"`), "unexpected end of JSON input", T0)
	if err := l.Keep(ctx, first); err != nil {
		t.Fatalf("Keep: %v", err)
	}
	// The same item redelivered later: same id, later Received.
	again := item(first.Body, "unexpected end of JSON input (redelivered)", T0.Add(time.Hour))
	if again.ID != first.ID {
		t.Fatal("test setup: redelivered item has another id")
	}
	for range 3 {
		if err := l.Keep(ctx, again); err != nil {
			t.Fatalf("Keep again: %v", err)
		}
	}
	other := item([]byte("\x00\x01 not json"), "binary", T0.Add(time.Minute))
	if err := l.Keep(ctx, other); err != nil {
		t.Fatal(err)
	}
	empty := item(nil, "empty body", T0.Add(2*time.Minute))
	if err := l.Keep(ctx, empty); err != nil {
		t.Fatal(err)
	}

	items, err := l.Quarantined(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 {
		t.Fatalf("Quarantined has %d items; want 3: %+v", len(items), items)
	}
	if items[0].ID != first.ID || items[1].ID != other.ID || items[2].ID != empty.ID {
		t.Fatalf("Quarantined order %s %s %s; want oldest first", items[0].ID, items[1].ID, items[2].ID)
	}
	got := items[0]
	if got.Detail != first.Detail || !got.Received.Equal(first.Received) || got.Size != first.Size ||
		got.Reason != first.Reason || got.Position != first.Position {
		t.Errorf("kept item %+v; want the first one kept %+v", got, first)
	}
	if got.Body != nil {
		t.Errorf("Quarantined returned a body; it lists metadata only")
	}
	for _, want := range []quarantine.Item{first, other, empty} {
		body, err := l.QuarantinedBody(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, want.Body) {
			t.Errorf("body of %s = %q; want %q", want.ID, body, want.Body)
		}
	}
}

func testQuarantineLargeBody(t *testing.T, l ledger.Ledger) {
	ctx := ctxFor(t)
	body := make([]byte, 5<<20+123)
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = r.Read(body) // ChaCha8 reads never fail
	it := item(body, "oversized event", T0)
	it.Reason = quarantine.Oversized
	if err := l.Keep(ctx, it); err != nil {
		t.Fatalf("Keep 5 MB: %v", err)
	}
	if err := l.Keep(ctx, it); err != nil {
		t.Fatalf("Keep 5 MB again: %v", err)
	}
	got, err := l.QuarantinedBody(ctx, it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("5 MB body came back as %d bytes, not byte for byte", len(got))
	}
	items, err := l.Quarantined(ctx)
	if err != nil || len(items) != 1 || items[0].Size != len(body) {
		t.Fatalf("Quarantined = %+v, %v; want one item of %d bytes", items, err, len(body))
	}
}

func testQuarantineMissing(t *testing.T, l ledger.Ledger) {
	ctx := ctxFor(t)
	if _, err := l.QuarantinedBody(ctx, "q-000000000000000000000000"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("QuarantinedBody of a missing id: %v; want ErrNotFound", err)
	}
	items, err := l.Quarantined(ctx)
	if err != nil || len(items) != 0 {
		t.Fatalf("Quarantined of an empty ledger = %v, %v", items, err)
	}
	if err := l.Keep(ctx, quarantine.Item{ID: "../../etc/passwd"}); err == nil {
		t.Fatal("Keep accepted an id with a path in it")
	}
}

// A call its context ended did not record anything: it is ErrUnavailable
// (the handler answers non-2xx) and still says why.
func testCancelled(t *testing.T, l ledger.Ledger) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	in := Incident(30)
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ledger.ErrUnavailable) {
			t.Errorf("%s with a cancelled context: %v; want ErrUnavailable and context.Canceled", what, err)
		}
	}
	_, _, err := l.Claim(ctx, in)
	check("Claim", err)
	_, err = l.Get(ctx, in.ID)
	check("Get", err)
	_, err = ledger.Mutate(ctx, l, in.ID, func(*incident.Incident) error { return nil })
	check("Mutate", err)
	check("Keep", l.Keep(ctx, item([]byte("x"), "x", T0)))
	_, err = l.Quarantined(ctx)
	check("Quarantined", err)

	stored := mustClaim(t, l, Incident(31))
	stored.Attempts++
	check("Update", l.Update(ctx, stored))
	_, err = l.List(ctx, ledger.Filter{})
	check("List", err)
}

// testQuarantineKeepAll: a batch kept at once reads back whole, first
// write wins, and keeping the batch again changes nothing.
func testQuarantineKeepAll(t *testing.T, l ledger.Ledger) {
	ctx := ctxFor(t)
	var batch []quarantine.Item
	for i := range 40 {
		batch = append(batch, item(fmt.Appendf(nil, "junk line %d", i), "malformed", T0.Add(time.Duration(i)*time.Second)))
	}
	batch = append(batch, batch[3]) // a duplicate within the batch
	for range 2 {
		if err := quarantine.KeepAll(ctx, l, batch); err != nil {
			t.Fatalf("KeepAll: %v", err)
		}
	}
	items, err := l.Quarantined(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 40 {
		t.Fatalf("Quarantined has %d items; want 40", len(items))
	}
	body, err := l.QuarantinedBody(ctx, batch[17].ID)
	if err != nil || string(body) != "junk line 17" {
		t.Fatalf("body %q %v", body, err)
	}
}

// testByServicePrincipal: a service principal's incidents come back (from
// the backend's index when it has one), in any case of the id, and no
// other's.
func testByServicePrincipal(t *testing.T, l ledger.Ledger) {
	ctx := ctxFor(t)
	const a, b = "0b8f6f3e-0000-4000-8000-00000000000a", "0b8f6f3e-0000-4000-8000-00000000000b"
	want := map[string]bool{}
	for n := range 5 {
		in := Incident(100 + n)
		in.ID = fmt.Sprintf("inc-bysp-%02d", n)
		in.Key.ServicePrincipalID = a
		if n >= 3 {
			in.Key.ServicePrincipalID = strings.ToUpper(b)
		} else {
			want[in.ID] = true
		}
		mustClaim(t, l, in)
	}
	got, err := ledger.Store{L: l}.ByServicePrincipal(ctx, strings.ToUpper(a))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d incidents, want %d", len(got), len(want))
	}
	for _, in := range got {
		if !want[in.ID] {
			t.Errorf("incident %s is not of %s", in.ID, a)
		}
	}
	if got, err := (ledger.Store{L: l}).ByServicePrincipal(ctx, "0b8f6f3e-0000-4000-8000-00000000000c"); err != nil || len(got) != 0 {
		t.Fatalf("a service principal without incidents: %d %v", len(got), err)
	}
}
