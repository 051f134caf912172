package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/breaker"
	"github.com/spresponder/spresponder/internal/config"
	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/email"
	"github.com/spresponder/spresponder/internal/notify/pager"
	"github.com/spresponder/spresponder/internal/notify/teams"
	"github.com/spresponder/spresponder/internal/playbook"
	"github.com/spresponder/spresponder/internal/rules"
)

// system is everything the response pipeline needs, built from config.
type system struct {
	cfg       config.Config
	rules     *rules.Set
	ledger    ledger.Ledger
	store     ledger.Store
	graph     *graph.Client
	responder *playbook.Responder
	pager     *pager.Notifier // nil when no pager is configured
}

// buildOptions vary the system for the CLI.
type buildOptions struct {
	operator string
	// enforce overrides SPRESPONDER_MODE (replay --execute, dry-run plans).
	enforce *bool
	// ledgerDir replaces the configured ledger with a scratch file store:
	// a dry-run replay plans without touching the real ledger.
	ledgerDir string
	// plannedChannels names the configured channels a plan leaves out.
	plannedChannels string
}

// planGuards reads the shared switches and decisions from the real ledger
// while a plan keeps everything it writes in its scratch ledger.
type planGuards struct {
	ledger.Store
	real ledger.Store
}

func (p planGuards) KillSwitch(ctx context.Context) (bool, string, error) {
	return p.real.KillSwitch(ctx)
}

func (p planGuards) Decision(ctx context.Context, spID, keyID string) (string, string, string, bool, error) {
	return p.real.Decision(ctx, spID, keyID)
}

func loadRules(cfg config.Config) (*rules.Set, error) {
	if cfg.RulesFile == "" {
		return rules.Default(), nil
	}
	s, err := rules.Load(cfg.RulesFile)
	if err != nil {
		return nil, fmt.Errorf("SPRESPONDER_RULES: %w", err)
	}
	return s, nil
}

func openLedger(ctx context.Context, cfg config.Config, dir string) (ledger.Ledger, error) {
	if dir != "" {
		return ledger.NewFileStore(dir)
	}
	switch cfg.Ledger {
	case "blob":
		if isLoopback(cfg.LedgerAccountURL) {
			// Azurite, the storage emulator: its well-known development key.
			return ledger.NewBlobStore(ctx, ledger.BlobConfig{ConnectionString: ledger.AzuriteConnectionString(cfg.LedgerAccountURL), Container: cfg.LedgerContainer})
		}
		cred, err := azureCredential(cfg.ManagedIdentity)
		if err != nil {
			return nil, err
		}
		return ledger.NewBlobStore(ctx, ledger.BlobConfig{AccountURL: cfg.LedgerAccountURL, Container: cfg.LedgerContainer, Credential: cred})
	default:
		return ledger.NewFileStore(filepath.Join(cfg.StateDir, "ledger"))
	}
}

func isLoopback(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Hostname() == "127.0.0.1"
}

func build(ctx context.Context, cfg config.Config, log *zap.Logger, now func() time.Time, o buildOptions) (*system, error) {
	rs, err := loadRules(cfg)
	if err != nil {
		return nil, err
	}
	led, err := openLedger(ctx, cfg, o.ledgerDir)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	gc := graph.Config{BaseURL: cfg.GraphURL, ManagedIdentityClientID: cfg.ManagedIdentity}
	if isLoopback(cfg.GraphURL) {
		// Only the simulated tenant listens on loopback; it checks no token.
		gc.Credential = graph.StaticToken("simulated-tenant")
	}
	gr, err := graph.New(gc)
	if err != nil {
		return nil, err
	}
	store := ledger.Store{L: led}
	var bstore breaker.Store = ledger.BreakerStore{L: led}
	br := breaker.New(bstore, cfg.BreakerLimit, cfg.BreakerWindow, now)

	n, pg, err := buildNotifier(cfg, rs, gr, store, log, now)
	if err != nil {
		return nil, err
	}
	enforce := cfg.Enforce
	if o.enforce != nil {
		enforce = *o.enforce
	}
	host, _ := os.Hostname()
	pcfg := playbook.Config{
		Enforce: enforce, KillSwitch: cfg.KillSwitch, Owner: fmt.Sprintf("%s/%d", host, os.Getpid()),
		StageDeadline: cfg.StageDeadline, Operator: o.operator, NotifyDeadline: cfg.NotifyDeadline,
		PlannedChannels: o.plannedChannels,
	}
	if len(cfg.Tenants) > 0 {
		// The breaker counts against the configured tenant, never a tenant
		// id an event carries.
		pcfg.TenantID = strings.ToLower(cfg.Tenants[0])
	}
	var guards playbook.Guards = store
	if o.ledgerDir != "" {
		// A plan runs on a scratch ledger, but the kill switch and people's
		// decisions are read from the real one, so the plan says what the
		// service would do.
		if real, err := openLedger(ctx, cfg, ""); err == nil {
			guards = planGuards{Store: store, real: ledger.Store{L: real}}
		} else {
			log.Warn("the plan cannot read the shared ledger: it does not show the shared kill switch or people's decisions", zap.Error(err))
		}
	}
	var notifier playbook.Notifier
	if n != nil {
		notifier = n
	}
	var pgr playbook.Pager
	if pg != nil {
		pgr = pg
	}
	r := playbook.New(gr, store, rulePlans{rs}, br, notifier, pgr, pcfg, log, now, playbook.WithGuards(guards))
	sys := &system{cfg: cfg, rules: rs, ledger: led, store: store, graph: gr, responder: r}
	if pg != nil {
		sys.pager = pg.ch
	}
	return sys, nil
}

