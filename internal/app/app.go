// Package app wires the responder together and runs its subcommands. main
// stays thin: it turns signals into context cancellation and calls Main, so
// tests run the whole program in-process.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/config"
	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/hubreplay"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/intake"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/playbook"
	"github.com/spresponder/spresponder/internal/quarantine"
	"github.com/spresponder/spresponder/internal/replay"
	"github.com/spresponder/spresponder/internal/rules"
	"github.com/spresponder/spresponder/internal/server"
	keyuse "github.com/spresponder/spresponder/internal/usage"
)

// Env is the process environment the app reads.
type Env struct {
	Getenv  config.Getenv
	Environ config.Environ
	Stdout  io.Writer
	Stderr  io.Writer
	Now     func() time.Time
}

// OSEnv is the real environment.
func OSEnv() Env {
	get, environ := config.FromOS()
	return Env{Getenv: get, Environ: environ, Stdout: os.Stdout, Stderr: os.Stderr, Now: time.Now}
}

const usage = `spresponder: incident responder for Microsoft Entra workload identities

Usage:
  spresponder serve [--port N]                 run as the Azure Functions custom handler
  spresponder consume                          consume the Entra event hub itself (Container Apps, AKS, a VM): the
                                               Processor's partition balancing across instances, the same pipeline
  spresponder replay --file F [flags]          run events from a file through the responder (a plan, by default)
  spresponder replay --hub --from T [--to T]   run a time range of the Event Hub through the responder (a plan, by default)
  spresponder replay --incident ID [flags]     run a stored incident's signals again (a plan, by default)
  spresponder incidents list|show|redrive|resolve   inspect and act on the incident ledger
  spresponder killswitch on|off|status [--reason R]  the kill switch every instance, replay and redrive obeys
  spresponder investigate ID [--refresh]       what the incident's leaked credential could do (its reach, tiered);
                                               and its use (sign-ins with the key since the leak)
  spresponder setup --identity ID [--apply] [--enable]   grant the managed identity the Graph permissions the rules need and
                                               create the Conditional Access block policy (a plan, by default)
  spresponder check [--format json]            preflight: credential, permissions, licence, block policy, diagnostic
                                               setting, channels, ledger; exit 1 when something the rules need is missing
  spresponder selftest [--timeout D]           send a synthetic event through the hub and wait for the service to record it
  spresponder rules                            print the built-in rules file
  spresponder version                          print the version

Run 'spresponder <command> --help' (or 'spresponder help <command>') for a command's flags and examples.
Settings come from the environment (see README.md).
`

// Version is set at build time with -ldflags "-X ...app.Version=...".
var Version = "dev"

// Main runs one subcommand and returns the process exit code: 0, 1 when
// the command failed, 2 for a usage error.
func Main(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	if isHelp(args[0]) {
		if len(args) > 1 {
			// "help replay" is "replay --help".
			return Main(ctx, append(slices.Clone(args[1:]), "--help"), env)
		}
		fmt.Fprint(env.Stdout, usage)
		return 0
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], env)
	case "consume":
		err = runConsume(ctx, args[1:], env)
	case "replay":
		err = runReplay(ctx, args[1:], env)
	case "incidents":
		err = runIncidents(ctx, args[1:], env)
	case "killswitch":
		err = runKillSwitch(ctx, args[1:], env)
	case "investigate":
		err = runInvestigate(ctx, args[1:], env)
	case "setup":
		err = runSetup(ctx, args[1:], env)
	case "check":
		err = runCheck(ctx, args[1:], env)
	case "selftest":
		err = runSelfTest(ctx, args[1:], env)
	case "rules", "version":
		fs := newFlags(args[0], env)
		if err = parseFlags(fs, args[1:], env); err != nil {
			err = usageError{err}
		} else if fs.NArg() > 0 {
			err = usageError{fmt.Errorf("%s takes no arguments", args[0])}
		} else if args[0] == "rules" {
			_, err = env.Stdout.Write(rules.DefaultYAML())
		} else {
			fmt.Fprintln(env.Stdout, "spresponder", Version)
		}
	default:
		fmt.Fprintf(env.Stderr, "spresponder: unknown command %q (run 'spresponder --help' for the list)\n", args[0])
		return 2
	}
	return exitCode(args[0], err, env)
}

type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// NewLogger builds the JSON logger. The Functions host records the
// handler's stderr as errors, so the service logs to stdout; the CLI logs
// to stderr to keep stdout for its output.
func NewLogger(w io.Writer, level string) *zap.Logger {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		lvl = zapcore.InfoLevel
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "time"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	// Locked: incidents run concurrently and all log to the one writer
	// (an os.File in production, a buffer in tests).
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core)
}

