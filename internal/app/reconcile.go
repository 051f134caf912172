package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/config"
	"github.com/spresponder/spresponder/internal/entra"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/pager"
	"github.com/spresponder/spresponder/internal/reconcile"
)

// reconcileConfig is the reconcile package's configuration from the
// settings.
func reconcileConfig(cfg config.Config) reconcile.Config {
	rc := reconcile.Config{Overlap: cfg.ReconcileOverlap, Lookback: cfg.ReconcileLookback, Pace: cfg.ReconcilePace}
	if cfg.ReconcilePace == 0 {
		rc.Pace = reconcile.NoPace
	}
	if len(cfg.Tenants) > 0 {
		// The configured tenant, never one an item carries: as the
		// stream's signals are checked against it.
		rc.TenantID = strings.ToLower(cfg.Tenants[0])
	}
	return rc
}

// newReconciler wires a reconcile round to the system's Graph client,
// responder and ledger.
func newReconciler(sys *system, log *zap.Logger, now func() time.Time) *reconcile.Reconciler {
	return reconcile.New(reconcileConfig(sys.cfg), sys.graph, sys.responder, ledger.Watermarks{L: sys.ledger, Now: now}, log, now)
}

// silences are the heartbeat limits per category from the settings.
func silences(cfg config.Config) []reconcile.Silence {
	return []reconcile.Silence{
		{Category: string(entra.ServicePrincipalSignInLogs), After: cfg.HeartbeatSignIns},
		{Category: string(entra.ServicePrincipalRiskEvents), After: cfg.HeartbeatRisk},
		{Category: string(entra.RiskyServicePrincipals), After: cfg.HeartbeatRisk},
		{Category: string(entra.AuditLogs), After: cfg.HeartbeatAudit},
	}
}

// newHeartbeat wires the heartbeat to the ledger and the pager channel.
func newHeartbeat(sys *system, log *zap.Logger, now func() time.Time) *reconcile.Heartbeat {
	var p reconcile.Pager
	if sys.pager != nil {
		p = silencePager{p: sys.pager, now: now}
	}
	return reconcile.NewHeartbeat(ledger.Heartbeats{L: sys.ledger, Now: now}, p, silences(sys.cfg), log, now)
}

// silencePager sends heartbeat pages through the pager channel, as a lost
// batch is (lost.go): a page about no incident in particular.
type silencePager struct {
	p   *pager.Notifier
	now func() time.Time
}

func (s silencePager) PageSilence(ctx context.Context, category string, resumed bool, text string) error {
	trigger, sev, what := notify.TriggerStreamSilent, notify.SeverityCritical, "silent"
	if resumed {
		trigger, sev, what = notify.TriggerStreamResumed, notify.SeverityWarning, "resumed"
	}
	now := s.now()
	in := &incident.Incident{ID: fmt.Sprintf("heartbeat-%s-%s", category, what), State: incident.StateNeedsHuman, Created: now, Updated: now,
		History: []incident.Event{{At: now, Step: "heartbeat", What: category + " " + what, Detail: text, Actor: "responder"}}}
	if resumed {
		in.State = incident.StateResolved
	}
	d := &notify.Delivery{Incident: in, Pages: []notify.Page{{Trigger: trigger, Severity: sev, Reason: text}}}
	var errs []error
	for _, t := range s.p.Targets(d) {
		if err := s.p.Send(ctx, d, t); err != nil {
			errs = append(errs, fmt.Errorf("page %s: %w", t.ID, err))
		}
	}
	return errors.Join(errs...)
}
