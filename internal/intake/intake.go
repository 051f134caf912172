// Package intake is the first stage of the pipeline: it takes the events of
// one invocation (or one replay file), walks their records, skips the
// categories the responder has no use for, keeps bad input in quarantine,
// and feeds the rest to detection. Its output is the batch's signals and a
// count of everything it saw, so that nothing received goes unaccounted:
// every record is either skipped (counted by category), turned into a
// signal, or quarantined with its position and reason.
package intake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/entra"
	"github.com/spresponder/spresponder/internal/invocation"
	"github.com/spresponder/spresponder/internal/jsonscan"
	"github.com/spresponder/spresponder/internal/quarantine"
)

// DefaultMaxEventBytes bounds one event body. Event Hubs carries at most
// 1 MB per event on Standard and Premium; anything much larger did not come
// from a diagnostic setting and is kept for a person rather than parsed.
const DefaultMaxEventBytes = 2 << 20

// Config is what intake needs to know.
type Config struct {
	// AllowedTenants lists the tenant ids (lower case) whose records are
	// acted on. Empty means any tenant, which config validation allows only
	// in dry-run.
	AllowedTenants []string
	MaxEventBytes  int
	Detect         detect.Options
}

// Stats counts what one batch held.
type Stats struct {
	Events      int            `json:"events"`
	Records     int            `json:"records"`
	Signals     int            `json:"signals"`
	Skipped     int            `json:"skipped"`
	Quarantined int            `json:"quarantined"`
	ByCategory  map[string]int `json:"byCategory,omitempty"`
	ByReason    map[string]int `json:"byReason,omitempty"`
}

// Add folds o into s.
func (s *Stats) Add(o Stats) {
	s.Events += o.Events
	s.Records += o.Records
	s.Signals += o.Signals
	s.Skipped += o.Skipped
	s.Quarantined += o.Quarantined
	for k, v := range o.ByCategory {
		if s.ByCategory == nil {
			s.ByCategory = map[string]int{}
		}
		s.ByCategory[k] += v
	}
	for k, v := range o.ByReason {
		if s.ByReason == nil {
			s.ByReason = map[string]int{}
		}
		s.ByReason[k] += v
	}
}

// Summary renders the counts in one line for people.
func (s Stats) Summary() string {
	line := fmt.Sprintf("events=%d records=%d signals=%d skipped=%d quarantined=%d", s.Events, s.Records, s.Signals, s.Skipped, s.Quarantined)
	if len(s.ByReason) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(s.ByReason)) {
			parts = append(parts, fmt.Sprintf("%s=%d", k, s.ByReason[k]))
		}
		line += " (" + strings.Join(parts, " ") + ")"
	}
	return line
}

// Intake processes batches. It is safe for concurrent use: each call keeps
// its state on the stack.
type Intake struct {
	cfg     Config
	tenants map[string]bool
	keeper  quarantine.Keeper
	log     *zap.Logger
	now     func() time.Time
}

// New builds an Intake. keeper stores quarantined input; log receives one
// line per quarantined item.
func New(cfg Config, keeper quarantine.Keeper, log *zap.Logger, now func() time.Time) *Intake {
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = DefaultMaxEventBytes
	}
	t := map[string]bool{}
	for _, id := range cfg.AllowedTenants {
		t[strings.ToLower(strings.TrimSpace(id))] = true
	}
	return &Intake{cfg: cfg, tenants: t, keeper: keeper, log: log, now: now}
}

// Result is a processed batch.
type Result struct {
	Signals []detect.Signal
	Stats   Stats
}

// Process walks the events. It fails only when quarantine itself fails:
// then the batch must not be acknowledged, because something received
// would otherwise be lost.
func (in *Intake) Process(ctx context.Context, events []invocation.Event) (Result, error) {
	b := detect.NewBatch(in.cfg.Detect)
	st := Stats{ByCategory: map[string]int{}, ByReason: map[string]int{}}
	for ei := range events {
		ev := &events[ei]
		st.Events++
		pos := quarantine.Position{
			Partition: ev.Pos.Partition, SequenceNumber: ev.Pos.SequenceNumber, Offset: ev.Pos.Offset,
			EnqueuedTime: ev.Pos.EnqueuedTime, Event: ev.Pos.Index, Record: -1,
		}
		switch {
		case ev.Err != nil:
			if err := in.keep(ctx, &st, quarantine.MalformedEvent, ev.Err.Error(), pos, ev.Body); err != nil {
				return Result{}, err
			}
			continue
		case len(ev.Body) > in.cfg.MaxEventBytes:
			detail := fmt.Sprintf("event of %d bytes exceeds the limit of %d", len(ev.Body), in.cfg.MaxEventBytes)
			if err := in.keep(ctx, &st, quarantine.Oversized, detail, pos, ev.Body); err != nil {
				return Result{}, err
			}
			continue
		}
		if err := in.event(ctx, b, &st, ev, pos); err != nil {
			return Result{}, err
		}
	}
	sigs := b.Signals()
	st.Signals = len(sigs)
	return Result{Signals: sigs, Stats: st}, nil
}

