package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
)

// The control records the playbook and the Functions edge use (controls.go
// says what a control record is): leases, the kill switch, batch attempts,
// people's decisions and self-test markers.

func nowOr(now func() time.Time) time.Time {
	if now == nil {
		return time.Now()
	}
	return now()
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
	L   Controls
	Now func() time.Time
	// Poll is the first wait between attempts while the object is held
	// (doubled up to 8x, jittered). Default 50ms.
	Poll time.Duration
}

// lease is a KindLease record, one per directory object.
type lease struct {
	Object  string    `json:"object"`
	Owner   string    `json:"owner,omitempty"`
	Until   time.Time `json:"until,omitzero"`
	Updated time.Time `json:"updated"`
}

// Acquire takes the lease on objectID for owner, waiting while another
// holder has it until ctx ends (then ErrLocked). The returned release gives
// it up; it is safe to call after the lease expired (it then changes
// nothing).
func (o ObjectLocks) Acquire(ctx context.Context, objectID, owner string, ttl time.Duration) (release func(context.Context) error, err error) {
	poll := o.Poll
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	id := readableID(objectID)
	errHeld := errors.New("held")
	var holder string
	for attempt := 0; ; attempt++ {
		_, err := ChangeControl(ctx, o.L, KindLease, id, func(cur *lease, _ bool) error {
			t := nowOr(o.Now)
			if cur.Owner != "" && cur.Owner != owner && t.Before(cur.Until) {
				holder = cur.Owner
				return errHeld
			}
			*cur = lease{Object: strings.ToLower(objectID), Owner: owner, Until: t.Add(ttl), Updated: t}
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
		errNotOurs := errors.New("not ours")
		_, err := ChangeControl(ctx, o.L, KindLease, id, func(cur *lease, _ bool) error {
			if cur.Owner != owner {
				return errNotOurs // expired and taken over: not ours to release
			}
			cur.Owner, cur.Until, cur.Updated = "", time.Time{}, nowOr(o.Now)
			return nil
		})
		if err != nil && !errors.Is(err, errNotOurs) {
			return fmt.Errorf("release lock on %s: %w", objectID, err)
		}
		return nil
	}, nil
}

// KillSwitch is the shared kill switch: on, no instance, replay or redrive
// writes to the tenant. Its record keeps the audit trail of who turned it
// on or off, when and why.
type KillSwitch struct {
	L   Records
	Now func() time.Time
}

// KillSwitchState is the switch as last set.
type KillSwitchState struct {
	On     bool      `json:"on"`
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at,omitzero"`
}

// killSwitch is the KindKillSwitch record (id "shared"): the latest
// setting, and every setting before it.
type killSwitch struct {
	KillSwitchState
	History []KillSwitchState `json:"history"`
}

const killSwitchID = "shared"

// State reads the switch. A switch never set is off; one set only by the
// previous version is read from where that version kept it.
func (k KillSwitch) State(ctx context.Context) (KillSwitchState, error) {
	rec, found, err := ReadControl[killSwitch](ctx, k.L, KindKillSwitch, killSwitchID)
	if err != nil {
		return KillSwitchState{}, fmt.Errorf("read kill switch: %w", err)
	}
	if found {
		return rec.KillSwitchState, nil
	}
	doc, err := k.L.Get(ctx, "control-killswitch")
	if errors.Is(err, ErrNotFound) {
		return KillSwitchState{}, nil
	}
	if err != nil {
		return KillSwitchState{}, fmt.Errorf("read kill switch (as the previous version kept it): %w", err)
	}
	return legacyKillSwitch(doc), nil
}

// legacyKillSwitch reads the switch from the previous version's document:
// the last "on" or "off" in its history.
func legacyKillSwitch(doc *incident.Incident) KillSwitchState {
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
	rec, err := ChangeControl(ctx, k.L, KindKillSwitch, killSwitchID, func(cur *killSwitch, _ bool) error {
		cur.KillSwitchState = KillSwitchState{On: on, Reason: reason, By: by, At: nowOr(k.Now)}
		cur.History = append(cur.History, cur.KillSwitchState)
		return nil
	})
	if err != nil {
		return KillSwitchState{}, fmt.Errorf("set kill switch %s: %w", map[bool]string{true: "on", false: "off"}[on], err)
	}
	return rec.KillSwitchState, nil
}

// Attempts counts the invocations of one Event Hubs batch, keyed by its
// partition and first sequence number. The host's own retry count lives in
// one instance's memory and restarts at 0 when the batch moves to another
// instance; this count does not.
type Attempts struct {
	L   Controls
	Now func() time.Time
}

// attempts is a KindAttempts record.
type attempts struct {
	Partition string    `json:"partition"`
	FirstSeq  int64     `json:"firstSequenceNumber"`
	Count     int       `json:"count"`
	Last      time.Time `json:"last"`
}

// Add records one more attempt of the batch and returns the count so far,
// this one included.
func (a Attempts) Add(ctx context.Context, partition string, firstSeq int64) (int, error) {
	rec, err := ChangeControl(ctx, a.L, KindAttempts, DigestID(partition, fmt.Sprint(firstSeq)), func(cur *attempts, _ bool) error {
		cur.Partition, cur.FirstSeq, cur.Last = partition, firstSeq, nowOr(a.Now)
		cur.Count++
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count attempts of partition %s sequence %d: %w", partition, firstSeq, err)
	}
	return rec.Count, nil
}

// Decisions keeps a person's resolution of a (service principal, key)
// pair, so that a variant of the same signal (another detection id, an
// extra key id, another case) does not reopen what a person closed.
type Decisions struct {
	L Records
}

// Decision is what a person decided about a pair.
type Decision struct {
	Incident string    `json:"incident"`
	By       string    `json:"by"`
	Note     string    `json:"note,omitempty"`
	At       time.Time `json:"at"`
}

// decision is a KindDecision record: the latest decision on the pair.
type decision struct {
	ServicePrincipalID string `json:"servicePrincipalId"`
	KeyID              string `json:"keyId"`
	Decision
}

// Record stores a person's resolution of the pair; the latest wins.
func (d Decisions) Record(ctx context.Context, spID, keyID string, dec Decision) error {
	_, err := ChangeControl(ctx, d.L, KindDecision, DigestID(spID, keyID), func(cur *decision, _ bool) error {
		*cur = decision{ServicePrincipalID: strings.ToLower(spID), KeyID: strings.ToLower(keyID), Decision: dec}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record decision on %s key %s: %w", spID, keyID, err)
	}
	return nil
}

// Lookup returns the person's decision on the pair, if any: from its own
// record, else from where the previous version kept it.
func (d Decisions) Lookup(ctx context.Context, spID, keyID string) (Decision, bool, error) {
	rec, found, err := ReadControl[decision](ctx, d.L, KindDecision, DigestID(spID, keyID))
	if err != nil {
		return Decision{}, false, fmt.Errorf("read decision on %s key %s: %w", spID, keyID, err)
	}
	if found {
		return rec.Decision, true, nil
	}
	doc, err := d.L.Get(ctx, digestID("decision-", spID, keyID))
	if errors.Is(err, ErrNotFound) {
		return Decision{}, false, nil
	}
	if err != nil {
		return Decision{}, false, fmt.Errorf("read decision on %s key %s (as the previous version kept it): %w", spID, keyID, err)
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

// SelfTests keeps the markers of `spresponder selftest` events: the
// service records one per self-test detection id it receives, and the CLI
// waits for it.
type SelfTests struct {
	L Controls
}

// SelfTestMarker is a self-test event as the service received it.
type SelfTestMarker struct {
	DetectionID string    `json:"detectionId"`
	Received    time.Time `json:"received"` // first delivery
	Deliveries  int       `json:"deliveries"`
}

// Record notes a delivery of the self-test event; first is true for the
// first one.
func (s SelfTests) Record(ctx context.Context, detectionID string, at time.Time) (first bool, err error) {
	_, err = ChangeControl(ctx, s.L, KindSelfTest, DigestID(detectionID), func(cur *SelfTestMarker, found bool) error {
		first = !found
		if !found {
			cur.DetectionID, cur.Received = detectionID, at
		}
		cur.Deliveries++
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("record the self-test marker: %w", err)
	}
	return first, nil
}

// Get returns the marker of a self-test detection id, if the service
// recorded one.
func (s SelfTests) Get(ctx context.Context, detectionID string) (SelfTestMarker, bool, error) {
	return ReadControl[SelfTestMarker](ctx, s.L, KindSelfTest, DigestID(detectionID))
}
