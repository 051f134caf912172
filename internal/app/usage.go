package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/config"
	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/hubreplay"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/pager"
	"github.com/spresponder/spresponder/internal/rules"
	"github.com/spresponder/spresponder/internal/setup"
	keyuse "github.com/spresponder/spresponder/internal/usage"
)

// detectOptions are the detection settings of every intake; watch, when
// not nil, makes sign-ins with the keys of open incidents KeySignIn
// signals (serve only: a replay has no stream to follow).
func detectOptions(cfg config.Config, nets *capolicy.Networks, watch *keyuse.Watch) detect.Options {
	opts := detect.Options{FailedSecretThreshold: cfg.FailedSecretThreshold, FailedSecretCodes: cfg.FailedSecretCodes}
	if nets != nil {
		opts.AllowedNetworks, opts.PolicyChanged = nets.For, nets.Invalidate
	}
	if watch != nil {
		opts.WatchedKey = watch.Key
	}
	return opts
}

// newUsage builds the reader of the use of a leaked credential from the
// configured sources: the Entra hub through SPRESPONDER_USAGE_CONSUMER_GROUP
// (the hub and namespace are the Functions host's settings, read from
// get), and the workspace SPRESPONDER_USAGE_WORKSPACE. With neither it
// still answers, with "use unknown: no source configured".
func newUsage(cfg config.Config, get func(string) string, log *zap.Logger, now func() time.Time) (*keyuse.Gatherer, error) {
	var sources []keyuse.Source
	if cfg.UsageConsumerGroup != "" && get != nil {
		h := &keyuse.Hub{Hub: hubreplay.Config{
			Namespace: get("EntraEventHub__fullyQualifiedNamespace"), Hub: get("ENTRA_EVENTHUB_NAME"),
			ConnectionString: get("SPRESPONDER_HUB_CONNECTION_STRING"), ConsumerGroup: cfg.UsageConsumerGroup,
			MaxBytes: cfg.UsageMaxBytes,
		}}
		if h.Hub.ConnectionString != "" {
			h.Hub.Namespace = ""
		} else if h.Hub.Namespace != "" {
			cred, err := azureCredential(cfg.ManagedIdentity)
			if err != nil {
				return nil, fmt.Errorf("SPRESPONDER_USAGE_CONSUMER_GROUP: %w", err)
			}
			h.Hub.Credential = cred
		}
		sources = append(sources, h)
	}
	if cfg.UsageWorkspace != "" {
		var cred keyuse.StaticToken = "simulated-workspace"
		c, err := func() (keyuse.Querier, error) {
			if isLoopback(cfg.UsageLogAnalyticsURL) {
				// Only the simulated workspace listens on loopback.
				return keyuse.NewLogAnalyticsClient(cfg.UsageLogAnalyticsURL, cred)
			}
			mi, err := azureCredential(cfg.ManagedIdentity)
			if err != nil {
				return nil, err
			}
			return keyuse.NewLogAnalyticsClient(cfg.UsageLogAnalyticsURL, mi)
		}()
		if err != nil {
			return nil, fmt.Errorf("SPRESPONDER_USAGE_WORKSPACE: %w", err)
		}
		sources = append(sources, &keyuse.LogAnalytics{Client: c, Workspace: cfg.UsageWorkspace})
	}
	return keyuse.New(log, now, sources...), nil
}

func refreshWatch(ctx context.Context, w *keyuse.Watch, led ledger.Incidents, log *zap.Logger, now func() time.Time) {
	if w == nil {
		return
	}
	list := func(ctx context.Context, since time.Time) ([]*incident.Incident, error) {
		return led.List(ctx, ledger.Filter{Since: since})
	}
	if err := w.Refresh(ctx, list, now()); err != nil {
		log.Warn("watched keys not refreshed (the Sweep retries)", zap.Error(err))
		return
	}
	log.Debug("watched keys refreshed", zap.Int("keys", w.Len()))
}

