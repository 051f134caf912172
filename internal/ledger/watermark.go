package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
)

// Two more control records (see control.go), for what makes sure nothing
// is lost silently: the reconcile watermark, and the time the last record
// of each Entra log category arrived. Both are rewritten often, so their
// values live in the document's Mark and Alarm fields and the append-only
// history only gets the events a person wants to read (a backoff, a
// silence paged, its end).
const (
	watermarkPrefix = controlPrefix + "watermark-"
	heartbeatPrefix = controlPrefix + "heartbeat-"
)

// Watermarks keeps reconcile's watermark per list it reads, shared by
// every instance.
type Watermarks struct {
	L   Incidents
	Now func() time.Time
}

// Watermark is a list's watermark as stored.
type Watermark struct {
	// At: every change before it has been listed and made durable.
	At time.Time
	// BackoffUntil: Graph throttled the last round; none before it.
	BackoffUntil time.Time
	// Throttled counts the rounds throttled in a row (the backoff doubles).
	Throttled int
}

func (w Watermarks) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func watermarkID(name string) string { return digestID(watermarkPrefix, name) }

// Get reads the watermark of a list; a list never reconciled has the zero
// Watermark.
func (w Watermarks) Get(ctx context.Context, name string) (Watermark, error) {
	doc, err := w.L.Get(ctx, watermarkID(name))
	if errors.Is(err, ErrNotFound) {
		return Watermark{}, nil
	}
	if err != nil {
		return Watermark{}, fmt.Errorf("read watermark %s: %w", name, err)
	}
	return Watermark{At: doc.Mark, BackoffUntil: doc.Alarm, Throttled: doc.Attempts}, nil
}

func (w Watermarks) mutate(ctx context.Context, name string, fn func(cur *incident.Incident, now time.Time)) error {
	id := watermarkID(name)
	doc := controlDoc(id, "watermark created", w.now())
	doc.Key.DetectionID = "reconcile watermark of " + name // for a person reading the ledger
	if err := ensure(ctx, w.L, doc); err != nil {
		return err
	}
	_, err := Mutate(ctx, w.L, id, func(cur *incident.Incident) error {
		now := w.now()
		fn(cur, now)
		cur.Updated = now
		return nil
	})
	return err
}

// Advance moves the watermark forward to at (never back: two instances'
// rounds may finish in either order) and ends a backoff.
func (w Watermarks) Advance(ctx context.Context, name string, at time.Time) error {
	err := w.mutate(ctx, name, func(cur *incident.Incident, now time.Time) {
		if at.After(cur.Mark) {
			cur.Mark = at.UTC()
		}
		if cur.Attempts > 0 {
			cur.History = append(cur.History, incident.Event{At: now, Step: "reconcile", What: "throttling over",
				Detail: fmt.Sprintf("a round finished after %d throttled round(s)", cur.Attempts), Actor: "responder"})
		}
		cur.Alarm, cur.Attempts = time.Time{}, 0
	})
	if err != nil {
		return fmt.Errorf("advance watermark %s: %w", name, err)
	}
	return nil
}

// Throttled records a round that Graph throttled: no round of this list
// before until. It returns the count of throttled rounds in a row.
func (w Watermarks) Throttled(ctx context.Context, name string, backoff func(inARow int) time.Duration, why string) (until time.Time, inARow int, err error) {
	err = w.mutate(ctx, name, func(cur *incident.Incident, now time.Time) {
		cur.Attempts++
		inARow = cur.Attempts
		until = now.Add(backoff(cur.Attempts))
		cur.Alarm = until
		cur.History = append(cur.History, incident.Event{At: now, Step: "reconcile", What: "throttled",
			Detail: fmt.Sprintf("%s; round %d in a row; next round not before %s", why, cur.Attempts, until.UTC().Format(time.RFC3339)), Actor: "responder"})
	})
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("record throttling of %s: %w", name, err)
	}
	return until, inARow, nil
}

// Heartbeats keeps, per Entra log category, when its last record arrived
// and whether its silence was paged.
type Heartbeats struct {
	L   Incidents
	Now func() time.Time
}

// Heartbeat is one category's record.
type Heartbeat struct {
	Category string
	// Last is when the last record of the category arrived (or, before
	// any did, when the watch began).
	Last time.Time
	// Paged is when on-call was told the category went silent; zero while
	// it is not silent.
	Paged time.Time
}

