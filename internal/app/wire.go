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

	"github.com/spresponder/spresponder/internal/act"
	"github.com/spresponder/spresponder/internal/breaker"
	"github.com/spresponder/spresponder/internal/budget"
	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/config"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/email"
	"github.com/spresponder/spresponder/internal/notify/pager"
	"github.com/spresponder/spresponder/internal/notify/teams"
	"github.com/spresponder/spresponder/internal/playbook"
	"github.com/spresponder/spresponder/internal/reach"
	"github.com/spresponder/spresponder/internal/reconcile"
	"github.com/spresponder/spresponder/internal/rules"
	keyuse "github.com/spresponder/spresponder/internal/usage"
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
	// policies is the process's Conditional Access cache: verify reads it,
	// the Sweep refreshes it, detection reads the allowed networks from it
	// and audit records of policy changes invalidate it.
	policies *capolicy.Networks
	// watch holds the keys of recent incidents, whose every sign-in in
	// the stream is attached to them (nil: SPRESPONDER_USAGE_WATCH=0s).
	watch *keyuse.Watch
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
	// shared is the system serve built: an HTTP replay reuses its Graph
	// client and its ledger instead of opening new ones per request.
	shared *system
	// getenv reads the Functions host's settings (the Entra hub's
	// namespace and name) for the use reader; nil: the hub is not read.
	getenv func(string) string
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

// newGraph builds the Graph client the configuration names, with its
// identity protection and Conditional Access budget (this process's share
// of the tenant's limit, SPRESPONDER_RISK_API_RATE).
func newGraph(cfg config.Config) (*graph.Client, error) {
	gc := graph.Config{BaseURL: cfg.GraphURL, ManagedIdentityClientID: cfg.ManagedIdentity,
		Budget: budget.New(budget.Config{Rate: cfg.RiskAPIRate, Burst: cfg.RiskAPIBurst}, nil, nil)}
	if isLoopback(cfg.GraphURL) {
		// Only the simulated tenant listens on loopback; it checks no token.
		gc.Credential = graph.StaticToken("simulated-tenant")
	}
	return graph.New(gc)
}

