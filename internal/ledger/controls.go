package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Control records coordinate every instance, replay and CLI that shares
// the ledger: the breaker's count, the lease on a directory object, the kill
// switch, the attempts of an Event Hubs batch, a person's decision, the
// reconcile watermarks, the heartbeats and the self-test markers. They are
// not incidents: each is a small JSON document of its own type, stored per
// (kind, id) in the kind's own namespace (blob: control/<kind>/<id>.json;
// file: <dir>/control/<kind>/<id>.json), so the Sweep, the incident lists
// and the service-principal index never see them. Writes are conditional
// on the version read (an ETag), as the incidents' are, which is what
// makes them safe across instances.
//
// # Adding a kind
//
// A kind is a ControlKind constant, a Go type for its document, and calls
// of ReadControl and ChangeControl: ChangeControl reads the document (the
// zero value when there is none), applies a change, writes it back
// conditionally and re-applies the change on a conflict. For example, a
// single-use token:
//
//	const KindActionToken ControlKind = "actiontoken"
//	type actionToken struct{ Spent time.Time }
//	errSpent := errors.New("spent")
//	_, err := ChangeControl(ctx, l, KindActionToken, DigestID(tokenID), func(t *actionToken, found bool) error {
//		if !t.Spent.IsZero() {
//			return errSpent // wrapped in err; nothing written
//		}
//		t.Spent = now
//		return nil
//	})
//
// # Records of the previous version
//
// Before control records had their own kinds they were incident-shaped
// documents among the incidents, with reserved id prefixes (breaker-,
// lock-, control-, attempts-, decision-). A ledger written so keeps
// working: List never returns those documents (legacyControlID), and the
// two long-lived records are still read from them until they are written
// again in their own kind: the kill switch (an "on" stays on) and people's
// decisions (a resolved key stays resolved). The short-lived ones start
// fresh: leases and batch attempts (minutes), the breaker's count (so up
// to one more window's worth of writes in the first window after the
// upgrade), the reconcile watermarks (the first round looks back
// SPRESPONDER_RECONCILE_LOOKBACK again; what it lists twice is a
// duplicate), the heartbeats (watched again from the first check) and
// self-test markers (a selftest run against a service of the previous
// version waits for a marker that version writes elsewhere).

// ControlKind names a kind of control record; it is the namespace of its
// ids.
type ControlKind string

const (
	KindBreaker    ControlKind = "breaker"
	KindLease      ControlKind = "lease"
	KindKillSwitch ControlKind = "killswitch"
	KindAttempts   ControlKind = "attempts"
	KindDecision   ControlKind = "decision"
	KindWatermark  ControlKind = "watermark"
	KindHeartbeat  ControlKind = "heartbeat"
	KindSelfTest   ControlKind = "selftest"
)

// Controls stores control records: opaque bytes per (kind, id), each with
// a version. Both backends implement it and pass the same suite.
type Controls interface {
	// GetControl returns the record's bytes and version, or ErrNotFound.
	GetControl(ctx context.Context, kind ControlKind, id string) (data []byte, etag string, err error)
	// PutControl writes the record if the stored version is etag, or, with
	// etag "", if there is no record yet; ErrConflict otherwise. It returns
	// the new version.
	PutControl(ctx context.Context, kind ControlKind, id string, data []byte, etag string) (newETag string, err error)
}

// ReadControl decodes the record (kind, id); found is false when there is
// none (v is then the zero value).
func ReadControl[T any](ctx context.Context, c Controls, kind ControlKind, id string) (v T, found bool, err error) {
	data, _, err := c.GetControl(ctx, kind, id)
	if errors.Is(err, ErrNotFound) {
		return v, false, nil
	}
	if err != nil {
		return v, false, fmt.Errorf("ledger: read %s %s: %w", kind, id, err)
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, false, fmt.Errorf("ledger: decode %s %s: %w", kind, id, err)
	}
	return v, true, nil
}

// ChangeControl applies fn to the record (kind, id), the zero value with
// found false when there is none yet, and writes the result conditionally;
// on a conflict it reads again and re-applies fn, at most MutateAttempts
// times (with Mutate's jittered pause). fn must be a quick change of the
// value it is given: it may run several times, each time on a fresh copy.
// An error from fn stops the loop and is returned wrapped; nothing is
// written. It returns the value written.
func ChangeControl[T any](ctx context.Context, c Controls, kind ControlKind, id string, fn func(v *T, found bool) error) (T, error) {
	var last error
	for attempt := 1; attempt <= MutateAttempts; attempt++ {
		var v T
		data, etag, err := c.GetControl(ctx, kind, id)
		found := err == nil
		switch {
		case errors.Is(err, ErrNotFound):
			etag = ""
		case err != nil:
			return v, fmt.Errorf("ledger: change %s %s: %w", kind, id, err)
		default:
			if err := json.Unmarshal(data, &v); err != nil {
				return v, fmt.Errorf("ledger: decode %s %s: %w", kind, id, err)
			}
		}
		if err := fn(&v, found); err != nil {
			return v, fmt.Errorf("ledger: change %s %s: %w", kind, id, err)
		}
		out, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return v, fmt.Errorf("ledger: encode %s %s: %w", kind, id, err)
		}
		_, err = c.PutControl(ctx, kind, id, append(out, '\n'), etag)
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, ErrConflict) {
			return v, fmt.Errorf("ledger: change %s %s: %w", kind, id, err)
		}
		last = err
		if err := pause(ctx, attempt); err != nil {
			return v, fmt.Errorf("ledger: change %s %s: after %d conflicting attempts: %w", kind, id, attempt, err)
		}
	}
	var zero T
	return zero, fmt.Errorf("ledger: change %s %s: gave up after %d attempts: %w", kind, id, MutateAttempts, last)
}

// checkControl refuses a kind or id that is not safe as a path or blob
// name part.
func checkControl(kind ControlKind, id string) error {
	if err := validID(string(kind)); err != nil {
		return fmt.Errorf("ledger: control kind: %w", err)
	}
	return validID(id)
}

// DigestID makes a safe, bounded record id from parts that come from the
// outside (partition ids, key ids, detection ids): never a path or a blob
// name of the caller's choosing. Parts are compared in lower case.
func DigestID(parts ...string) string { return digestID("", parts...) }

func digestID(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(strings.ToLower(p)))
		h.Write([]byte{0})
	}
	return prefix + hex.EncodeToString(h.Sum(nil))[:32]
}

// readableID is s, lower-cased, when it is a safe id on its own (a tenant
// id, an object id, a category), else its digest.
func readableID(s string) string {
	if validID(s) == nil {
		return strings.ToLower(s)
	}
	return DigestID(s)
}

// legacyControlID reports whether id is one of the control records the
// previous version kept among the incidents (see "Records of the previous
// version"). Incident ids start with "inc-", so none is mistaken.
func legacyControlID(id string) bool {
	for _, p := range []string{"breaker-", "lock-", "control-", "attempts-", "decision-"} {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}
