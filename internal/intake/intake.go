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
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/entra"
	"github.com/spresponder/spresponder/internal/ids"
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
	// Notes asks for a Note per record and per bad event in
	// Result.Notes: what became of it and why. Replay reports them; the
	// serve path leaves them off (the stats count the same things).
	Notes bool
}

// Outcomes a Note gives.
const (
	NoteSignalled   = "signalled"
	NoteSkipped     = "skipped"
	NoteQuarantined = "quarantined"
)

// Reasons a record is skipped before detection, by category. The reasons
// detection gives are detect.Outcome values.
const (
	SkipUserSignIn            = "userSignIn"            // interactive, non-interactive and ADFS user sign-ins
	SkipUserRisk              = "userRisk"              // risky users and user risk detections
	SkipManagedIdentitySignIn = "managedIdentitySignIn" // managed identities have no secret to leak
	SkipCategoryNotUsed       = "categoryNotUsed"       // another category Entra streams
	SkipUnknownCategory       = "unknownCategory"       // a category Entra did not stream before
)

// Intake processes batches. It is safe for concurrent use: each call keeps
// its state on the stack.
type Intake struct {
	cfg Config
	// tenants maps each allowed tenant id, in the case it is configured
	// and in lower case, to its lower-case form: the lookup with the
	// record's raw bytes allocates nothing and yields the tenant string
	// signals carry.
	tenants map[string]string
	keeper  quarantine.Keeper
	log     *zap.Logger
	now     func() time.Time
}

// New builds an Intake. keeper stores quarantined input; log receives a
// line per quarantined item (up to MaxLoggedItems per batch, then one
// line for the rest).
func New(cfg Config, keeper quarantine.Keeper, log *zap.Logger, now func() time.Time) *Intake {
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = DefaultMaxEventBytes
	}
	t := map[string]string{}
	for _, id := range cfg.AllowedTenants {
		id = strings.TrimSpace(id)
		t[id] = strings.ToLower(id)
		t[strings.ToLower(id)] = strings.ToLower(id)
	}
	return &Intake{cfg: cfg, tenants: t, keeper: keeper, log: log, now: now}
}

// Result is a processed batch.
type Result struct {
	Signals []detect.Signal
	Stats   Stats
	Notes   []Note // with Config.Notes
}

// MaxLoggedItems bounds the log lines one batch writes about quarantined
// items; the rest are counted in one line. A flood of junk must not become
// a flood of logs.
const MaxLoggedItems = 20

// MaxItemsPerReason bounds the items one batch keeps separately for one
// reason. Past it, the rest of that reason is kept together as one item
// (their bodies joined, see overflow), so that a body of junk lines costs a
// few writes, not one per line, and still loses nothing.
const MaxItemsPerReason = 256

// batch is the state of one Process call.
type batch struct {
	det   *detect.Batch
	st    Stats
	items []quarantine.Item
	// overflow holds, per reason and level, what is past MaxItemsPerReason.
	overflow map[overflowKey]*overflow
	perReas  map[quarantine.Reason]int
	notes    []Note
}

type overflowKey struct {
	reason quarantine.Reason
	record bool // records (joined into one {"records":[...]} body) or events (NDJSON)
}

type overflow struct {
	first, last quarantine.Position
	n           int
	body        []byte
}

