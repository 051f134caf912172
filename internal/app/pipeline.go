package app

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/config"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/intake"
	"github.com/spresponder/spresponder/internal/reconcile"
)

// pipeline is what `serve` and `consume` share, so that an event is
// handled the same whichever way it arrived: one system (rules, ledger,
// Graph, playbook), the intake that quarantines bad input in the ledger,
// the heartbeat that hears which categories arrived, and the Sweep. The
// playbook (sys.responder) is the responder of both.
type pipeline struct {
	sys   *system
	nets  *capolicy.Networks
	in    *intake.Intake
	hb    *reconcile.Heartbeat
	sweep sweeper
}

func newPipeline(ctx context.Context, cfg config.Config, getenv func(string) string, log *zap.Logger, now func() time.Time) (*pipeline, error) {
	sys, err := build(ctx, cfg, log, now, buildOptions{getenv: getenv})
	if err != nil {
		return nil, err
	}
	nets := sys.policies
	go func() {
		// In the background: serve has its port answering already, and
		// the Sweep retries. Work that can wait: an event that woke this
		// instance has its reads first.
		if err := nets.Refresh(graph.Background(ctx), sys.graph); err != nil {
			log.Warn("allowed networks from Conditional Access not loaded yet (the timer retries)", zap.Error(err))
		}
	}()
	if sys.watch != nil {
		go refreshWatch(ctx, sys.watch, sys.ledger, log, now)
	}
	hb := newHeartbeat(sys, log, now)
	pl := &pipeline{
		sys:  sys,
		nets: nets,
		// Quarantined input goes to the ledger with everything else.
		in:    newWatchingIntake(cfg, sys.ledger, nets, sys.watch, log, now),
		hb:    hb,
		sweep: sweeper{sys: sys, nets: nets, heartbeat: hb, watch: sys.watch, now: now, log: log},
	}
	switch {
	case cfg.Reconcile && len(cfg.Tenants) > 0:
		pl.sweep.reconcile = newReconciler(sys, log, now)
	case cfg.Reconcile:
		// Graph's items carry no tenant to check; the signals take the
		// configured one, so without it there is nothing to reconcile as.
		log.Warn("reconcile is off: SPRESPONDER_TENANTS is empty, and a reconcile signal takes the configured tenant")
	}
	return pl, nil
}
