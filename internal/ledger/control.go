package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
)

// Control records live beside the incidents and coordinate every instance,
// replay and CLI that shares the ledger: the lease on a directory object
// that serialises credential writes to it, the kill switch, the attempt
// count of an Event Hubs batch, and a person's decision about a (service
// principal, key) pair. Each is a ledger document with a reserved id prefix
// and state resolved, so the Sweep never re-drives it and the incident
// commands hide it (IsControl). They reuse the incidents' conditional
// writes, which is what makes them safe across instances.
const (
	lockPrefix     = "lock-"
	controlPrefix  = "control-"
	attemptsPrefix = "attempts-"
	decisionPrefix = "decision-"
	killSwitchID   = controlPrefix + "killswitch"
)

// IsControl reports whether a ledger id is a control record (the breaker's
// count included) rather than an incident.
func IsControl(id string) bool {
	for _, p := range []string{BreakerIDPrefix, lockPrefix, controlPrefix, attemptsPrefix, decisionPrefix} {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}

// controlDoc returns a fresh control document (created on first use).
func controlDoc(id, what string, now time.Time) *incident.Incident {
	return &incident.Incident{ID: id, State: incident.StateResolved, Created: now, Updated: now,
		History: []incident.Event{{At: now, Step: "control", What: what, Actor: "responder"}}}
}

// ensure creates the control document unless it exists.
func ensure(ctx context.Context, l Incidents, doc *incident.Incident) error {
	if _, _, err := l.Claim(ctx, doc); err != nil {
		return fmt.Errorf("control record %s: %w", doc.ID, err)
	}
	return nil
}

// digestID makes a safe, bounded ledger id from parts that come from the
// outside (partition ids, key ids): never a path or a blob name of the
// caller's choosing.
func digestID(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(strings.ToLower(p)))
		h.Write([]byte{0})
	}
	return prefix + hex.EncodeToString(h.Sum(nil))[:32]
}

// ErrLocked means another holder has the object's lease and it did not
// come free before the caller's context ended.
var ErrLocked = errors.New("ledger: directory object is locked by another writer")

// ObjectLocks serialises credential writes to one directory object across
// incidents, instances and CLIs. Certificate removals read the object's
// whole keyCredentials and PATCH it back; two such writers at once would
// each put back the certificate the other removed. The lease has a
// time-to-live, so a holder that dies frees it by expiry.
type ObjectLocks struct {
	L   Incidents
	Now func() time.Time
	// Poll is the first wait between attempts while the object is held
	// (doubled up to 8x, jittered). Default 50ms.
	Poll time.Duration
}

// Acquire takes the lease on objectID for owner, waiting while another
// holder has it until ctx ends (then ErrLocked). The returned release gives
// it up; it is safe to call after the lease expired (it then changes
// nothing).
func (o ObjectLocks) Acquire(ctx context.Context, objectID, owner string, ttl time.Duration) (release func(context.Context) error, err error) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	poll := o.Poll
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	id := digestID(lockPrefix, objectID)
	if err := ensure(ctx, o.L, controlDoc(id, "lock created", now())); err != nil {
		return nil, err
	}
	errHeld := errors.New("held")
	var holder string
	for attempt := 0; ; attempt++ {
		_, err := Mutate(ctx, o.L, id, func(cur *incident.Incident) error {
			t := now()
			if cur.Owner != "" && cur.Owner != owner && t.Before(cur.LeaseUntil) {
				holder = cur.Owner
				return errHeld
			}
			cur.Owner, cur.LeaseUntil, cur.Updated = owner, t.Add(ttl), t
			cur.Key.ServicePrincipalID = strings.ToLower(objectID) // for a person reading the ledger
			return nil
		})
		if err == nil {
			break
		}
		if !errors.Is(err, errHeld) {
			if ctx.Err() != nil && holder != "" {
				return nil, fmt.Errorf("%w: %s is held by %s: %w", ErrLocked, objectID, holder, ctx.Err())
			}
			return nil, fmt.Errorf("lock %s: %w", objectID, err)
		}
		wait := poll << min(attempt, 3)
		wait += rand.N(wait/2 + 1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %s is held by %s: %w", ErrLocked, objectID, holder, ctx.Err())
		case <-t.C:
		}
	}
	return func(ctx context.Context) error {
		_, err := Mutate(ctx, o.L, id, func(cur *incident.Incident) error {
			if cur.Owner != owner {
				return nil // expired and taken over: not ours to release
			}
			cur.Owner, cur.LeaseUntil, cur.Updated = "", time.Time{}, now()
			return nil
		})
		if err != nil {
			return fmt.Errorf("release lock on %s: %w", objectID, err)
		}
		return nil
	}, nil
}

// KillSwitch is the shared kill switch: on, no instance, replay or redrive
// writes to the tenant. Its history is the audit trail of who turned it on
// or off, when and why.
type KillSwitch struct {
	L   Incidents
	Now func() time.Time
}

// KillSwitchState is the switch as last set.
type KillSwitchState struct {
	On     bool      `json:"on"`
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at,omitzero"`
}

