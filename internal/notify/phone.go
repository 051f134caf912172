package notify

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/incident"
)

// ChannelPhone records the security contact's phone call on an incident.
const ChannelPhone = "phone"

// Phone copies the security contact by a phone webhook (a pager channel
// pointed at SPRESPONDER_SECURITY_PHONE_WEBHOOK) when the rules file's
// reach section says phone: true for the incident's tier. Each call is
// recorded on the incident, so an incident phones once.
type Phone struct {
	ch    Channel
	store Mutator
	now   func() time.Time
	log   *zap.Logger
}

// NewPhone builds the phone around a pager channel.
func NewPhone(ch Channel, store Mutator, log *zap.Logger, now func() time.Time) *Phone {
	return &Phone{ch: ch, store: store, now: now, log: log}
}

// Page implements the playbook's Pager.
func (p *Phone) Page(ctx context.Context, in *incident.Incident, reason string) error {
	d := &Delivery{Incident: in, Pages: []Page{{Trigger: TriggerReach, Severity: SeverityCritical, Reason: reason}}}
	for _, t := range p.ch.Targets(d) {
		if n := in.Notification(ChannelPhone, t.ID); n != nil && n.State == incident.Done {
			continue
		}
		err := p.ch.Send(ctx, d, t)
		state, why := incident.Done, reason
		if err != nil {
			state, why = incident.Failed, err.Error()
			p.log.Error("phone the security contact", zap.String("incident", in.ID), zap.String("target", t.ID), zap.Error(err))
		}
		if _, merr := p.store.Mutate(ctx, in.ID, func(cur *incident.Incident) error {
			cur.Notified = append(cur.Notified, incident.Notification{Channel: ChannelPhone, Target: t.ID, State: state, Reason: why, Attempts: 1, At: p.now()})
			cur.Record(p.now(), "phone", string(state), t.ID+": "+why)
			return nil
		}); merr != nil {
			return merr
		}
	}
	return nil
}
