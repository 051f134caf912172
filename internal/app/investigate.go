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
// used?" for one incident. The first half is built: the reach recorded
// after containment, or read afresh with --refresh. The second half, use
// of the credential (sign-ins with this key from the hub's retained events
// or Log Analytics through azlogs), is NOT built yet, and the command says
// so rather than print nothing.

// useNotBuilt is printed by investigate until the use of the credential
// is built.
const useNotBuilt = "use of the credential: NOT BUILT YET: sign-ins with this key from the Event Hub's retained events or Log Analytics are not read; look in the app's service-principal sign-in logs (Entra admin center > Enterprise applications > Sign-in logs) for the key id"

func runInvestigate(ctx context.Context, args []string, env Env) error {
	fs := newFlags("investigate", env)
	refresh := fs.Bool("refresh", false, "read the reach from Graph now instead of the one recorded after containment")
	timeout := fs.Duration("timeout", 20*time.Second, "how long the Graph reads may take with --refresh")
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
	if *format == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Incident string          `json:"incident"`
			Reach    *incident.Reach `json:"reach"`
			Source   string          `json:"source"`
			Use      string          `json:"use"`
		}{in.ID, r, source, useNotBuilt})
	}
	fmt.Fprintf(env.Stdout, "incident %s  app %s  service principal %s\n", in.ID, orDash(in.App.DisplayName), orDash(in.App.ServicePrincipalID))
	fmt.Fprintf(env.Stdout, "  reach    %s\n", source)
	writeReach(env.Stdout, r)
	fmt.Fprintf(env.Stdout, "  %s\n", useNotBuilt)
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
