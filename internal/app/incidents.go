package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spresponder/spresponder/internal/config"
	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/playbook"
)

func incidentFromConfiguredLedger(ctx context.Context, cfg config.Config, id string) (*incident.Incident, error) {
	led, err := openLedger(ctx, cfg, "")
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	in, err := led.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("incident %s: %w", id, err)
	}
	return in, nil
}

func runIncidents(ctx context.Context, args []string, env Env) error {
	args, done, err := groupHelp("incidents", args, env)
	if done {
		return err
	}
	switch args[0] {
	case "list", "show", "redrive", "resolve":
	default:
		return unknownSub("incidents", args[0])
	}
	fs := newFlags("incidents "+args[0], env)
	format := fs.String("format", "table", "table or json")
	states := fs.String("state", "", "comma-separated states: open, parked, held, needsHuman, done, resolved")
	app := fs.String("app", "", "appId")
	since := fs.Duration("since", 0, "only incidents created within this long (e.g. 24h)")
	note := fs.String("note", "", "the decision, for resolve")
	user, _ := env.Getenv("USER")
	operator := fs.String("operator", user, "who decides (recorded in the audit trail)")
	// Flags may follow the incident id: parse what comes after it too.
	rest := args[1:]
	var id string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		id, rest = rest[0], rest[1:]
	}
	if err := parseFlags(fs, rest, env); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	led, err := openLedger(ctx, cfg, "")
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	switch args[0] {
	case "list":
		f := ledger.Filter{AppID: *app}
		if *since > 0 {
			f.Since = env.Now().Add(-*since)
		}
		for _, s := range strings.Split(*states, ",") {
			if s = strings.TrimSpace(s); s != "" {
				f.States = append(f.States, incident.State(s))
			}
		}
		ins, err := led.List(ctx, f)
		if err != nil {
			return err
		}
		ks, err := ledger.KillSwitch{L: led}.State(ctx)
		if err != nil {
			return err
		}
		if *format == "json" {
			enc := json.NewEncoder(env.Stdout)
			for _, in := range ins {
				if err := enc.Encode(in); err != nil {
					return err
				}
			}
			return nil
		}
		writeKillSwitch(env.Stdout, ks)
		writeList(env.Stdout, ins)
		return nil
	case "show":
		if id == "" {
			return usageError{errors.New("show needs an incident id")}
		}
		in, err := led.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("incident %s: %w", id, err)
		}
		if *format == "json" {
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(in)
		}
		writeIncident(env.Stdout, in, false)
		return nil
	case "resolve":
		if id == "" || strings.TrimSpace(*note) == "" {
			return usageError{errors.New(`resolve needs an incident id and --note "why"`)}
		}
		// The decision holds for the incident's (service principal, key)
		// pairs too: a variant of the same signal does not reopen it.
		if err := playbook.Resolve(ctx, ledger.Store{L: led}, id, *operator, *note, env.Now()); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s resolved by %s: %s\n", id, *operator, *note)
		return nil
	case "redrive":
		if id == "" {
			return usageError{errors.New("redrive needs an incident id")}
		}
		log := NewLogger(env.Stderr, cfg.LogLevel)
		sys, err := build(ctx, cfg, log, env.Now, buildOptions{operator: "redrive by " + *operator})
		if err != nil {
			return err
		}
		_, err = ledger.Mutate(ctx, sys.ledger, id, func(cur *incident.Incident) error {
			return playbook.PrepareRedrive(cur, cfg.Enforce, *operator, env.Now())
		})
		if err != nil {
			return err
		}
		in, err := sys.responder.Run(ctx, id, log)
		if errors.Is(err, playbook.ErrInProgress) {
			return fmt.Errorf("incident %s is being worked on right now; it will be picked up: %w", id, err)
		}
		if err != nil {
			return err
		}
		writeIncident(env.Stdout, in, false)
		return nil
	default:
		return unknownSub("incidents", args[0])
	}
}

func writeList(w io.Writer, ins []*incident.Incident) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tMODE\tAPP\tKIND\tKEYS\tVERDICT\tCREATED")
	for _, in := range ins {
		kind := ""
		if len(in.Signals) > 0 {
			kind = string(in.Signals[0].Kind)
		}
		verdict := "-"
		if in.Verdict != nil {
			verdict = in.Verdict.Outcome
		}
		name := in.App.DisplayName
		if name == "" {
			name = in.Key.AppID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, in.State, orDash(in.Mode), name, kind,
			orDash(strings.Join(in.Key.KeyIDs, ",")), verdict, in.Created.UTC().Format("2006-01-02 15:04:05Z"))
	}
	_ = tw.Flush() // output to a terminal or pipe: nothing to do on failure
	fmt.Fprintf(w, "%d incident(s)\n", len(ins))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeIncident prints an incident's whole story for a person.