// getenvOf reads a setting of env, empty when unset.
func getenvOf(env Env) func(string) string {
	return func(k string) string { v, _ := env.Getenv(k); return v }
}

// newPhone is the security contact's phone webhook, for the reach
// sections that say phone: true; a rules file that asks for it without
// the setting is refused at start, not found out during an incident.
func newPhone(cfg config.Config, rs *rules.Set, store notify.Mutator, log *zap.Logger, now func() time.Time) (*notify.Phone, error) {
	if cfg.PhoneWebhook == "" {
		if rs.ReachPhone() {
			return nil, fmt.Errorf("rules file %s: a reach section says phone: true, but SPRESPONDER_SECURITY_PHONE_WEBHOOK is not set", rs.Source())
		}
		return nil, nil
	}
	p, err := pager.New(pager.Config{URL: cfg.PhoneWebhook}, log, pager.WithClock(now))
	if err != nil {
		return nil, fmt.Errorf("SPRESPONDER_SECURITY_PHONE_WEBHOOK: %w", err)
	}
	return notify.NewPhone(p, store, log, now), nil
}

// replayWatch is a replay's set of watched keys, read from the configured
// ledger before the replay: sign-ins with the keys of open incidents in a
// replayed file are attached to them as serve would (with --execute; a
// plan runs on a scratch ledger, where no incident holds them). nil for
// --detect-only, or when the ledger cannot be read (said in the log).
func replayWatch(ctx context.Context, cfg config.Config, log *zap.Logger, now func() time.Time, detectOnly bool) *keyuse.Watch {
	if detectOnly || cfg.UsageWatch <= 0 {
		return nil
	}
	led, err := openLedger(ctx, cfg, "")
	if err != nil {
		log.Warn("sign-ins with the keys of open incidents are not attached: the ledger cannot be read", zap.Error(err))
		return nil
	}
	w := keyuse.NewWatch(cfg.UsageWatch)
	refreshWatch(ctx, w, led, log, now)
	return w
}

// useProbes are `spresponder check`'s probes of the use's sources: the
// workspace runs the use's own query for a key that cannot exist over the
// last minute (it reads nothing, and answers 403 without the role); the
// hub is reported as configured (reading it is replay --hub's job).
func useProbes(cfg config.Config, log *zap.Logger, now func() time.Time) func(context.Context) []setup.UseProbe {
	return func(ctx context.Context) []setup.UseProbe {
		hub := setup.UseProbe{Source: "event hub", Setting: "SPRESPONDER_USAGE_CONSUMER_GROUP", Configured: cfg.UsageConsumerGroup != ""}
		if hub.Configured {
			hub.Read = "consumer group " + cfg.UsageConsumerGroup + " (read when an incident is; not probed here)"
		}
		la := setup.UseProbe{Source: "Log Analytics", Setting: "SPRESPONDER_USAGE_WORKSPACE", Configured: cfg.UsageWorkspace != ""}
		if la.Configured {
			g, err := newUsage(config.Config{UsageWorkspace: cfg.UsageWorkspace, UsageLogAnalyticsURL: cfg.UsageLogAnalyticsURL, ManagedIdentity: cfg.ManagedIdentity}, nil, log, now)
			la.Source = "Log Analytics workspace " + cfg.UsageWorkspace
			if err != nil {
				la.Err = err
			} else {
				const none = "00000000-0000-4000-8000-000000000000"
				t := now()
				u := g.Gather(ctx, keyuse.Query{ServicePrincipalID: none, KeyIDs: []string{none}, Since: t.Add(-time.Minute), Until: t})
				switch {
				case len(u.Unknown) > 0 && strings.Contains(u.Unknown[0], "permission "):
					la.Err, la.Permission = errors.New(u.Unknown[0]), keyuse.LogAnalyticsPermission
				case len(u.Unknown) > 0:
					la.Err = errors.New(u.Unknown[0])
				default:
					la.Read = strings.Join(u.Sources, "; ")
				}
			}
		}
		return []setup.UseProbe{hub, la}
	}
}