// Process walks the events. It fails only when quarantine itself fails:
// then the batch must not be acknowledged, because something received
// would otherwise be lost. Quarantined items are kept together at the end
// (quarantine.KeepAll), before Process returns.
func (in *Intake) Process(ctx context.Context, events []invocation.Event) (Result, error) {
	bt := &batch{
		det:      detect.NewBatch(in.cfg.Detect),
		st:       Stats{ByCategory: map[string]int{}, ByReason: map[string]int{}, SkippedBy: map[string]int{}},
		overflow: map[overflowKey]*overflow{},
		perReas:  map[quarantine.Reason]int{},
	}
	for ei := range events {
		ev := &events[ei]
		bt.st.Events++
		pos := quarantine.Position{
			Partition: ev.Pos.Partition, SequenceNumber: ev.Pos.SequenceNumber, Offset: ev.Pos.Offset,
			EnqueuedTime: ev.Pos.EnqueuedTime, Event: ev.Pos.Index, Record: -1,
		}
		switch {
		case ev.Err != nil:
			in.keep(bt, errReason(ev.Err), ev.Err.Error(), pos, ev.Body)
			continue
		case len(ev.Body) > in.cfg.MaxEventBytes:
			in.keep(bt, quarantine.Oversized, fmt.Sprintf("event of %d bytes exceeds the limit of %d", len(ev.Body), in.cfg.MaxEventBytes), pos, ev.Body)
			continue
		}
		in.event(bt, ev, pos)
	}
	for reason, n := range bt.det.BelowThreshold() {
		bt.st.skip(string(reason), n)
	}
	if t := bt.det.Tolerated(); len(t) > 0 {
		bt.st.Tolerated = maps.Clone(t)
	}
	if err := in.flush(ctx, bt); err != nil {
		return Result{}, err
	}
	for i := range bt.notes {
		n := &bt.notes[i]
		if n.pending == "" {
			continue
		}
		if bt.det.Settled(n.pending) {
			n.Outcome, n.Reason = NoteSignalled, ""
		}
		n.pending = ""
	}
	sigs := bt.det.Signals()
	bt.st.Signals = len(sigs)
	return Result{Signals: sigs, Stats: bt.st, Notes: bt.notes}, nil
}

// errReason files an event that arrived with an error (a replay line that
// is not JSON, a Log Analytics row that reads two ways) under its reason.
func errReason(err error) quarantine.Reason {
	var r interface{ QuarantineReason() string }
	switch {
	case errors.Is(err, entra.ErrAmbiguous):
		return quarantine.Ambiguous
	case errors.As(err, &r) && r.QuarantineReason() != "":
		return quarantine.Reason(r.QuarantineReason())
	}
	return quarantine.MalformedEvent
}

func (in *Intake) note(bt *batch, n Note) {
	if in.cfg.Notes {
		bt.notes = append(bt.notes, n)
	}
}

// event walks one {"records":[...]} body.
func (in *Intake) event(bt *batch, ev *invocation.Event, pos quarantine.Position) {
	body := ev.Body
	st := &bt.st
	sawRecords := false
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
				in.keep(bt, quarantine.UnknownShape, "record is not an object", rpos, body[r:end])
				return end, nil
			}
			sc, err := entra.ScanRecord(body, r)
			if err != nil {
				return sc.End, err // structure broken: the event is malformed
			}
			in.record(bt, body[r:sc.End], sc, r, pos, rpos)
			return sc.End, nil
		})
	})
	if err == nil && !sawRecords {
		err = fmt.Errorf(`event body has no "records" array`)
	}
	if err != nil {
		// Records already counted stay counted: their signals are kept too,
		// and the whole event is quarantined so nothing after the break is
		// lost either.
		in.keep(bt, quarantine.MalformedEvent, err.Error(), pos, body)
	}
}