// event walks one {"records":[...]} body.
func (in *Intake) event(ctx context.Context, b *detect.Batch, st *Stats, ev *invocation.Event, pos quarantine.Position) error {
	body := ev.Body
	sawRecords := false
	var keepErr error
	_, err := jsonscan.Object(body, 0, func(key []byte, _ bool, v int) (int, error) {
		if string(key) != "records" {
			return jsonscan.SkipValue(body, v)
		}
		sawRecords = true
		return jsonscan.Array(body, v, func(ri, r int) (int, error) {
			st.Records++
			rpos := pos
			rpos.Record = ri
			if body[r] != '{' {
				end, err := jsonscan.SkipValue(body, r)
				if err != nil {
					return end, err
				}
				keepErr = in.keep(ctx, st, quarantine.UnknownShape, "record is not an object", rpos, body[r:end])
				return end, keepErr
			}
			sc, err := entra.ScanRecord(body, r)
			if err != nil {
				return sc.End, err // structure broken: the event is malformed
			}
			rec := body[r:sc.End]
			if len(sc.Category) == 0 {
				keepErr = in.keep(ctx, st, quarantine.UnknownShape, "record has no category", rpos, rec)
				return sc.End, keepErr
			}
			if !entra.Handled(sc.Category) {
				st.Skipped++
				if name := entra.KnownName(sc.Category); name != "" {
					st.ByCategory[name]++
				} else {
					st.ByCategory["other"]++
				}
				return sc.End, nil
			}
			cat := handledCategory(sc.Category)
			// The common case (a lower-case tenantId in the allow-list) is a
			// map lookup that allocates nothing; only a miss pays for the
			// lower-casing and resourceId fallback.
			if len(in.tenants) > 0 && !in.tenants[string(sc.TenantID)] && !in.tenants[sc.Tenant()] {
				keepErr = in.keep(ctx, st, quarantine.ForeignTenant, "tenant "+sc.Tenant()+" is not in the allow-list", rpos, rec)
				return sc.End, keepErr
			}
			src := detect.Source{
				Partition: pos.Partition, SequenceNumber: pos.SequenceNumber, Offset: pos.Offset,
				EnqueuedTime: pos.EnqueuedTime, Event: pos.Event, Record: ri,
			}
			var out detect.Outcome
			switch cat {
			case entra.ServicePrincipalSignInLogs:
				if sc.Properties < 0 {
					err = fmt.Errorf("sign-in record has no properties")
				} else {
					out, err = b.SignIn(rec, sc.Properties-r, src)
				}
			case entra.ServicePrincipalRiskEvents:
				out, err = b.RiskEvent(rec, src)
			case entra.RiskyServicePrincipals:
				out, err = b.RiskyServicePrincipal(rec, src)
			case entra.AuditLogs:
				out, err = b.AuditLog(rec, src)
			}
			st.ByCategory[string(cat)]++
			if err != nil {
				keepErr = in.keep(ctx, st, quarantine.MalformedRecord, err.Error(), rpos, rec)
				return sc.End, keepErr
			}
			if out == detect.Skipped {
				st.Skipped++
			}
			return sc.End, nil
		})
	})
	if keepErr != nil {
		return keepErr
	}
	if err == nil && !sawRecords {
		err = fmt.Errorf(`event body has no "records" array`)
	}
	if err != nil {
		// Records already counted stay counted: their signals are kept too,
		// and the whole event is quarantined so nothing after the break is
		// lost either.
		return in.keep(ctx, st, quarantine.MalformedEvent, err.Error(), pos, body)
	}
	return nil
}

func (in *Intake) keep(ctx context.Context, st *Stats, reason quarantine.Reason, detail string, pos quarantine.Position, body []byte) error {
	st.Quarantined++
	st.ByReason[string(reason)]++
	it := quarantine.NewItem(reason, detail, pos, body, in.now())
	in.log.Warn("input quarantined",
		zap.String("reason", string(reason)), zap.String("detail", detail),
		zap.String("partition", pos.Partition), zap.Int64("sequence_number", pos.SequenceNumber),
		zap.Int("event", pos.Event), zap.Int("record", pos.Record), zap.Int("bytes", len(body)),
		zap.String("quarantine_id", it.ID))
	if in.keeper == nil {
		return fmt.Errorf("quarantine %s at %s: no quarantine store configured", reason, pos)
	}
	if err := in.keeper.Keep(ctx, it); err != nil {
		return fmt.Errorf("quarantine %s at %s: %w", reason, pos, err)
	}
	return nil
}

// KeepInvocation quarantines a whole invocation body whose envelope could
// not be decoded, so not even its events can be told apart.
func (in *Intake) KeepInvocation(ctx context.Context, body []byte, cause error) error {
	var st Stats
	st.ByReason = map[string]int{}
	return in.keep(ctx, &st, quarantine.MalformedEvent, "invocation envelope: "+cause.Error(), quarantine.Position{Event: -1, Record: -1}, body)
}

// handledCategory maps a handled category's bytes to its constant, so the
// hot path never allocates a string for it.
func handledCategory(c []byte) entra.Category {
	switch string(c) {
	case string(entra.ServicePrincipalSignInLogs):
		return entra.ServicePrincipalSignInLogs
	case string(entra.ServicePrincipalRiskEvents):
		return entra.ServicePrincipalRiskEvents
	case string(entra.RiskyServicePrincipals):
		return entra.RiskyServicePrincipals
	case string(entra.AuditLogs):
		return entra.AuditLogs
	}
	return ""
}