// buildNotifier wires the channels that are configured; nil when none is.
func buildNotifier(cfg config.Config, rs *rules.Set, gr *graph.Client, store ledger.Store, log *zap.Logger, now func() time.Time) (*notify.Notifier, *pageAdapter, error) {
	var chans []notify.Channel
	if cfg.TeamsWebhook != "" || len(cfg.TeamsAppWebhooks) > 0 {
		var cred azcore.TokenCredential
		if cfg.TeamsTokenAudience != "" {
			c, err := azureCredential(cfg.ManagedIdentity)
			if err != nil {
				return nil, nil, fmt.Errorf("SPRESPONDER_TEAMS_TOKEN_AUDIENCE: %w", err)
			}
			cred = c
		}
		tc, topts := teamsAuth(cfg, cred)
		t, err := teams.New(tc, log, append(topts, teams.WithClock(now))...)
		if err != nil {
			return nil, nil, fmt.Errorf("SPRESPONDER_TEAMS_WEBHOOK: %w", err)
		}
		chans = append(chans, t)
	}
	if cfg.MailFrom != "" {
		e, err := email.New(email.Config{From: cfg.MailFrom}, gr, log)
		if err != nil {
			return nil, nil, fmt.Errorf("SPRESPONDER_MAIL_FROM: %w", err)
		}
		chans = append(chans, e)
	}
	var pa *pageAdapter
	if cfg.PagerWebhook != "" {
		p, err := pager.New(pager.Config{URL: cfg.PagerWebhook}, log, pager.WithClock(now))
		if err != nil {
			return nil, nil, fmt.Errorf("SPRESPONDER_PAGER_WEBHOOK: %w", err)
		}
		chans = append(chans, p)
		pa = &pageAdapter{ch: p, store: store, now: now, log: log}
	}
	if len(chans) == 0 {
		return nil, nil, nil
	}
	n, err := notify.New(notify.Config{Recipients: notify.RecipientConfig{Overrides: rs.NotifyOverrides(), Fallback: cfg.SecurityContacts}},
		gr, chans, log, notify.WithClock(now))
	if err != nil {
		return nil, nil, fmt.Errorf("notifications: %w", err)
	}
	return n, pa, nil
}

// rulePlans adapts the rules file to the playbook.
type rulePlans struct{ *rules.Set }

func (r rulePlans) Plan(s detect.Signal) (playbook.Plan, bool) {
	rule, ok := r.Match(s)
	if !ok {
		return playbook.Plan{}, false
	}
	return playbook.Plan{
		Rule: rule.Name, RemoveCredential: rule.Has(rules.RemoveCredential), RequireAtRisk: rule.RequireAtRisk,
		ConfirmCompromised: rule.Has(rules.ConfirmCompromised), Disable: rule.Has(rules.DisableServicePrincipal),
		CheckPolicy: rule.Has(rules.CheckPolicy), Notify: rule.Has(rules.Notify), DryRun: rule.DryRun,
		UnlicensedFallback: r.App(s.AppID).UnlicensedFallback,
	}, true
}

