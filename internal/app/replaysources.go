package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/config"
	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/hubreplay"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/invocation"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/playbook"
	"github.com/spresponder/spresponder/internal/reconcile"
)

// graphSignals reads what Graph lists as changed since the given time
// ago, as a reconcile round does, without moving the watermark: the
// signals replay --graph plans or executes.
func graphSignals(ctx context.Context, cfg config.Config, env Env, log *zap.Logger, since time.Duration) ([]detect.Signal, error) {
	if len(cfg.Tenants) == 0 {
		return nil, errors.New("replay --graph needs SPRESPONDER_TENANTS: Graph's items carry no tenant, so the signals take the configured one")
	}
	gr, err := newGraph(cfg)
	if err != nil {
		return nil, err
	}
	r := reconcile.New(reconcileConfig(cfg), gr, nil, nil, log, env.Now)
	sigs, reps, err := r.Collect(ctx, env.Now().Add(-since))
	for _, l := range reps {
		fmt.Fprintf(env.Stderr, "graph: %s changed since %s: %d item(s) in %d page(s), %d at risk, %d not at risk, %d refused\n",
			l.List, l.Since.UTC().Format(time.RFC3339), l.Items, l.Pages, l.Signals, l.Inactive, l.Refused)
	}
	return sigs, err
}

// ledgerSignals collects the signals of the configured ledger's incidents
// in a state (held or parked): replay --held / --parked. It returns the
// incidents' ids too, for the summary.
func ledgerSignals(ctx context.Context, cfg config.Config, state incident.State) ([]detect.Signal, []string, error) {
	led, err := openLedger(ctx, cfg, "")
	if err != nil {
		return nil, nil, fmt.Errorf("ledger: %w", err)
	}
	ins, err := led.List(ctx, ledger.Filter{States: []incident.State{state}})
	if err != nil {
		return nil, nil, fmt.Errorf("list %s incidents: %w", state, err)
	}
	var sigs []detect.Signal
	var ids []string
	for _, in := range ins {
		ids = append(ids, in.ID)
		sigs = append(sigs, in.Signals...)
	}
	return sigs, ids, nil
}

// errHeldNeedsRedrive: a held incident waits for a person's review, which
// `incidents redrive` records; re-running its signals would only find it
// held again (playbook.Run leaves held incidents alone).
var errHeldNeedsRedrive = errors.New("--held --execute changes nothing: a held incident waits for a person's review; run `spresponder incidents redrive ID` for each one you have reviewed (replay --held without --execute shows the plan)")

// writeSummary is replay's closing line: what was read, which incidents
// are new or already handled, and the writes to the tenant planned, made
// or refused (withheld by a guard or failed).
func writeSummary(w io.Writer, signals int, out playbook.Outcome, execute bool) {
	var planned, done, refused int
	for _, in := range out.Incidents {
		for _, a := range in.Actions {
			switch {
			case a.DryRun || !execute && a.State != incident.Skipped && a.State != incident.Failed:
				planned++
			case a.State == incident.Done:
				done++
			case a.State == incident.Skipped || a.State == incident.Failed:
				refused++
			}
		}
	}
	fmt.Fprintf(w, "\nsummary: %d signal(s); incidents %d new / %d already handled; writes %d planned / %d done / %d refused\n",
		signals, len(out.Claimed), len(out.Duplicates), planned, done, refused)
}

type hubArgs struct {
	from, to, namespace, name, group string
	max                              int
}

// readHub reads a time range of events from the Entra event hub, with the
// same connection settings the Functions host uses, or with a connection
// string (the emulator) from SPRESPONDER_HUB_CONNECTION_STRING.
func readHub(ctx context.Context, env Env, a hubArgs) ([]invocation.Event, error) {
	now := env.Now()
	parse := func(flagName, v string, def time.Time) (time.Time, error) {
		if v == "" {
			return def, nil
		}
		if d, err := time.ParseDuration(v); err == nil {
			return now.Add(-d), nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return time.Time{}, usageError{fmt.Errorf("--%s %q: want RFC 3339 (2026-11-27T08:00:00Z) or a duration ago (2h)", flagName, v)}
		}
		return t, nil
	}
	from, err := parse("from", a.from, time.Time{})
	if err != nil {
		return nil, err
	}
	to, err := parse("to", a.to, now)
	if err != nil {
		return nil, err
	}
	get := func(k string) string { v, _ := env.Getenv(k); return v }
	cfg := hubreplay.Config{
		Namespace: a.namespace, Hub: a.name, ConsumerGroup: a.group, From: from, To: to, MaxEvents: a.max,
		ConnectionString: get("SPRESPONDER_HUB_CONNECTION_STRING"),
	}
	if cfg.Namespace == "" {
		cfg.Namespace = get("EntraEventHub__fullyQualifiedNamespace")
	}
	if cfg.Hub == "" {
		cfg.Hub = get("ENTRA_EVENTHUB_NAME")
	}
	if cfg.ConnectionString == "" {
		cred, err := azureCredential(get("SPRESPONDER_MANAGED_IDENTITY_CLIENT_ID"))
		if err != nil {
			return nil, err
		}
		cfg.Credential = cred
	}
	return hubreplay.Read(ctx, cfg)
}
