package app

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/consume"
	"github.com/spresponder/spresponder/internal/ledger"
)

// runConsume is `spresponder consume`: the standalone consumer of the Entra
// event hub (internal/consume) feeding the same pipeline as serve.
func runConsume(ctx context.Context, args []string, env Env) error {
	fs := newFlags("consume", env)
	if err := parseFlags(fs, args, env); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("consume takes no arguments (settings come from the environment)")}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	if err := cfg.CheckConsume(); err != nil {
		return fmt.Errorf("configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	k := cfg.Consume
	log := NewLogger(env.Stdout, cfg.LogLevel)
	defer func() { _ = log.Sync() }()

	cc := consume.Config{
		Hub: k.Hub, ConsumerGroup: k.ConsumerGroup, BatchSize: k.BatchSize, MaxWait: k.MaxWait,
		UpdateInterval: k.UpdateInterval, OwnershipExpiry: k.OwnershipExpiry, StartEarliest: k.StartEarliest,
		SweepInterval: k.SweepInterval, ShutdownTimeout: cfg.ShutdownTimeout,
	}
	cpc := consume.CheckpointConfig{Container: k.CheckpointContainer}
	if isLoopback(k.CheckpointAccount) {
		// Azurite, the storage emulator: its well-known development key.
		cpc.ConnectionString = ledger.AzuriteConnectionString(k.CheckpointAccount)
	} else {
		cpc.AccountURL = k.CheckpointAccount
	}
	if k.ConnectionString != "" {
		cc.ConnectionString = k.ConnectionString
	} else {
		cc.Namespace = k.Namespace
	}
	if cc.Namespace != "" || cpc.AccountURL != "" {
		cred, err := azureCredential(cfg.ManagedIdentity)
		if err != nil {
			return err
		}
		cc.Credential, cpc.Credential = cred, cred
	}
	if cc.Checkpoints, err = consume.NewCheckpoints(ctx, cpc); err != nil {
		return err
	}
	pl, err := newPipeline(ctx, cfg, getenvOf(env), log, env.Now)
	if err != nil {
		return err
	}
	var sweep consume.Sweeper
	if k.SweepInterval > 0 {
		sweep = pl.sweep
	}
	c, err := consume.New(cc, pl.in, pl.sys.responder, sweep, pl.hb, log)
	if err != nil {
		return err
	}
	log.Info("spresponder consuming", zap.String("version", Version), zap.Bool("enforce", cfg.Enforce),
		zap.Bool("kill_switch", cfg.KillSwitch), zap.Strings("tenants", cfg.Tenants), zap.String("ledger", cfg.Ledger),
		zap.String("rules", pl.sys.rules.Source()), zap.Int("breaker_limit", cfg.BreakerLimit),
		zap.String("checkpoints", k.CheckpointContainer))
	return c.Run(ctx)
}
