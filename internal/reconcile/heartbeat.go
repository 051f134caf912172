package reconcile

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/ledger"
)

// Silence is how long a log category may go without a record before
// on-call is told. Sign-ins flow all the time, so a short silence means
// the diagnostic setting or the hub broke; risk categories are quiet for
// days in a healthy tenant, so they are off or long by default.
type Silence struct {
	Category string
	After    time.Duration
}

// Beats keeps the heartbeats; ledger.Heartbeats implements it.
type Beats interface {
	Get(ctx context.Context, category string) (ledger.Heartbeat, bool, error)
	Watch(ctx context.Context, category string) (ledger.Heartbeat, error)
	Seen(ctx context.Context, category string, at time.Time) error
	MarkPaged(ctx context.Context, category string, paged bool, detail string) (bool, error)
	UndoPage(ctx context.Context, category string, paged bool, why string) error
}

// Pager tells on-call that a category went silent (resumed false) or
// flows again (resumed true). The app sends it through the pager channel.
type Pager interface {
	PageSilence(ctx context.Context, category string, resumed bool, text string) error
}

// WriteEvery is the least time between two heartbeat writes of one
// category by one instance: arrivals are many, ledger writes are not free,
// and a silence threshold is tens of minutes.
const WriteEvery = time.Minute

// Heartbeat records arrivals and checks silences.
type Heartbeat struct {
	beats    Beats
	pager    Pager // nil: no pager configured; a silence is logged as an error only
	silences []Silence
	log      *zap.Logger
	now      func() time.Time

	mu      sync.Mutex
	written map[string]time.Time // this instance's last write per category
}

// NewHeartbeat builds the heartbeat. Silences with After 0 are not checked.
func NewHeartbeat(beats Beats, pager Pager, silences []Silence, log *zap.Logger, now func() time.Time) *Heartbeat {
	var on []Silence
	for _, s := range silences {
		if s.After > 0 {
			on = append(on, s)
		}
	}
	return &Heartbeat{beats: beats, pager: pager, silences: on, log: log, now: now, written: map[string]time.Time{}}
}

// Arrived records that a batch carried records of these categories (counts
// by category, as intake reports them). Only watched categories are
// written, at most once a minute per category per instance, to keep ledger
// writes low. A heartbeat that cannot be written is logged: it must never
// fail the batch it rides on.
func (h *Heartbeat) Arrived(ctx context.Context, byCategory map[string]int) {
	now := h.now()
	for _, cat := range slices.Sorted(maps.Keys(byCategory)) {
		if byCategory[cat] <= 0 || !slices.ContainsFunc(h.silences, func(s Silence) bool { return s.Category == cat }) {
			continue
		}
		h.mu.Lock()
		due := now.Sub(h.written[cat]) >= WriteEvery
		if due {
			h.written[cat] = now // claimed, so concurrent batches do not all write
		}
		h.mu.Unlock()
		if !due {
			continue
		}
		if err := h.beats.Seen(ctx, cat, now); err != nil {
			h.mu.Lock()
			delete(h.written, cat) // try again with the next batch
			h.mu.Unlock()
			h.log.Warn("heartbeat not recorded", zap.String("category", cat), zap.Error(err))
		}
	}
}

// Check looks at every watched category, for the Sweep: a category silent
// past its limit pages once (the ledger records it, so neither the next
// Sweep nor another instance pages again), and one that flows again after
// a page says so. A page that cannot be delivered is taken back, so the
// next Sweep tries again: a silence is never swallowed.
func (h *Heartbeat) Check(ctx context.Context) (string, error) {
	now := h.now()
	var parts []string
	var errs []string
	for _, s := range h.silences {
		hb, found, err := h.beats.Get(ctx, s.Category)
		if err == nil && (!found || hb.Last.IsZero()) {
			// Nothing has arrived yet: the silence counts from now.
			hb, err = h.beats.Watch(ctx, s.Category)
		}
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		quiet := now.Sub(hb.Last)
		switch {
		case quiet > s.After && hb.Paged.IsZero():
			text := fmt.Sprintf("No %s record has reached the responder for %s (limit %s; last at %s). Check the Entra diagnostic setting, the Event Hub and the Function App's trigger; what the stream misses meanwhile is found by reconcile only for risk detections and risky service principals.",
				s.Category, quiet.Round(time.Minute), s.After, hb.Last.UTC().Format(time.RFC3339))
			parts = append(parts, fmt.Sprintf("%s silent %s: %s", s.Category, quiet.Round(time.Minute), h.page(ctx, s.Category, false, text)))
		case quiet <= s.After && !hb.Paged.IsZero():
			text := fmt.Sprintf("%s records reach the responder again (last at %s; the silence was paged at %s).",
				s.Category, hb.Last.UTC().Format(time.RFC3339), hb.Paged.UTC().Format(time.RFC3339))
			parts = append(parts, fmt.Sprintf("%s resumed: %s", s.Category, h.page(ctx, s.Category, true, text)))
		case !hb.Paged.IsZero():
			parts = append(parts, fmt.Sprintf("%s silent %s (paged at %s)", s.Category, quiet.Round(time.Minute), hb.Paged.UTC().Format(time.RFC3339)))
		default:
			parts = append(parts, fmt.Sprintf("%s last %s ago", s.Category, quiet.Round(time.Second)))
		}
	}
	sum := "heartbeat: " + strings.Join(parts, "; ")
	if len(h.silences) == 0 {
		sum = "heartbeat: no category watched"
	}
	if len(errs) > 0 {
		return sum, fmt.Errorf("heartbeat: %s", strings.Join(errs, "; "))
	}
	return sum, nil
}

// page records the page in the ledger first (only one instance wins) and
// then sends it; it returns what happened, in words.
func (h *Heartbeat) page(ctx context.Context, category string, resumed bool, text string) string {
	won, err := h.beats.MarkPaged(ctx, category, !resumed, text)
	if err != nil {
		h.log.Error("heartbeat page not recorded", zap.String("category", category), zap.Error(err))
		return "not recorded: " + err.Error()
	}
	if !won {
		return "paged by another instance"
	}
	if h.pager == nil {
		h.log.Error("no pager is configured (SPRESPONDER_PAGER_WEBHOOK): nobody is paged: "+text, zap.String("category", category))
		return "no pager configured (logged as an error)"
	}
	if err := h.pager.PageSilence(ctx, category, resumed, text); err != nil {
		h.log.Error("heartbeat page not delivered; the next Sweep tries again", zap.String("category", category), zap.Error(err))
		if uerr := h.beats.UndoPage(ctx, category, !resumed, err.Error()); uerr != nil {
			h.log.Error("heartbeat page could not be taken back", zap.String("category", category), zap.Error(uerr))
		}
		return "page not delivered: " + err.Error()
	}
	if resumed {
		h.log.Info("heartbeat: category resumed, on-call told", zap.String("category", category))
		return "on-call told"
	}
	h.log.Warn("heartbeat: category silent, on-call paged", zap.String("category", category))
	return "on-call paged"
}
