// Package ledger is the responder's durable record: one document per incident,
// keyed by the incident's deterministic id, plus the quarantined input it
// could not use.
//
// # Model
//
// An incident is created exactly once, by Claim: a conditional create keyed
// on Incident.ID. Whoever creates it owns the first run of the playbook; every
// other instance, batch, replay or redelivery that claims the same id gets the
// stored document back with created=false, which is how duplicates stop. After
// that the document changes only through Update, an optimistic write
// conditional on the ETag the caller read: two writers that read the same
// version cannot both succeed, the loser gets ErrConflict and must re-read.
// Mutate wraps that loop (read, apply, conditional write, retry on conflict)
// and is what the playbook uses for every state change.
//
// Incident.History is the audit trail and is append-only: Update refuses a
// document whose History does not start with the stored History, event for
// event (ErrHistoryRewritten), so no writer can edit or drop a line that was
// recorded, even by mistake.
//
// Control records (the breaker's count, leases, the kill switch, batch
// attempts, people's decisions, watermarks, heartbeats, self-test markers)
// are not incidents: each kind has its own small record type and its own
// namespace, with the same conditional writes (controls.go).
//
// Quarantined input (quarantine.Item) is kept beside the incidents, body
// whole and byte for byte, first write wins, so keeping a redelivered item
// again is harmless.
//
// # Errors
//
// ErrNotFound and ErrConflict are answers; ErrUnavailable means the ledger
// could not be reached or could not answer (transport error, timeout, 5xx,
// throttling, missing permission, a disk that fails, or the caller's context
// ending first; errors.Is still finds context.Canceled or DeadlineExceeded).
// A write that failed so may or may not have happened (the request can be
// lost on its way back), so callers re-read rather than assume: the Functions
// handler answers non-2xx and the host retries the batch, where a Claim that
// did land comes back created=false and the incident's steps say what is
// left to do.
// ErrHistoryRewritten is a writer's bug and is never retried. Errors name the
// operation and the incident, never a storage URL (its query may be a SAS)
// or an account key.
//
// # Backends
//
// FileStore keeps one JSON file per incident in a directory and is safe for
// several processes sharing that directory (the CLI, the demo, tests).
// BlobStore keeps one blob per incident in Azure Blob Storage (production,
// and Azurite in tests); its doc comment explains why Blob Storage rather than
// Table Storage. Both pass the same conformance suite, ledgertest.Run.
package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/quarantine"
	"github.com/spresponder/spresponder/internal/retry"
)

var (
	// ErrNotFound: no incident or quarantined item with that id.
	ErrNotFound = errors.New("ledger: not found")
	// ErrConflict: the incident changed since the caller read it (stale
	// ETag). Re-read and apply the change again; Mutate does this.
	ErrConflict = errors.New("ledger: conflict: incident changed since it was read")
	// ErrUnavailable: the ledger could not be reached or could not answer.
	// Whatever was being recorded was not recorded.
	ErrUnavailable = errors.New("ledger: unavailable")
	// ErrHistoryRewritten: an Update whose History is not an extension of
	// the stored History. Never retried: it is a bug in the writer.
	ErrHistoryRewritten = errors.New("ledger: audit history is append-only")
)

// Incidents stores incidents.
type Incidents interface {
	// Claim creates the incident unless one with in.ID exists. On creation
	// it sets in.ETag and returns in with created=true; otherwise it returns
	// the stored incident (with its ETag) and created=false, and in is left
	// as it was.
	Claim(ctx context.Context, in *incident.Incident) (stored *incident.Incident, created bool, err error)
	// Get returns the stored incident with its ETag, or ErrNotFound.
	Get(ctx context.Context, id string) (*incident.Incident, error)
	// Update writes in if the stored version still has in.ETag (ErrConflict
	// otherwise) and its History extends the stored one (ErrHistoryRewritten
	// otherwise), then sets in.ETag to the new version's. It changes nothing
	// else in the document: the caller sets Updated and the like.
	Update(ctx context.Context, in *incident.Incident) error
	// List returns the incidents that match f, oldest first (by Created, then
	// ID), each with its ETag.
	List(ctx context.Context, f Filter) ([]*incident.Incident, error)
}