func loadConfig(env Env) (config.Config, error) {
	cfg, err := config.Load(env.Getenv, env.Environ)
	if err != nil {
		return cfg, fmt.Errorf("configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	return cfg, nil
}

func newIntake(cfg config.Config, keeper quarantine.Keeper, nets *capolicy.Networks, log *zap.Logger, now func() time.Time) *intake.Intake {
	return newWatchingIntake(cfg, keeper, nets, nil, log, now)
}

func newWatchingIntake(cfg config.Config, keeper quarantine.Keeper, nets *capolicy.Networks, watch *keyuse.Watch, log *zap.Logger, now func() time.Time) *intake.Intake {
	return intake.New(intake.Config{AllowedTenants: cfg.Tenants, MaxEventBytes: cfg.MaxEventBytes, Detect: detectOptions(cfg, nets, watch)}, keeper, log, now)
}

func serve(ctx context.Context, args []string, env Env) error {
	fs := newFlags("serve", env)
	port := fs.Int("port", 0, "loopback port (default: $FUNCTIONS_CUSTOMHANDLER_PORT)")
	if err := parseFlags(fs, args, env); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	if *port != 0 {
		cfg.Port = *port
	}
	log := NewLogger(env.Stdout, cfg.LogLevel)
	defer func() { _ = log.Sync() }()
	// Listen first: the host waits for the port, and everything slow can
	// happen after it answers.
	ln, err := server.Listen(cfg.Port)
	if err != nil {
		return err
	}
	pl, err := newPipeline(ctx, cfg, getenvOf(env), log, env.Now)
	if err != nil {
		return err
	}
	sys, nets, in, hb, sw := pl.sys, pl.nets, pl.in, pl.hb, pl.sweep
	// The host starts the handler in the app root, beside host.json.
	lim, how, err := server.LimitsFor("host.json", cfg.MaxInvocationBytes, cfg.MaxBytesInFlight)
	if err != nil {
		return fmt.Errorf("invocation limits: %w", err)
	}
	log.Info("invocation limits", zap.Int64("max_invocation_bytes", lim.MaxBodyBytes), zap.Int64("max_bytes_in_flight", lim.MaxBytesInFlight), zap.String("from", how))
	// The preflight check, in the background: one summary log line.
	startupCheck(ctx, cfg, sys.rules, log)
	actor, err := newActFunction(cfg, sys, log, env.Now)
	if err != nil {
		return err
	}
	srv := server.New(in, sys.responder, sw, log).
		WithLimits(lim).
		WithArrivals(hb).
		WithReplayer(httpReplayer{cfg: cfg, nets: nets, log: log, now: env.Now, keeper: sys.ledger, sys: sys}).
		WithActor(actor).
		WithLostBatches(lostBatches{attempts: ledger.Attempts{L: sys.ledger, Now: env.Now}, pager: sys.pager, max: cfg.BatchAttempts, log: log, now: env.Now})
	log.Info("spresponder serving", zap.String("addr", ln.Addr().String()), zap.String("version", Version),
		zap.Bool("enforce", cfg.Enforce), zap.Bool("kill_switch", cfg.KillSwitch), zap.Strings("tenants", cfg.Tenants),
		zap.String("ledger", cfg.Ledger), zap.String("rules", sys.rules.Source()), zap.Int("breaker_limit", cfg.BreakerLimit))
	return srv.Serve(ctx, ln, cfg.ShutdownTimeout)
}

func runReplay(ctx context.Context, args []string, env Env) error {
	fs := newFlags("replay", env)
	var files filesFlag
	fs.Var(&files, "file", "file to replay, in any form on-call has (repeat for several): event bodies or bare records (one per line, a JSON array, or one; PT1H.json blobs), Log Analytics / Sentinel exports (JSON rows or CSV), or a captured invocation")
	tenant := fs.String("tenant", "", "directory tenant id of a Log Analytics export (its TenantId column is the workspace); default: the one configured tenant")
	table := fs.String("table", "", "Log Analytics table of exported rows that have no Type column (e.g. AADServicePrincipalSignInLogs)")
	maxListed := fs.Int("max-listed", 50, "list at most this many skipped records per reason (quarantined ones are always all listed); 0 lists all")
	incidentID := fs.String("incident", "", "replay the signals of a stored incident instead of a file")
	format := fs.String("format", "table", "table (for people) or json (one signal per line, for scripts)")
	execute := fs.Bool("execute", false, "make the writes (as SPRESPONDER_MODE=enforce would); without it replay only shows the plan")
	dryRun := fs.Bool("dry-run", true, "show the plan without changing anything (the default; --execute turns it off)")
	detectOnly := fs.Bool("detect-only", false, "stop after detection: print the signals, call nothing")
	operator := fs.String("operator", "", "who is replaying (recorded in the audit trail); default $USER")
	hub := fs.Bool("hub", false, "read the events from the Event Hub, in the time range --from/--to, instead of a file")
	from := fs.String("from", "", "with --hub: start of the enqueued-time range, RFC 3339 or a duration ago (2h)")
	to := fs.String("to", "", "with --hub: end of the range, RFC 3339 or a duration ago (default now)")
	hubNS := fs.String("hub-namespace", "", "with --hub: fully qualified namespace (default $EntraEventHub__fullyQualifiedNamespace)")
	hubName := fs.String("hub-name", "", "with --hub: event hub name (default $ENTRA_EVENTHUB_NAME)")
	group := fs.String("consumer-group", "$Default", "with --hub: consumer group to read with; use one for on-call, not the Function App's")
	maxEvents := fs.Int("max-events", hubreplay.DefaultMaxEvents, "with --hub: read at most this many events (replay is capped)")
	fromGraph := fs.Bool("graph", false, "read what Graph lists as changed (risk detections and risky service principals) since --since, as the Sweep's reconcile does; the watermark is not moved")
	since := fs.String("since", "24h", "with --graph: how far back, a duration (24h, 90m)")
	held := fs.Bool("held", false, "re-run the signals of the ledger's held incidents (a plan; to carry one out, incidents redrive)")
	parked := fs.Bool("parked", false, "re-run the signals of the ledger's parked incidents (a plan by default, --execute to act now)")
	if err := parseFlags(fs, args, env); err != nil {
		return usageError{err}
	}
	sources := 0
	files = append(files, fs.Args()...)
	for _, set := range []bool{len(files) > 0, *incidentID != "", *hub, *fromGraph, *held, *parked} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return usageError{errors.New("give one of --file, --hub (with --from), --graph (with --since), --held, --parked or --incident")}
	}
	sinceD, err := time.ParseDuration(*since)
	if err != nil || sinceD <= 0 {
		return usageError{fmt.Errorf("--since %q: want a positive duration such as 24h", *since)}
	}
	if *held && *execute {
		return usageError{errHeldNeedsRedrive}
	}
	if *hub != (*from != "") {
		return usageError{errors.New("--hub and --from go together: the time range to replay")}
	}
	if *format != "table" && *format != "json" {
		return usageError{fmt.Errorf("--format %q: want table or json", *format)}
	}
	if *execute && *dryRun && isFlagSet(fs, "dry-run") {
		return usageError{errors.New("--execute and --dry-run contradict each other")}
	}
	if *operator == "" {
		*operator, _ = env.Getenv("USER")
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	log := NewLogger(env.Stderr, cfg.LogLevel)
	defer func() { _ = log.Sync() }()

	var sigs []detect.Signal
	var nothingRead error
	if len(files) > 0 {
		sigs, err = replayFiles(ctx, cfg, env, log, files, replay.Options{Tenant: *tenant, Table: *table}, *format, *maxListed, *detectOnly)
		if errors.As(err, new(errNothingRead)) {
			nothingRead = err // still show the plan for what could be read
		} else if err != nil {
			return err
		}
		if *detectOnly || len(sigs) == 0 {
			return nothingRead
		}
	}
	if *hub {
		events, err := readHub(ctx, env, hubArgs{from: *from, to: *to, namespace: *hubNS, name: *hubName, group: *group, max: *maxEvents})
		if errors.Is(err, hubreplay.ErrCapped) {
			fmt.Fprintf(env.Stderr, "warning: %v\n", err)
		} else if err != nil {
			return err
		}
		rs, err := loadRules(cfg)
		if err != nil {
			return err
		}
		keeper := quarantine.Dir{Path: filepath.Join(cfg.StateDir, "quarantine")}
		res, err := newIntake(cfg, keeper, replayNetworks(ctx, cfg, rs, log, *detectOnly), log, env.Now).Process(ctx, events)
		if err != nil {
			return err
		}
		sigs = res.Signals
		if *format == "json" {
			if err := replay.WriteJSON(env.Stdout, res.Signals); err != nil {
				return err
			}
			// The summary goes to stderr so stdout stays one signal per line.
			fmt.Fprintln(env.Stderr, "summary:", res.Stats.Summary())
		} else {
			if err := replay.WriteTable(env.Stdout, res.Signals); err != nil {
				return err
			}
			fmt.Fprintln(env.Stdout, "\nsummary:", res.Stats.Summary())
			if res.Stats.Quarantined > 0 {
				fmt.Fprintf(env.Stdout, "quarantined input kept in %s\n", keeper.Path)
			}
		}
		if *detectOnly || len(sigs) == 0 {
			return nil
		}
	}
	if *fromGraph || *held || *parked {
		switch {
		case *fromGraph:
			sigs, err = graphSignals(ctx, cfg, env, log, sinceD)
		case *held:
			var ids []string
			sigs, ids, err = ledgerSignals(ctx, cfg, incident.StateHeld)
			fmt.Fprintf(env.Stderr, "ledger: %d held incident(s)\n", len(ids))
		default:
			var ids []string
			sigs, ids, err = ledgerSignals(ctx, cfg, incident.StateParked)
			fmt.Fprintf(env.Stderr, "ledger: %d parked incident(s)\n", len(ids))
		}
		if err != nil {
			return err
		}
		if *format == "json" {
			if err := replay.WriteJSON(env.Stdout, sigs); err != nil {
				return err
			}
		} else if err := replay.WriteTable(env.Stdout, sigs); err != nil {
			return err
		}
		if *detectOnly || len(sigs) == 0 {
			fmt.Fprintf(env.Stdout, "\nsummary: %d signal(s); nothing to run\n", len(sigs))
			return nil
		}
	}
	enforce := *execute
	if *incidentID != "" {
		stored, err := incidentFromConfiguredLedger(ctx, cfg, *incidentID)
		if err != nil {
			return err
		}
		sigs = stored.Signals
	}
	out, err := respondTo(ctx, cfg, log, env.Now, sigs, enforce, *operator, nil)
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(env.Stdout)
		for _, in := range out.Incidents {
			if err := enc.Encode(in); err != nil {
				return err
			}
		}
		return nothingRead
	}
	if enforce {
		fmt.Fprintf(env.Stdout, "\nexecuted by %s: %d incident(s), %d already known, %d blocked sign-in(s) attached as proof, %d sign-in(s) with an incident's key attached as its use, %d signal(s) no rule acts on\n",
			*operator, len(out.Claimed), len(out.Duplicates), out.Proof, out.Use, out.Ignored)
	} else {
		fmt.Fprintf(env.Stdout, "\nplan (dry-run: nothing was changed; run again with --execute to act): %d incident(s), %d signal(s) no rule acts on\n",
			len(out.Incidents), out.Ignored)
	}
	for _, in := range out.Incidents {
		fmt.Fprintln(env.Stdout)
		writeIncident(env.Stdout, in, !enforce)
	}
	writeSummary(env.Stdout, len(sigs), out, enforce)
	return nothingRead
}

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// respondTo runs signals through the playbook for a person: as a plan
// (execute false: against a scratch ledger, without notifications, so
// nothing changes anywhere) or for real, recorded with the operator.
// configuredChannels names the notification channels in the config, for a
// plan to say what it would send.
func configuredChannels(cfg config.Config) string {
	var ch []string
	if cfg.TeamsWebhook != "" || len(cfg.TeamsAppWebhooks) > 0 {
		ch = append(ch, "Teams")
	}
	if cfg.MailFrom != "" {
		ch = append(ch, "email from "+cfg.MailFrom)
	}
	if cfg.PagerWebhook != "" {
		ch = append(ch, "the on-call pager")
	}
	return strings.Join(ch, ", ")
}

// respondTo runs signals through a responder built for one replay. shared,
// when not nil, is serve's system: its Graph client and ledger are reused.
func respondTo(ctx context.Context, cfg config.Config, log *zap.Logger, now func() time.Time, sigs []detect.Signal, execute bool, operator string, shared *system) (playbook.Outcome, error) {
	if execute && len(cfg.Tenants) == 0 {
		return playbook.Outcome{}, errors.New("executing a replay needs SPRESPONDER_TENANTS: the responder must know whose credentials it may remove")
	}
	o := buildOptions{operator: "replay by " + operator, enforce: &execute, shared: shared}
	if !execute {
		scratch, err := os.MkdirTemp("", "spresponder-plan-")
		if err != nil {
			return playbook.Outcome{}, err
		}
		defer os.RemoveAll(scratch)
		o.ledgerDir = scratch
		o.plannedChannels = configuredChannels(cfg)
		cfg.TeamsWebhook, cfg.TeamsAppWebhooks, cfg.MailFrom, cfg.PagerWebhook = "", nil, "", ""
	}
	sys, err := build(ctx, cfg, log, now, o)
	if err != nil {
		return playbook.Outcome{}, err
	}
	return sys.responder.Handle(ctx, sigs, log)
}
