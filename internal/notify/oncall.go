package notify

import (
	"context"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/incident"
)

// Mutator records on an incident (the ledger, as the playbook uses it).
type Mutator interface {
	Mutate(ctx context.Context, id string, fn func(*incident.Incident) error) (*incident.Incident, error)
}

// OnCall pages on-call for the playbook when an incident needs a person,
// outside the owner notification (which may have been skipped). Whether
// and why to page is decided once, by Pages; each page is recorded on the
// incident, so a trigger pages once whoever asks again.
type OnCall struct {
	ch    Channel // the pager channel
	store Mutator
	now   func() time.Time
	log   *zap.Logger
}

// NewOnCall builds the on-call pager around the pager channel.
func NewOnCall(ch Channel, store Mutator, log *zap.Logger, now func() time.Time) *OnCall {
	return &OnCall{ch: ch, store: store, now: now, log: log}
}

// Page implements the playbook's Pager.
func (p *OnCall) Page(ctx context.Context, in *incident.Incident, reason string) error {
	pages := Pages(in, nil)
	// The playbook pages for a reason of its own (an escalation, a forged
	// detection) even when the incident's state shows other triggers that
	// may have paged already: that reason gets its own page.
	if in.State == incident.StateNeedsHuman || !slices.ContainsFunc(pages, func(p Page) bool { return strings.Contains(reason, p.Reason) }) {
		if !slices.ContainsFunc(pages, func(p Page) bool { return p.Trigger == TriggerNeedsHuman }) {
			pages = append(pages, Page{Trigger: TriggerNeedsHuman, Severity: SeverityWarning, Reason: reason})
		}
	}
	d := &Delivery{Incident: in, Pages: pages}
	for _, t := range p.ch.Targets(d) {
		if n := in.Notification(ChannelPage, t.ID); n != nil && n.State == incident.Done {
			continue
		}
		err := p.ch.Send(ctx, d, t)
		state, why := incident.Done, reason
		if err != nil {
			state, why = incident.Failed, err.Error()
			p.log.Error("page on-call", zap.String("incident", in.ID), zap.String("target", t.ID), zap.Error(err))
		}
		_, merr := p.store.Mutate(ctx, in.ID, func(cur *incident.Incident) error {
			cur.Notified = append(cur.Notified, incident.Notification{Channel: ChannelPage, Target: t.ID, State: state, Reason: why, Attempts: 1, At: p.now()})
			cur.Record(p.now(), "page", string(state), t.ID+": "+why)
			return nil
		})
		if merr != nil {
			return merr
		}
	}
	return nil
}
