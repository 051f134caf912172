package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
)

// Store adapts a ledger to what the playbook asks of its store.
type Store struct{ L Records }

// Claim implements the playbook's Store.
func (s Store) Claim(ctx context.Context, in *incident.Incident) (*incident.Incident, bool, error) {
	return s.L.Claim(ctx, in)
}

// Mutate implements the playbook's Store.
func (s Store) Mutate(ctx context.Context, id string, fn func(*incident.Incident) error) (*incident.Incident, error) {
	return Mutate(ctx, s.L, id, fn)
}

// MarkSelfTest implements the playbook's Store: a self-test event's
// marker.
func (s Store) MarkSelfTest(ctx context.Context, detectionID string, at time.Time) (bool, error) {
	return SelfTests{L: s.L}.Record(ctx, detectionID, at)
}

// KillSwitch implements the playbook's Guards: the shared kill switch.
func (s Store) KillSwitch(ctx context.Context) (bool, string, error) {
	st, err := KillSwitch{L: s.L}.State(ctx)
	if err != nil {
		return false, "", err
	}
	reason := st.Reason
	if st.By != "" {
		reason = fmt.Sprintf("%s, set by %s at %s", st.Reason, st.By, st.At.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	return st.On, reason, nil
}

// LockObject implements the playbook's Guards: the write lease on a
// directory object.
func (s Store) LockObject(ctx context.Context, objectID, owner string, ttl time.Duration) (func(context.Context) error, error) {
	return ObjectLocks{L: s.L}.Acquire(ctx, objectID, owner, ttl)
}

// Decision implements the playbook's Guards.
func (s Store) Decision(ctx context.Context, spID, keyID string) (by, note, incidentID string, found bool, err error) {
	d, ok, err := Decisions(s).Lookup(ctx, spID, keyID)
	return d.By, d.Note, d.Incident, ok, err
}

// RecordDecision implements the playbook's Guards.
func (s Store) RecordDecision(ctx context.Context, spID, keyID, incidentID, by, note string, at time.Time) error {
	return Decisions(s).Record(ctx, spID, keyID, Decision{Incident: incidentID, By: by, Note: note, At: at})
}

// Parked implements the playbook's Backlog: parked incidents due now.
func (s Store) Parked(ctx context.Context) ([]*incident.Incident, error) {
	return s.L.List(ctx, Filter{States: []incident.State{incident.StateParked}, DueBefore: time.Now()})
}

// Open implements the playbook's Backlog: open incidents.
func (s Store) Open(ctx context.Context) ([]*incident.Incident, error) {
	return s.L.List(ctx, Filter{States: []incident.State{incident.StateOpen}})
}
