package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
)

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
