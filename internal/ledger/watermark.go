package ledger

import (
	"context"
	"fmt"
	"time"
)

// Two more control records (controls.go), for what makes sure nothing is
// lost silently: the reconcile watermark of each Graph list, and the time
// the last record of each Entra log category arrived. Both are rewritten
// often; their notes keep the last few events a person wants to read (a
// backoff, a silence paged, its end).

// Note is an event on a control record, for a person reading it.
type Note struct {
	At     time.Time `json:"at"`
	What   string    `json:"what"`
	Detail string    `json:"detail,omitempty"`
}

// maxNotes bounds a record's notes: the latest are kept.
const maxNotes = 20

func addNote(notes []Note, n Note) []Note {
	notes = append(notes, n)
	return notes[max(0, len(notes)-maxNotes):]
}

// Watermarks keeps reconcile's watermark per list it reads, shared by
// every instance.
type Watermarks struct {
	L   Controls
	Now func() time.Time
}

// Watermark is a list's watermark as stored.
type Watermark struct {
	// At: every change before it has been listed and made durable.
	At time.Time `json:"at,omitzero"`
	// BackoffUntil: Graph throttled the last round; none before it.
	BackoffUntil time.Time `json:"backoffUntil,omitzero"`
	// Throttled counts the rounds throttled in a row (the backoff doubles).
	Throttled int `json:"throttled,omitempty"`
}

// watermark is a KindWatermark record.
type watermark struct {
	List string `json:"list"`
	Watermark
	Notes []Note `json:"notes,omitempty"`
}

// Get reads the watermark of a list; a list never reconciled has the zero
// Watermark.
func (w Watermarks) Get(ctx context.Context, name string) (Watermark, error) {
	rec, _, err := ReadControl[watermark](ctx, w.L, KindWatermark, readableID(name))
	if err != nil {
		return Watermark{}, fmt.Errorf("read watermark %s: %w", name, err)
	}
	return rec.Watermark, nil
}

func (w Watermarks) change(ctx context.Context, name string, fn func(cur *watermark, now time.Time)) error {
	_, err := ChangeControl(ctx, w.L, KindWatermark, readableID(name), func(cur *watermark, _ bool) error {
		cur.List = name
		fn(cur, nowOr(w.Now))
		return nil
	})
	return err
}

// Advance moves the watermark forward to at (never back: two instances'
// rounds may finish in either order) and ends a backoff.
func (w Watermarks) Advance(ctx context.Context, name string, at time.Time) error {
	err := w.change(ctx, name, func(cur *watermark, now time.Time) {
		if at.After(cur.At) {
			cur.At = at.UTC()
		}
		if cur.Throttled > 0 {
			cur.Notes = addNote(cur.Notes, Note{At: now, What: "throttling over",
				Detail: fmt.Sprintf("a round finished after %d throttled round(s)", cur.Throttled)})
		}
		cur.BackoffUntil, cur.Throttled = time.Time{}, 0
	})
	if err != nil {
		return fmt.Errorf("advance watermark %s: %w", name, err)
	}
	return nil
}

// Throttled records a round that Graph throttled: no round of this list
// before until. It returns the count of throttled rounds in a row.
func (w Watermarks) Throttled(ctx context.Context, name string, backoff func(inARow int) time.Duration, why string) (until time.Time, inARow int, err error) {
	err = w.change(ctx, name, func(cur *watermark, now time.Time) {
		cur.Throttled++
		inARow = cur.Throttled
		until = now.Add(backoff(cur.Throttled))
		cur.BackoffUntil = until
		cur.Notes = addNote(cur.Notes, Note{At: now, What: "throttled",
			Detail: fmt.Sprintf("%s; round %d in a row; next round not before %s", why, cur.Throttled, until.UTC().Format(time.RFC3339))})
	})
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("record throttling of %s: %w", name, err)
	}
	return until, inARow, nil
}

// Heartbeats keeps, per Entra log category, when its last record arrived
// and whether its silence was paged.
type Heartbeats struct {
	L   Controls
	Now func() time.Time
}

// Heartbeat is one category's record.
type Heartbeat struct {
	Category string `json:"category"`
	// Last is when the last record of the category arrived (or, before
	// any did, when the watch began).
	Last time.Time `json:"last,omitzero"`
	// Paged is when on-call was told the category went silent; zero while
	// it is not silent.
	Paged time.Time `json:"paged,omitzero"`
}

// heartbeat is a KindHeartbeat record.
type heartbeat struct {
	Heartbeat
	Notes []Note `json:"notes,omitempty"`
}

// Get reads a category's heartbeat; found is false for a category never
// seen nor watched.
func (h Heartbeats) Get(ctx context.Context, category string) (hb Heartbeat, found bool, err error) {
	rec, found, err := ReadControl[heartbeat](ctx, h.L, KindHeartbeat, readableID(category))
	if err != nil {
		return Heartbeat{}, false, fmt.Errorf("read heartbeat of %s: %w", category, err)
	}
	rec.Category = category
	return rec.Heartbeat, found, nil
}

func (h Heartbeats) change(ctx context.Context, category string, fn func(cur *heartbeat, now time.Time)) (Heartbeat, error) {
	rec, err := ChangeControl(ctx, h.L, KindHeartbeat, readableID(category), func(cur *heartbeat, _ bool) error {
		cur.Category = category
		fn(cur, nowOr(h.Now))
		return nil
	})
	return rec.Heartbeat, err
}

// Seen records that a record of category arrived at (never moving back).
func (h Heartbeats) Seen(ctx context.Context, category string, at time.Time) error {
	_, err := h.change(ctx, category, func(cur *heartbeat, _ time.Time) {
		if at.After(cur.Last) {
			cur.Last = at.UTC()
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
	hb, err := h.change(ctx, category, func(cur *heartbeat, now time.Time) {
		if cur.Last.IsZero() {
			cur.Last = now.UTC()
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
	_, err := h.change(ctx, category, func(cur *heartbeat, now time.Time) {
		changed = false // fn may run again after a conflict
		if paged == !cur.Paged.IsZero() {
			return // already in that state
		}
		changed = true
		what := "silence paged"
		if paged {
			cur.Paged = now.UTC()
		} else {
			cur.Paged, what = time.Time{}, "resumed"
		}
		cur.Notes = addNote(cur.Notes, Note{At: now, What: what, Detail: detail})
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
	_, err := h.change(ctx, category, func(cur *heartbeat, now time.Time) {
		if paged {
			cur.Paged = time.Time{}
		} else if cur.Paged.IsZero() {
			cur.Paged = now.UTC()
		}
		cur.Notes = addNote(cur.Notes, Note{At: now, What: "page not delivered", Detail: why})
	})
	if err != nil {
		return fmt.Errorf("undo page of %s: %w", category, err)
	}
	return nil
}