// record judges one scanned record. Everything it decides (the category,
// the allow-list, the signal's tenant) comes from the one scan; an
// envelope that reads two ways is quarantined before anything else.
func (in *Intake) record(bt *batch, rec []byte, sc entra.Scan, r int, pos, rpos quarantine.Position) {
	st := &bt.st
	if in.cfg.Notes {
		// Every way out of here leaves one note; the category is the
		// scanned one, set after (keep adds the note).
		n := len(bt.notes)
		defer func() {
			if len(bt.notes) > n {
				bt.notes[len(bt.notes)-1].Category = string(sc.Category)
			}
		}()
	}
	handled := entra.Handled(sc.Category)
	// An ambiguous tenant or resourceId does not matter in a record that
	// is skipped anyway, unless the doubt reaches the category.
	if sc.Ambiguity != "" && (handled || sc.CategoryAmbiguous) {
		in.keep(bt, quarantine.Ambiguous, sc.Ambiguity, rpos, rec)
		return
	}
	if len(sc.Category) == 0 {
		in.keep(bt, quarantine.UnknownShape, "record has no category", rpos, rec)
		return
	}
	if !handled {
		name := entra.KnownName(sc.Category)
		if name != "" {
			st.ByCategory[name]++
		} else {
			st.ByCategory["other"]++
		}
		st.skip(skipReason(name), 1)
		in.note(bt, Note{Event: rpos.Event, Record: rpos.Record, Outcome: NoteSkipped, Reason: skipReason(name)})
		return
	}
	cat := handledCategory(sc.Category)
	if sc.TenantsDisagree() {
		in.keep(bt, quarantine.Ambiguous, "tenantId and resourceId name different tenants", rpos, rec)
		return
	}
	// The common case (a tenantId in the allow-list) is a map lookup that
	// allocates nothing; only a miss pays for the lower-casing and the
	// resourceId fallback.
	var tenant string
	if len(in.tenants) > 0 {
		t, ok := in.tenants[string(sc.TenantID)]
		if !ok {
			t, ok = in.tenants[sc.Tenant()]
		}
		if !ok {
			in.keep(bt, quarantine.ForeignTenant, fmt.Sprintf("tenant %.64q is not in the allow-list", sc.Tenant()), rpos, rec)
			return
		}
		tenant = t
	} else {
		tenant = sc.Tenant()
	}
	if err := ids.CheckGUID("tenantId", tenant); err != nil {
		in.keep(bt, quarantine.InvalidID, err.Error(), rpos, rec)
		return
	}
	src := detect.Source{
		Partition: pos.Partition, SequenceNumber: pos.SequenceNumber, Offset: pos.Offset,
		EnqueuedTime: pos.EnqueuedTime, Event: pos.Event, Record: rpos.Record,
	}
	var out detect.Outcome
	var err error
	switch cat {
	case entra.ServicePrincipalSignInLogs:
		if sc.Properties < 0 {
			err = fmt.Errorf("sign-in record has no properties")
		} else {
			out, err = bt.det.SignIn(rec, sc.Properties-r, tenant, src)
		}
	case entra.ServicePrincipalRiskEvents:
		out, err = bt.det.RiskEvent(rec, tenant, src)
	case entra.RiskyServicePrincipals:
		out, err = bt.det.RiskyServicePrincipal(rec, tenant, src)
	case entra.AuditLogs:
		out, err = bt.det.AuditLog(rec, tenant, src)
	}
	st.ByCategory[string(cat)]++
	switch {
	case errors.Is(err, entra.ErrAmbiguous):
		in.keep(bt, quarantine.Ambiguous, err.Error(), rpos, rec)
	case errors.Is(err, ids.ErrInvalid):
		in.keep(bt, quarantine.InvalidID, err.Error(), rpos, rec)
	case err != nil:
		in.keep(bt, quarantine.MalformedRecord, err.Error(), rpos, rec)
	case out.Skipped():
		st.skip(string(out), 1)
		in.note(bt, Note{Event: rpos.Event, Record: rpos.Record, Outcome: NoteSkipped, Reason: string(out)})
	case out == detect.Pending:
		key, below := bt.det.LastPending()
		in.note(bt, Note{Event: rpos.Event, Record: rpos.Record, Outcome: NoteSkipped, Reason: string(below), pending: key})
	default:
		in.note(bt, Note{Event: rpos.Event, Record: rpos.Record, Outcome: NoteSignalled})
	}
}

