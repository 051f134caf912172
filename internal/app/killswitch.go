package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spresponder/spresponder/internal/ledger"
)

func runKillSwitch(ctx context.Context, args []string, env Env) error {
	args, done, err := groupHelp("killswitch", args, env)
	if done {
		return err
	}
	switch args[0] {
	case "on", "off", "status":
	default:
		return unknownSub("killswitch", args[0])
	}
	fs := newFlags("killswitch "+args[0], env)
	reason := fs.String("reason", "", "why (recorded in the ledger)")
	user, _ := env.Getenv("USER")
	operator := fs.String("operator", user, "who (recorded in the ledger)")
	if err := parseFlags(fs, args[1:], env); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
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
	return unknownSub("killswitch", args[0])
}