// Quarantine stores quarantined input. Keep is idempotent on Item.ID: the
// first item kept under an id is the one stored.
type Quarantine interface {
	quarantine.Keeper
	// Quarantined returns the kept items' metadata (Body nil), oldest
	// first.
	Quarantined(ctx context.Context) ([]quarantine.Item, error)
	// QuarantinedBody returns a kept item's bytes, or ErrNotFound.
	QuarantinedBody(ctx context.Context, id string) ([]byte, error)
}

// Records are the incidents and the control records (controls.go).
type Records interface {
	Incidents
	Controls
}

// Ledger is the whole durable record. Implementations are safe for
// concurrent use.
type Ledger interface {
	Records
	Quarantine
}

// Filter selects incidents for List. Zero fields match everything; set
// fields must all match.
type Filter struct {
	// States: the incident is in one of these states.
	States []incident.State
	// AppID: the incident is about this application (appId, any case).
	AppID string
	// Since: the incident was created at or after this time.
	Since time.Time
	// DueBefore: the incident is parked and due for a re-drive at this time:
	// NextAttempt is at or before it (a parked incident without NextAttempt
	// is due at once).
	DueBefore time.Time
}

// Match reports whether in passes the filter.
func (f Filter) Match(in *incident.Incident) bool {
	if len(f.States) > 0 && !slices.Contains(f.States, in.State) {
		return false
	}
	if f.AppID != "" && !strings.EqualFold(f.AppID, appIDOf(in)) {
		return false
	}
	if !f.Since.IsZero() && in.Created.Before(f.Since) {
		return false
	}
	if !f.DueBefore.IsZero() && (in.State != incident.StateParked || in.NextAttempt.After(f.DueBefore)) {
		return false
	}
	return true
}

// appIDOf is the application id an incident is filed under: what Graph
// showed, else what the signal said.
func appIDOf(in *incident.Incident) string {
	if in.App.AppID != "" {
		return strings.ToLower(in.App.AppID)
	}
	return strings.ToLower(in.Key.AppID)
}

