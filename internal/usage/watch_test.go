package usage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/usage"
)

// TestWatch: the keys of verified incidents of the span are watched, in
// any case; unverified, resolved and older ones are not; a lookup does
// not allocate.
func TestWatch(t *testing.T) {
	now := leakAt.Add(time.Hour)
	mk := func(key string, verified bool, st incident.State) *incident.Incident {
		return &incident.Incident{State: st, App: incident.App{ServicePrincipalID: spID}, Created: leakAt,
			Verification: incident.Verification{Verified: verified}, Credentials: []incident.Credential{{KeyID: key}}}
	}
	w := usage.NewWatch(24 * time.Hour)
	err := w.Refresh(context.Background(), func(_ context.Context, since time.Time) ([]*incident.Incident, error) {
		if !since.Equal(now.Add(-24 * time.Hour)) {
			t.Errorf("since %s", since)
		}
		return []*incident.Incident{mk(leakedKey, true, incident.StateDone), mk(otherKey, false, incident.StateNeedsHuman),
			mk("11111111-2222-4333-8444-555555555555", true, incident.StateResolved)}, nil
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	if w.Len() != 1 || !w.Key([]byte(spID), []byte(leakedKey)) || !w.Key([]byte(strings.ToUpper(spID)), []byte(strings.ToUpper(leakedKey))) {
		t.Fatalf("the verified incident's key is not watched (%d)", w.Len())
	}
	if w.Key([]byte(spID), []byte(otherKey)) || w.Key([]byte("x"), []byte(leakedKey)) {
		t.Fatal("an unverified incident's key is watched")
	}
	w.Add(mk(otherKey, true, incident.StateDone))
	if !w.Key([]byte(spID), []byte(otherKey)) {
		t.Fatal("Add did not watch the key")
	}
	sp, key := []byte(spID), []byte(leakedKey)
	if n := testing.AllocsPerRun(100, func() { w.Key(sp, key) }); n != 0 {
		t.Errorf("Key allocates %.0f times", n)
	}
}