// keep counts an item for quarantine and queues it; flush writes the
// queue. Past MaxItemsPerReason items of one reason, the rest are joined
// into one overflow item per reason.
func (in *Intake) keep(bt *batch, reason quarantine.Reason, detail string, pos quarantine.Position, body []byte) {
	in.note(bt, Note{Event: pos.Event, Record: pos.Record, Outcome: NoteQuarantined, Reason: string(reason), Detail: detail})
	bt.st.Quarantined++
	bt.st.ByReason[string(reason)]++
	bt.perReas[reason]++
	if bt.perReas[reason] <= MaxItemsPerReason {
		it := quarantine.NewItem(reason, detail, pos, body, in.now())
		bt.items = append(bt.items, it)
		if len(bt.items) <= MaxLoggedItems {
			in.log.Warn("input quarantined",
				zap.String("reason", string(reason)), zap.String("detail", detail),
				zap.String("partition", pos.Partition), zap.Int64("sequence_number", pos.SequenceNumber),
				zap.Int("event", pos.Event), zap.Int("record", pos.Record), zap.Int("bytes", len(body)),
				zap.String("quarantine_id", it.ID))
		}
		return
	}
	k := overflowKey{reason: reason, record: pos.Record >= 0}
	o := bt.overflow[k]
	if o == nil {
		o = &overflow{first: pos}
		bt.overflow[k] = o
	}
	o.last = pos
	o.n++
	// Records are joined into one event body, so replaying the item feeds
	// them all through intake again; events are joined one per line (the
	// replay file format), whatever they hold.
	switch {
	case k.record && o.n == 1:
		o.body = append(o.body, `{"records":[`...)
	case k.record:
		o.body = append(o.body, ',')
	case o.n > 1:
		o.body = append(o.body, '\n')
	}
	o.body = append(o.body, body...)
}

// flush keeps the queued items, the overflow ones last, in one KeepAll.
func (in *Intake) flush(ctx context.Context, bt *batch) error {
	items := bt.items
	for _, k := range slices.SortedFunc(maps.Keys(bt.overflow), func(a, b overflowKey) int {
		return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
	}) {
		o := bt.overflow[k]
		body := o.body
		if k.record {
			body = append(body, "]}"...)
		}
		what := "events, one per line"
		if k.record {
			what = `records, joined in one {"records":[...]} body`
		}
		detail := fmt.Sprintf("%d more %s items past the %d kept one by one in this batch (%s; first at %s, last at %s)",
			o.n, k.reason, MaxItemsPerReason, what, o.first, o.last)
		pos := o.first
		pos.Record = -1
		items = append(items, quarantine.NewItem(k.reason, detail, pos, body, in.now()))
	}
	if len(items) == 0 {
		return nil
	}
	if n := len(bt.items); n > MaxLoggedItems || len(bt.overflow) > 0 {
		in.log.Warn("more input quarantined than logged one by one",
			zap.Int("items", len(items)), zap.Int("quarantined", bt.st.Quarantined), zap.Any("by_reason", bt.st.ByReason))
	}
	if in.keeper == nil {
		return fmt.Errorf("quarantine %d items: no quarantine store configured", len(items))
	}
	if err := quarantine.KeepAll(ctx, in.keeper, items); err != nil {
		return fmt.Errorf("quarantine %d items (%s first): %w", len(items), items[0].Position, err)
	}
	return nil
}

// KeepInvocation quarantines a whole invocation body whose envelope could
// not be decoded, so not even its events can be told apart.
func (in *Intake) KeepInvocation(ctx context.Context, body []byte, cause error) error {
	it := quarantine.NewItem(quarantine.MalformedEvent, "invocation envelope: "+cause.Error(), quarantine.Position{Event: -1, Record: -1}, body, in.now())
	in.log.Warn("input quarantined", zap.String("reason", string(it.Reason)), zap.String("detail", it.Detail),
		zap.Int("bytes", len(body)), zap.String("quarantine_id", it.ID))
	if in.keeper == nil {
		return errors.New("quarantine invocation: no quarantine store configured")
	}
	if err := in.keeper.Keep(ctx, it); err != nil {
		return fmt.Errorf("quarantine invocation: %w", err)
	}
	return nil
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