func build(ctx context.Context, cfg config.Config, log *zap.Logger, now func() time.Time, o buildOptions) (*system, error) {
	rs, err := loadRules(cfg)
	if err != nil {
		return nil, err
	}
	var led ledger.Ledger
	if o.shared != nil && o.ledgerDir == "" {
		led = o.shared.ledger
	} else if led, err = openLedger(ctx, cfg, o.ledgerDir); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	var gr *graph.Client
	if o.shared != nil {
		gr = o.shared.graph
	} else if gr, err = newGraph(cfg); err != nil {
		return nil, err
	}
	store := ledger.Store{L: led}
	var bstore breaker.Store = ledger.BreakerStore{L: led}
	br := breaker.New(bstore, cfg.BreakerLimit, cfg.BreakerWindow, now)

	iss, err := newIssuer(cfg, now)
	if err != nil {
		return nil, err
	}
	n, pg, oncall, err := buildNotifier(cfg, rs, gr, store, iss, log, now)
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
		PlannedChannels: o.plannedChannels, PolicyMaxAge: cfg.CACacheMaxAge,
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
		if o.shared != nil {
			guards = planGuards{Store: store, real: ledger.Store{L: o.shared.ledger}}
		} else if real, err := openLedger(ctx, cfg, ""); err == nil {
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
	if oncall != nil {
		pgr = oncall
	}
	// The reach is read after containment, within 5s of its own: a slow
	// read makes the notice say less, never later by more than that.
	assessor := reach.New(gr, rs.Tiers(), log, now)
	policies := &capolicy.Networks{Configured: rs.AllowedNetworksOf, Now: now}
	if o.shared != nil {
		policies = o.shared.policies
	}
	// The use of the credential likewise, within SPRESPONDER_USAGE_DEADLINE.
	use, err := newUsage(cfg, o.getenv, log, now)
	if err != nil {
		return nil, err
	}
	// The keys of the incidents handled here are watched at once; the
	// Sweep refreshes the rest from the ledger (pipeline).
	var watch *keyuse.Watch
	if cfg.UsageWatch > 0 {
		watch = keyuse.NewWatch(cfg.UsageWatch)
	}
	opts := []playbook.Option{playbook.WithGuards(guards), playbook.WithReach(assessor, 5*time.Second), playbook.WithUse(use, cfg.UsageDeadline),
		playbook.WithPolicyCache(policies)}
	if watch != nil {
		opts = append(opts, playbook.WithWatch(watch))
	}
	switch phone, err := newPhone(cfg, rs, store, log, now); {
	case err != nil:
		return nil, err
	case phone != nil:
		opts = append(opts, playbook.WithPhone(phone))
	}
	r := playbook.New(gr, store, playbook.FromRules(rs), br, notifier, pgr, pcfg, log, now, opts...)
	sys := &system{cfg: cfg, rules: rs, ledger: led, store: store, graph: gr, responder: r, policies: policies, watch: watch}
	sys.pager = pg
	return sys, nil
}

// buildNotifier wires the channels that are configured; nil when none is.
// With action links configured (iss not nil), every Teams target and mail
// recipient gets its own signed links.
func buildNotifier(cfg config.Config, rs *rules.Set, gr *graph.Client, store ledger.Store, iss *act.Issuer, log *zap.Logger, now func() time.Time) (*notify.Notifier, *pager.Notifier, *notify.OnCall, error) {
	var chans []notify.Channel
	if cfg.TeamsWebhook != "" || len(cfg.TeamsAppWebhooks) > 0 {
		var cred azcore.TokenCredential
		if cfg.TeamsTokenAudience != "" {
			c, err := azureCredential(cfg.ManagedIdentity)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("SPRESPONDER_TEAMS_TOKEN_AUDIENCE: %w", err)
			}
			cred = c
		}
		tc, topts := teamsAuth(cfg, cred)
		t, err := teams.New(tc, log, append(topts, teams.WithClock(now))...)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("SPRESPONDER_TEAMS_WEBHOOK: %w", err)
		}
		chans = append(chans, t)
	}
	if cfg.MailFrom != "" {
		e, err := email.New(email.Config{From: cfg.MailFrom}, gr, log)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("SPRESPONDER_MAIL_FROM: %w", err)
		}
		chans = append(chans, e)
	}
	var pg *pager.Notifier
	var oncall *notify.OnCall
	if cfg.PagerWebhook != "" {
		p, err := pager.New(pager.Config{URL: cfg.PagerWebhook}, log, pager.WithClock(now))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("SPRESPONDER_PAGER_WEBHOOK: %w", err)
		}
		chans = append(chans, p)
		pg, oncall = p, notify.NewOnCall(p, store, log, now)
	}
	if len(chans) == 0 {
		return nil, nil, nil, nil
	}
	opts := []notify.Option{notify.WithClock(now)}
	if iss != nil { // a nil *act.Issuer in the interface would not be nil
		opts = append(opts, notify.WithActions(iss))
	}
	n, err := notify.New(notify.Config{Recipients: notify.RecipientConfig{Overrides: rs.NotifyOverrides(), Fallback: cfg.SecurityContacts}},
		gr, chans, log, opts...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("notifications: %w", err)
	}
	return n, pg, oncall, nil
}

// sweeper is the timer function: refresh the Conditional Access cache,
// let the playbook re-drive what is due, reconcile with Graph's lists of
// changes (when on) and check the heartbeats. Each part runs even when
// one before it failed: a ledger hiccup in the re-drive must not stop the
// search for what the stream missed.
type sweeper struct {
	sys       *system
	nets      *capolicy.Networks
	reconcile *reconcile.Reconciler // nil: SPRESPONDER_RECONCILE=false
	heartbeat *reconcile.Heartbeat
	watch     *keyuse.Watch // nil: SPRESPONDER_USAGE_WATCH=0s
	now       func() time.Time
	log       *zap.Logger
}

func (s sweeper) Sweep(ctx context.Context) (string, error) {
	if s.nets != nil {
		// Work that can wait, for a while: when incidents keep the request
		// budget busy longer, this Sweep leaves the cache as it is (verify
		// reads it again once it is older than SPRESPONDER_CA_CACHE_MAX_AGE)
		// and gets on with re-driving them.
		rctx, cancel := context.WithTimeout(graph.Background(ctx), 10*time.Second)
		if err := s.nets.Refresh(rctx, s.sys.graph); err != nil {
			s.log.Warn("allowed networks not refreshed", zap.Error(err))
		}
		cancel()
	}
	var sums []string
	var errs []error
	if s.watch != nil {
		refreshWatch(ctx, s.watch, s.sys.ledger, s.log, s.now)
	}
	sum, err := s.sys.responder.Sweep(ctx, s.sys.store, s.log)
	sums, errs = append(sums, sum), append(errs, err)
	if s.reconcile != nil {
		rep, err := s.reconcile.Round(ctx, s.log)
		sums, errs = append(sums, rep.String()), append(errs, err)
	}
	if s.heartbeat != nil {
		sum, err := s.heartbeat.Check(ctx)
		sums, errs = append(sums, sum), append(errs, err)
	}
	return strings.Join(slices.DeleteFunc(sums, func(s string) bool { return s == "" }), "; "), errors.Join(errs...)
}
