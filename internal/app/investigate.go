package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/reach"
)

// investigate answers "what could the leaked credential do, and was it
// used?" for one incident: the reach recorded after containment and the
// use (sign-ins with the incident's keys since the detection, from the
// hub's retained events and Log Analytics, plus those the stream attached
// since), or both read afresh with --refresh.

func runInvestigate(ctx context.Context, args []string, env Env) error {
	fs := newFlags("investigate", env)
	refresh := fs.Bool("refresh", false, "read the reach from Graph and the use from the hub and Log Analytics now, instead of what was recorded after containment")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long the reads may take with --refresh")
	format := fs.String("format", "table", "table or json")
	rest := args
	var id string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		id, rest = rest[0], rest[1:]
	}
	if err := parseFlags(fs, rest, env); err != nil {
		return usageError{err}
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	if id == "" {
		return usageError{errors.New("investigate needs an incident id (spresponder incidents list shows them)")}
	}
	if *format != "table" && *format != "json" {
		return usageError{fmt.Errorf("--format %q: want table or json", *format)}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	in, err := incidentFromConfiguredLedger(ctx, cfg, id)
	if err != nil {
		return err
	}
	r := in.Reach
	source := "recorded after containment"
	if *refresh || r == nil {
		sp := in.App.ServicePrincipalID
		if sp == "" {
			return fmt.Errorf("incident %s names no service principal: its reach cannot be read", id)
		}
		rs, err := loadRules(cfg)
		if err != nil {
			return err
		}
		gr, err := newGraph(cfg)
		if err != nil {
			return err
		}
		log := NewLogger(env.Stderr, cfg.LogLevel)
		rctx, cancel := context.WithTimeout(ctx, *timeout)
		fresh := reach.New(gr, rs.Tiers(), log, env.Now).Assess(rctx, sp)
		cancel()
		r, source = &fresh, "read from Graph now (not recorded)"
	}
	u := in.Use
	useSource := "recorded after containment"
	if *refresh || u == nil || u.At.IsZero() {
		g, err := newUsage(cfg, getenvOf(env), NewLogger(env.Stderr, cfg.LogLevel), env.Now)
		if err != nil {
			return err
		}
		uctx, cancel := context.WithTimeout(ctx, *timeout)
		fresh := g.Use(uctx, in)
		cancel()
		if u != nil {
			// What the stream attached stays part of the answer.
			fresh.Add(u.SignIns...)
			fresh.StillWorks = u.StillWorks
		}
		u, useSource = &fresh, "read now from the hub and Log Analytics (not recorded)"
	}
	if *format == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Incident  string          `json:"incident"`
			Reach     *incident.Reach `json:"reach"`
			Source    string          `json:"source"`
			Use       *incident.Use   `json:"use"`
			UseSource string          `json:"useSource"`
		}{in.ID, r, source, u, useSource})
	}
	fmt.Fprintf(env.Stdout, "incident %s  app %s  service principal %s\n", in.ID, orDash(in.App.DisplayName), orDash(in.App.ServicePrincipalID))
	fmt.Fprintf(env.Stdout, "  reach    %s\n", source)
	writeReach(env.Stdout, r)
	fmt.Fprintf(env.Stdout, "  use      %s\n", useSource)
	writeUse(env.Stdout, u)
	return nil
}

// writeReach prints every reach item with its tier and why, most severe
// first, then what could not be read.
func writeReach(w io.Writer, r *incident.Reach) {
	if r == nil {
		fmt.Fprintf(w, "  reach    not assessed (assessed after containment for verified incidents; spresponder investigate ID --refresh reads it now)\n")
		return
	}
	fmt.Fprintf(w, "  reach    tier %s: %d item(s), %d Graph request(s)\n", r.Tier, len(r.Items), r.Requests)
	for _, t := range []string{incident.TierCritical, incident.TierHigh, incident.TierNormal} {
		for _, it := range r.Items {
			if it.Tier != t {
				continue
			}
			on := ""
			if it.Resource != "" {
				on = " on " + it.Resource
			}
			fmt.Fprintf(w, "           %-8s %s %s%s: could %s [%s]\n", it.Tier, it.Kind, it.Name, on, it.Could, it.Why)
		}
	}
	for _, u := range r.Unknown {
		fmt.Fprintf(w, "           %s\n", u)
	}
}

// writeUse prints every sign-in with the key kept on the incident, oldest
// first, then where it was read and what could not be.
func writeUse(w io.Writer, u *incident.Use) {
	if u == nil {
		fmt.Fprintf(w, "  use      not read (read after containment for verified incidents; spresponder investigate ID reads it now)\n")
		return
	}
	fmt.Fprintf(w, "  use      %d sign-in(s) with the key since %s: %d succeeded, %d failed\n", u.Total(), u.Since.UTC().Format(time.RFC3339), u.Successes, u.Failures)
	if s := u.StillWorks; s != nil {
		fmt.Fprintf(w, "           STILL WORKS: sign-in %s succeeded after the key's removal, from %s %s\n", s.ID, orDash(s.IPAddress), s.Location)
	}
	for _, s := range u.SignIns {
		after := ""
		if s.AfterRemoval {
			after = " AFTER REMOVAL"
		}
		fmt.Fprintf(w, "           %s %s%s  key %s  from %s (%s)  to %s  conditional access %s  [%s]\n", s.Time.UTC().Format(time.RFC3339), s.Outcome(), after,
			orDash(s.KeyID), orDash(s.IPAddress), orDash(s.Location), orDash(s.Resource), orDash(s.CAStatus), s.Source)
	}
	if n := u.Total() - len(u.SignIns); n > 0 {
		fmt.Fprintf(w, "           (%d more not kept on the incident: the first and the latest %d are)\n", n, incident.MaxUseSignIns)
	}
	for _, s := range u.Sources {
		fmt.Fprintf(w, "           read: %s\n", s)
	}
	for _, s := range u.Unknown {
		fmt.Fprintf(w, "           %s\n", s)
	}
	for _, s := range u.Unreadable {
		fmt.Fprintf(w, "           unreadable: %s\n", s)
	}
}
