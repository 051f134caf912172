package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/spresponder/spresponder/internal/ledger"
)

const killSwitchUsage = `spresponder killswitch: the kill switch kept in the shared ledger

  status                       show it
  on --reason "why" [--operator NAME]    stop every write to the tenant, on every instance, replay and redrive
  off --reason "why" [--operator NAME]   allow writes again (SPRESPONDER_MODE still decides dry-run or enforce)

The app setting SPRESPONDER_KILL_SWITCH stops the writes of the processes
that read it; this switch binds everyone who shares the ledger, including
on-call laptops, without a restart.
`

func runKillSwitch(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, killSwitchUsage)
		return usageError{errors.New("say on, off or status")}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("killswitch "+args[0], flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	reason := fs.String("reason", "", "why (recorded in the ledger)")
	user, _ := env.Getenv("USER")
	operator := fs.String("operator", user, "who (recorded in the ledger)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	led, err := openLedger(ctx, cfg, "")
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	ks := ledger.KillSwitch{L: led, Now: env.Now}
	switch args[0] {
	case "status":
		st, err := ks.State(ctx)
		if err != nil {
			return err
		}
		writeKillSwitch(env.Stdout, st)
		return nil
	case "on", "off":
		if strings.TrimSpace(*reason) == "" {
			return usageError{fmt.Errorf(`killswitch %s needs --reason "why": it goes into the audit trail`, args[0])}
		}
		if strings.TrimSpace(*operator) == "" {
			return usageError{errors.New("killswitch needs --operator NAME (USER is not set)")}
		}
		st, err := ks.Set(ctx, args[0] == "on", *reason, *operator)
		if err != nil {
			return err
		}
		writeKillSwitch(env.Stdout, st)
		return nil
	}
	fmt.Fprint(env.Stderr, killSwitchUsage)
	return usageError{fmt.Errorf("unknown subcommand %q: say on, off or status", args[0])}
}