// sortIncidents orders incidents oldest first, ties by id.
func sortIncidents(ins []*incident.Incident) {
	slices.SortFunc(ins, func(a, b *incident.Incident) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// sortItems orders quarantined items oldest first, ties by id.
func sortItems(items []quarantine.Item) {
	slices.SortFunc(items, func(a, b quarantine.Item) int {
		if c := a.Received.Compare(b.Received); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// MutateAttempts bounds Mutate's read-apply-write rounds.
const MutateAttempts = 32

// Mutate applies fn to the stored incident id and writes the result back
// conditionally, re-reading and re-applying fn on ErrConflict, at most
// MutateAttempts times (with a short jittered pause between rounds, bounded
// by ctx). fn must therefore be a quick, pure change of the incident it is
// given: it may run several times, each time on a fresh copy. An error from
// fn stops the loop and is returned (wrapped); nothing is written. The
// returned incident is the one written, with its new ETag.
//
// A backend that takes a lock for every write anyway (FileStore) applies fn
// under that lock instead, so that concurrent mutators queue rather than
// retry.
func Mutate(ctx context.Context, l Incidents, id string, fn func(*incident.Incident) error) (*incident.Incident, error) {
	if m, ok := l.(lockedMutator); ok {
		in, err := m.mutateLocked(ctx, id, fn)
		if err != nil {
			return nil, fmt.Errorf("ledger: mutate %s: %w", id, err)
		}
		return in, nil
	}
	var last error
	for attempt := 1; attempt <= MutateAttempts; attempt++ {
		in, err := l.Get(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("ledger: mutate %s: %w", id, err)
		}
		if err := fn(in); err != nil {
			return nil, fmt.Errorf("ledger: mutate %s: %w", id, err)
		}
		err = l.Update(ctx, in)
		if err == nil {
			return in, nil
		}
		if !errors.Is(err, ErrConflict) {
			return nil, fmt.Errorf("ledger: mutate %s: %w", id, err)
		}
		last = err
		if err := pause(ctx, attempt); err != nil {
			return nil, fmt.Errorf("ledger: mutate %s: after %d conflicting attempts: %w", id, attempt, err)
		}
	}
	return nil, fmt.Errorf("ledger: mutate %s: gave up after %d attempts: %w", id, MutateAttempts, last)
}

// lockedMutator is a backend that can run Mutate's read-apply-write under a
// lock. fn's error is returned as is.
type lockedMutator interface {
	mutateLocked(ctx context.Context, id string, fn func(*incident.Incident) error) (*incident.Incident, error)
}

// pause waits a random time of up to 1ms, 2ms, 4ms ... 64ms (by attempt), so
// that writers that collided spread out instead of colliding again. The
// jitter needs no seed control: no outcome depends on it.
func pause(ctx context.Context, attempt int) error {
	ceiling := time.Millisecond << min(attempt-1, 6)
	return retry.Sleep(ctx, rand.N(ceiling)+50*time.Microsecond)
}

// historyMark summarises an audit history: how many events, and a digest of
// their canonical JSON encodings in order. Canonical means "as it reads back
// from storage": each event is encoded, decoded and encoded again, because
// the first trip changes what a value looks like without changing what was
// recorded (times lose their monotonic reading and zone name, invalid UTF-8
// becomes U+FFFD), and the second trip changes nothing more. So the mark of
// the history a writer holds equals the mark of the same history stored.
type historyMark struct {
	n   int
	sum string
}

func markOf(events []incident.Event) (historyMark, error) {
	h := sha256.New()
	for i := range events {
		b, err := json.Marshal(&events[i])
		if err == nil {
			var canon incident.Event
			if err = json.Unmarshal(b, &canon); err == nil {
				b, err = json.Marshal(&canon)
			}
		}
		if err != nil {
			return historyMark{}, fmt.Errorf("ledger: encode history event %d: %w", i, err)
		}
		h.Write(b)
		h.Write([]byte{'\n'})
	}
	return historyMark{n: len(events), sum: hex.EncodeToString(h.Sum(nil)[:16])}, nil
}

func (m historyMark) String() string { return fmt.Sprintf("%d.%s", m.n, m.sum) }

func parseMark(s string) (historyMark, bool) {
	n, sum, ok := strings.Cut(s, ".")
	if !ok || len(sum) != 32 {
		return historyMark{}, false
	}
	var count int
	if _, err := fmt.Sscanf(n, "%d", &count); err != nil || count < 0 {
		return historyMark{}, false
	}
	return historyMark{n: count, sum: sum}, true
}

// checkAppend returns ErrHistoryRewritten unless next starts with the history
// that stored summarises.
func checkAppend(id string, stored historyMark, next []incident.Event) error {
	if len(next) < stored.n {
		return fmt.Errorf("%w: incident %s: update has %d history events, stored has %d", ErrHistoryRewritten, id, len(next), stored.n)
	}
	m, err := markOf(next[:stored.n])
	if err != nil {
		return err
	}
	if m.sum != stored.sum {
		return fmt.Errorf("%w: incident %s: update changes the first %d history events", ErrHistoryRewritten, id, stored.n)
	}
	return nil
}

// validID accepts ids that are safe as a file name and a blob name: the
// incident ids "inc-<hex>" and quarantine ids "q-<hex>", and test ids like
// them.
func validID(id string) error {
	if id == "" || len(id) > 128 || id[0] == '.' || id[0] == '-' {
		return fmt.Errorf("ledger: invalid id %q", id)
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return fmt.Errorf("ledger: invalid id %q", id)
		}
	}
	return nil
}