// pageAdapter pages on-call for the playbook when an incident ends needing
// a human, outside the owner notification (which may have been skipped).
// Each page is recorded on the incident, so a trigger pages once.
type pageAdapter struct {
	ch    *pager.Notifier
	store ledger.Store
	now   func() time.Time
	log   *zap.Logger
}

func (p *pageAdapter) Page(ctx context.Context, in *incident.Incident, reason string) error {
	pages := notify.Pages(in, nil)
	// The playbook pages for a reason of its own (an escalation, a forged
	// detection) even when the incident's state shows other triggers that
	// may have paged already: that reason gets its own page.
	if in.State == incident.StateNeedsHuman || !slices.ContainsFunc(pages, func(p notify.Page) bool { return strings.Contains(reason, p.Reason) }) {
		if !slices.ContainsFunc(pages, func(p notify.Page) bool { return p.Trigger == notify.TriggerNeedsHuman }) {
			pages = append(pages, notify.Page{Trigger: notify.TriggerNeedsHuman, Severity: notify.SeverityWarning, Reason: reason})
		}
	}
	d := &notify.Delivery{Incident: in, Pages: pages}
	for _, t := range p.ch.Targets(d) {
		if n := in.Notification(notify.ChannelPage, t.ID); n != nil && n.State == incident.Done {
			continue
		}
		err := p.ch.Send(ctx, d, t)
		state, why := incident.Done, reason
		if err != nil {
			state, why = incident.Failed, err.Error()
			p.log.Error("page on-call", zap.String("incident", in.ID), zap.String("target", t.ID), zap.Error(err))
		}
		_, merr := p.store.Mutate(ctx, in.ID, func(cur *incident.Incident) error {
			cur.Notified = append(cur.Notified, incident.Notification{Channel: notify.ChannelPage, Target: t.ID, State: state, Reason: why, Attempts: 1, At: p.now()})
			cur.Record(p.now(), "page", string(state), t.ID+": "+why)
			return nil
		})
		if merr != nil {
			return merr
		}
	}
	return nil
}

// sweeper re-drives incidents for the timer function: parked ones that are
// due, and open ones whose run was abandoned (lease expired).
type sweeper struct {
	sys  *system
	nets *networks
	now  func() time.Time
	log  *zap.Logger
}

func (s sweeper) Sweep(ctx context.Context) (string, error) {
	now := s.now()
	if s.nets != nil {
		if err := s.nets.refresh(ctx, s.sys.graph); err != nil {
			s.log.Warn("allowed networks not refreshed", zap.Error(err))
		}
	}
	due, err := s.sys.ledger.List(ctx, ledger.Filter{States: []incident.State{incident.StateParked}, DueBefore: now})
	if err != nil {
		return "", fmt.Errorf("list parked incidents: %w", err)
	}
	open, err := s.sys.ledger.List(ctx, ledger.Filter{States: []incident.State{incident.StateOpen}})
	if err != nil {
		return "", fmt.Errorf("list open incidents: %w", err)
	}
	var run []string
	for _, in := range due {
		run = append(run, in.ID)
	}
	for _, in := range open {
		// An open incident nobody holds, or whose holder's lease ran out,
		// was left by a process that died (or a claim whose answer was
		// lost): pick it up. Age is judged by Created: duplicates and proof
		// bump Updated and would hide it.
		if ledger.IsControl(in.ID) {
			continue
		}
		if in.Owner == "" && now.Sub(in.Created) > s.sys.cfg.StageDeadline || in.Owner != "" && now.After(in.LeaseUntil) {
			run = append(run, in.ID)
		}
	}
	states := map[incident.State]int{}
	for _, id := range run {
		in, err := s.sys.responder.Run(ctx, id, s.log)
		if errors.Is(err, playbook.ErrInProgress) {
			states["in progress elsewhere"]++
			continue
		}
		if err != nil {
			s.log.Error("re-drive", zap.String("incident", id), zap.Error(err))
			states["failed"]++
			continue
		}
		states[in.State]++
	}
	return fmt.Sprintf("re-drove %d incident(s): %d done, %d parked, %d need a human, %d in progress elsewhere, %d failed to run",
		len(run), states[incident.StateDone], states[incident.StateParked], states[incident.StateNeedsHuman], states["in progress elsewhere"], states["failed"]), nil
}