func (h Heartbeats) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func heartbeatID(category string) string { return digestID(heartbeatPrefix, category) }

// Get reads a category's heartbeat; found is false for a category never
// seen nor watched.
func (h Heartbeats) Get(ctx context.Context, category string) (hb Heartbeat, found bool, err error) {
	doc, err := h.L.Get(ctx, heartbeatID(category))
	if errors.Is(err, ErrNotFound) {
		return Heartbeat{Category: category}, false, nil
	}
	if err != nil {
		return Heartbeat{}, false, fmt.Errorf("read heartbeat of %s: %w", category, err)
	}
	return Heartbeat{Category: category, Last: doc.Mark, Paged: doc.Alarm}, true, nil
}

func (h Heartbeats) mutate(ctx context.Context, category string, fn func(cur *incident.Incident, now time.Time)) (Heartbeat, error) {
	id := heartbeatID(category)
	doc := controlDoc(id, "heartbeat created", h.now())
	doc.Key.DetectionID = "heartbeat of " + category
	if err := ensure(ctx, h.L, doc); err != nil {
		return Heartbeat{}, err
	}
	out, err := Mutate(ctx, h.L, id, func(cur *incident.Incident) error {
		now := h.now()
		fn(cur, now)
		cur.Updated = now
		return nil
	})
	if err != nil {
		return Heartbeat{}, err
	}
	return Heartbeat{Category: category, Last: out.Mark, Paged: out.Alarm}, nil
}

// Seen records that a record of category arrived at (never moving back).
func (h Heartbeats) Seen(ctx context.Context, category string, at time.Time) error {
	_, err := h.mutate(ctx, category, func(cur *incident.Incident, _ time.Time) {
		if at.After(cur.Mark) {
			cur.Mark = at.UTC()
		}
	})
	if err != nil {
		return fmt.Errorf("record heartbeat of %s: %w", category, err)
	}
	return nil
}

// Watch starts the clock of a category nothing has arrived from yet, so
// that its silence is measured from the first check, not from the epoch.
func (h Heartbeats) Watch(ctx context.Context, category string) (Heartbeat, error) {
	hb, err := h.mutate(ctx, category, func(cur *incident.Incident, now time.Time) {
		if cur.Mark.IsZero() {
			cur.Mark = now.UTC()
		}
	})
	if err != nil {
		return Heartbeat{}, fmt.Errorf("watch heartbeat of %s: %w", category, err)
	}
	return hb, nil
}

// MarkPaged records the page about a silence (paged true) or about its
// end (paged false), with the words on-call read, once: it reports false
// when another instance recorded it first, so only one of them pages.
func (h Heartbeats) MarkPaged(ctx context.Context, category string, paged bool, detail string) (bool, error) {
	changed := false
	_, err := h.mutate(ctx, category, func(cur *incident.Incident, now time.Time) {
		if paged == !cur.Alarm.IsZero() {
			return // already in that state
		}
		changed = true
		what := "silence paged"
		if paged {
			cur.Alarm = now.UTC()
		} else {
			cur.Alarm, what = time.Time{}, "resumed"
		}
		cur.History = append(cur.History, incident.Event{At: now, Step: "heartbeat", What: what, Detail: detail, Actor: "responder"})
	})
	if err != nil {
		return false, fmt.Errorf("record %s page of %s: %w", map[bool]string{true: "silence", false: "resumed"}[paged], category, err)
	}
	return changed, nil
}

// UndoPage takes back a MarkPaged whose page was not delivered, so that
// the next check pages again: a page recorded but never sent would
// silence the alarm for good.
func (h Heartbeats) UndoPage(ctx context.Context, category string, paged bool, why string) error {
	_, err := h.mutate(ctx, category, func(cur *incident.Incident, now time.Time) {
		if paged {
			cur.Alarm = time.Time{}
		} else if cur.Alarm.IsZero() {
			cur.Alarm = now.UTC()
		}
		cur.History = append(cur.History, incident.Event{At: now, Step: "heartbeat", What: "page not delivered", Detail: why, Actor: "responder"})
	})
	if err != nil {
		return fmt.Errorf("undo page of %s: %w", category, err)
	}
	return nil
}