// State reads the switch. A switch never set is off.
func (k KillSwitch) State(ctx context.Context) (KillSwitchState, error) {
	doc, err := k.L.Get(ctx, killSwitchID)
	if errors.Is(err, ErrNotFound) {
		return KillSwitchState{}, nil
	}
	if err != nil {
		return KillSwitchState{}, fmt.Errorf("read kill switch: %w", err)
	}
	return killSwitchOf(doc), nil
}

func killSwitchOf(doc *incident.Incident) KillSwitchState {
	for i := len(doc.History) - 1; i >= 0; i-- {
		e := doc.History[i]
		switch e.What {
		case "on", "off":
			return KillSwitchState{On: e.What == "on", Reason: e.Detail, By: e.Actor, At: e.At}
		}
	}
	return KillSwitchState{}
}

// Set turns the switch on or off, recording who and why.
func (k KillSwitch) Set(ctx context.Context, on bool, reason, by string) (KillSwitchState, error) {
	now := k.Now
	if now == nil {
		now = time.Now
	}
	if err := ensure(ctx, k.L, controlDoc(killSwitchID, "created", now())); err != nil {
		return KillSwitchState{}, err
	}
	what := "off"
	if on {
		what = "on"
	}
	doc, err := Mutate(ctx, k.L, killSwitchID, func(cur *incident.Incident) error {
		t := now()
		cur.History = append(cur.History, incident.Event{At: t, Step: "killswitch", What: what, Detail: reason, Actor: by})
		cur.Updated = t
		return nil
	})
	if err != nil {
		return KillSwitchState{}, fmt.Errorf("set kill switch %s: %w", what, err)
	}
	return killSwitchOf(doc), nil
}

// Attempts counts the invocations of one Event Hubs batch, keyed by its
// partition and first sequence number. The host's own retry count lives in
// one instance's memory and restarts at 0 when the batch moves to another
// instance; this count does not.
type Attempts struct {
	L   Incidents
	Now func() time.Time
}

// Add records one more attempt of the batch and returns the count so far,
// this one included.
func (a Attempts) Add(ctx context.Context, partition string, firstSeq int64) (int, error) {
	now := a.Now
	if now == nil {
		now = time.Now
	}
	id := digestID(attemptsPrefix, partition, fmt.Sprint(firstSeq))
	doc := controlDoc(id, "created", now())
	doc.Key.DetectionID = fmt.Sprintf("partition %s sequence %d", partition, firstSeq)
	if err := ensure(ctx, a.L, doc); err != nil {
		return 0, err
	}
	n := 0
	_, err := Mutate(ctx, a.L, id, func(cur *incident.Incident) error {
		t := now()
		cur.History = append(cur.History, incident.Event{At: t, Step: "batch", What: "attempt", Actor: "responder"})
		cur.Updated = t
		n = 0
		for _, e := range cur.History {
			if e.What == "attempt" {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count attempts of partition %s sequence %d: %w", partition, firstSeq, err)
	}
	return n, nil
}

// Decisions keeps a person's resolution of a (service principal, key)
// pair, so that a variant of the same signal (another detection id, an
// extra key id, another case) does not reopen what a person closed.
type Decisions struct {
	L   Incidents
	Now func() time.Time
}

// Decision is what a person decided about a pair.
type Decision struct {
	Incident string    `json:"incident"`
	By       string    `json:"by"`
	Note     string    `json:"note,omitempty"`
	At       time.Time `json:"at"`
}

// Record stores a person's resolution of the pair; the latest wins.
func (d Decisions) Record(ctx context.Context, spID, keyID string, dec Decision) error {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	id := digestID(decisionPrefix, spID, keyID)
	doc := controlDoc(id, "created", now())
	doc.Key = incident.Key{ServicePrincipalID: strings.ToLower(spID), KeyIDs: []string{strings.ToLower(keyID)}}
	if err := ensure(ctx, d.L, doc); err != nil {
		return err
	}
	_, err := Mutate(ctx, d.L, id, func(cur *incident.Incident) error {
		cur.History = append(cur.History, incident.Event{At: dec.At, Step: "decision", What: "resolved", Detail: dec.Incident + "\x00" + dec.Note, Actor: dec.By})
		cur.Updated = now()
		return nil
	})
	if err != nil {
		return fmt.Errorf("record decision on %s key %s: %w", spID, keyID, err)
	}
	return nil
}

// Lookup returns the person's decision on the pair, if any.
func (d Decisions) Lookup(ctx context.Context, spID, keyID string) (Decision, bool, error) {
	doc, err := d.L.Get(ctx, digestID(decisionPrefix, spID, keyID))
	if errors.Is(err, ErrNotFound) {
		return Decision{}, false, nil
	}
	if err != nil {
		return Decision{}, false, fmt.Errorf("read decision on %s key %s: %w", spID, keyID, err)
	}
	for i := len(doc.History) - 1; i >= 0; i-- {
		e := doc.History[i]
		if e.What == "resolved" {
			inc, note, _ := strings.Cut(e.Detail, "\x00")
			return Decision{Incident: inc, By: e.Actor, Note: note, At: e.At}, true, nil
		}
	}
	return Decision{}, false, nil
}