func writeIncident(w io.Writer, in *incident.Incident, plan bool) {
	name := in.App.DisplayName
	if name == "" {
		name = "(unknown app)"
	}
	fmt.Fprintf(w, "incident %s  state %s  mode %s\n", in.ID, in.State, incident.ModeLabel(in.Mode))
	fmt.Fprintf(w, "  app      %s  appId %s  service principal %s\n", name, orDash(in.App.AppID), orDash(in.App.ServicePrincipalID))
	for _, s := range in.Signals {
		if s.Source.Via == detect.ViaReconcile {
			fmt.Fprintf(w, "  signal   %s %s %s (detection %s) from reconcile (Graph's list of changes)\n", s.Kind, s.RiskEventType, s.RiskLevel, orDash(s.DetectionID))
			continue
		}
		fmt.Fprintf(w, "  signal   %s %s %s (detection %s) from %s seq %d event %d record %d\n", s.Kind, s.RiskEventType, s.RiskLevel,
			orDash(s.DetectionID), orDash(s.Source.Partition), s.Source.SequenceNumber, s.Source.Event, s.Source.Record)
	}
	if f := in.Found; f != nil && f.Later != "" {
		fmt.Fprintf(w, "  found    first by the %s; the %s %s later\n", f.First, f.Later, f.Lag().Round(time.Second))
	} else if f != nil && f.First == "reconcile" {
		fmt.Fprintf(w, "  found    by reconcile: the stream has not delivered it\n")
	}
	v := in.Verification
	verified := "NOT verified"
	if v.Verified {
		verified = "verified (" + v.Method + ")"
	}
	fmt.Fprintf(w, "  verify   %s: %s\n", verified, v.Detail)
	if v.Limited != "" {
		fmt.Fprintf(w, "           limited: %s\n", v.Limited)
	}
	for _, c := range in.Credentials {
		where := "not found (already removed or expired)"
		if c.Found {
			where = "on the " + c.Location
		}
		fmt.Fprintf(w, "  key      %s %s %s %s\n", c.Type, c.KeyID, where, credDetail(c))
	}
	for _, a := range in.Actions {
		verb := string(a.State)
		if a.DryRun {
			verb = "PLANNED, not done"
		}
		fmt.Fprintf(w, "  contain  %s %s on %s: %s\n", a.Kind, a.KeyID, a.Target, verb)
		if a.Reason != "" {
			fmt.Fprintf(w, "           %s\n", a.Reason)
		}
		if a.Before != "" || a.After != "" {
			fmt.Fprintf(w, "           before: %s; after: %s\n", orDash(a.Before), orDash(a.After))
		}
	}
	if len(in.Actions) == 0 {
		fmt.Fprintf(w, "  contain  %s\n", stepLine(in, incident.StepContain))
	}
	if in.Verdict != nil {
		fmt.Fprintf(w, "  confirm  Conditional Access: %s: %s\n", in.Verdict.Outcome, in.Verdict.Summary)
		for _, p := range in.Verdict.Policies {
			fmt.Fprintf(w, "           policy %q (%s, %s): %s\n", p.DisplayName, p.State, p.Kind, strings.Join(p.Reasons, "; "))
		}
		for _, p := range in.Verdict.Proof {
			fmt.Fprintf(w, "           proof: sign-in %s from %s refused (error %d)\n", p.ID, p.IPAddress, p.ErrorCode)
		}
	} else {
		fmt.Fprintf(w, "  confirm  %s\n", stepLine(in, incident.StepConfirm))
	}
	if len(in.Recipients) == 0 && len(in.Notified) == 0 {
		msg := stepLine(in, incident.StepNotify)
		if plan {
			msg = "would notify the owners (plans send nothing)"
		}
		fmt.Fprintf(w, "  notify   %s\n", msg)
	}
	for _, r := range in.Recipients {
		addr := r.Address
		if addr == "" {
			// An owner with no mailbox: named, so a person can find them.
			addr = "UNREACHABLE " + orDash(r.Name)
		} else if r.Name != "" {
			addr = r.Name + " <" + addr + ">"
		}
		fmt.Fprintf(w, "  notify   recipient %s [%s] %s\n", addr, r.Source, r.Reason)
	}
	for _, n := range in.Notified {
		fmt.Fprintf(w, "  notify   %s to %s: %s %s\n", n.Channel, n.Target, n.State, n.Reason)
	}
	if in.Orphaned {
		fmt.Fprintf(w, "  notify   ORPHANED: no owner could be reached; the security contact was told\n")
	}
	if in.NotifyOnly != "" {
		fmt.Fprintf(w, "  withheld %s\n", in.NotifyOnly)
	}
	if in.Reach != nil || in.Step(incident.StepContain).State == incident.Done {
		writeReach(w, in.Reach)
	}
	if in.Use != nil || in.Step(incident.StepContain).State == incident.Done {
		writeUse(w, in.Use)
	}
	fmt.Fprintf(w, "  history\n")
	for _, e := range in.History {
		actor := ""
		if e.Actor != "" && e.Actor != "responder" {
			actor = " (by " + e.Actor + ")"
		}
		fmt.Fprintf(w, "    %s  %-8s %-22s %s%s\n", e.At.UTC().Format("2006-01-02 15:04:05.000 MST"), e.Step, e.What, e.Detail, actor)
	}
}

func stepLine(in *incident.Incident, name incident.StepName) string {
	s := in.Step(name)
	if s.Reason != "" {
		return string(s.State) + ": " + s.Reason
	}
	return string(s.State)
}

func credDetail(c incident.Credential) string {
	var p []string
	if c.DisplayName != "" {
		p = append(p, "name "+c.DisplayName)
	}
	if c.Hint != "" {
		p = append(p, "hint "+c.Hint+"...")
	}
	if c.Thumbprint != "" {
		p = append(p, "thumbprint "+c.Thumbprint)
	}
	if !c.End.IsZero() {
		p = append(p, "expires "+c.End.Format("2006-01-02"))
	}
	if len(p) == 0 {
		return ""
	}
	return "(" + strings.Join(p, ", ") + ")"
}

// writeKillSwitch heads the list with the shared kill switch, so nobody
// reads a quiet list without knowing that the responder is switched off.
func writeKillSwitch(w io.Writer, ks ledger.KillSwitchState) {
	if !ks.On {
		fmt.Fprintln(w, "kill switch: off")
		return
	}
	fmt.Fprintf(w, "kill switch: ON since %s by %s: %s (no instance, replay or redrive writes to the tenant)\n",
		ks.At.UTC().Format("2006-01-02 15:04:05 MST"), orDash(ks.By), orDash(ks.Reason))
}
