package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/config"
	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/intake"
	"github.com/spresponder/spresponder/internal/quarantine"
	"github.com/spresponder/spresponder/internal/replay"
	"github.com/spresponder/spresponder/internal/rules"
	"github.com/spresponder/spresponder/internal/server"
	keyuse "github.com/spresponder/spresponder/internal/usage"
)

// filesFlag collects --file, which may be given more than once.
type filesFlag []string

func (f *filesFlag) String() string     { return strings.Join(*f, ",") }
func (f *filesFlag) Set(v string) error { *f = append(*f, v); return nil }

// replayFiles reads each file in whatever form it came (replay.Read),
// runs it through intake on its own, and says what it read: the format,
// the records by category, and every record skipped or quarantined with
// the reason. Signals go to stdout (table or JSON); the reports go to
// stdout with the table and to stderr with JSON, so stdout stays one
// signal per line. The error names every file of which nothing could be
// read; the signals of the others are still returned.
func replayFiles(ctx context.Context, cfg config.Config, env Env, log *zap.Logger, files []string, opt replay.Options, format string, maxListed int, detectOnly bool) ([]detect.Signal, error) {
	rs, err := loadRules(cfg)
	if err != nil {
		return nil, err
	}
	if opt.Tenant == "" && len(cfg.Tenants) == 1 {
		opt.Tenant = cfg.Tenants[0] // the directory of a Log Analytics export without AADTenantId
	}
	keeper := quarantine.Dir{Path: filepath.Join(cfg.StateDir, "quarantine")}
	in := newIntakeWith(cfg, keeper, replayNetworks(ctx, cfg, rs, log, detectOnly), replayWatch(ctx, cfg, log, env.Now, detectOnly), log, env.Now, true)
	reports := env.Stdout
	if format == "json" {
		reports = env.Stderr
	}
	var sigs []detect.Signal
	var unread []string
	var total intake.Stats
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		f, err := replay.Read(data, server.EventsBinding, opt)
		var rep replay.Report
		if err != nil {
			rep = replay.FailedReport(name, err)
		} else {
			res, err := in.Process(ctx, f.Events)
			if err != nil {
				return nil, err
			}
			total.Add(res.Stats)
			rep = replay.NewReport(name, f, res)
			if err := replay.WriteReport(reports, rep, maxListed); err != nil {
				return nil, err
			}
			if format == "json" {
				if err := replay.WriteJSON(env.Stdout, res.Signals); err != nil {
					return nil, err
				}
			} else if len(res.Signals) > 0 {
				if err := replay.WriteTable(env.Stdout, res.Signals); err != nil {
					return nil, err
				}
			}
			fmt.Fprintln(reports)
			sigs = append(sigs, res.Signals...)
		}
		if rep.Err() != nil {
			if err := replay.WriteReport(reports, rep, maxListed); err != nil {
				return nil, err
			}
		}
		if rep.Unreadable() {
			unread = append(unread, name)
		}
	}
	fmt.Fprintln(reports, "summary:", total.Summary())
	if total.Quarantined > 0 {
		fmt.Fprintf(reports, "quarantined input kept in %s\n", keeper.Path)
	}
	if len(unread) > 0 {
		return sigs, errNothingRead{files: unread}
	}
	return sigs, nil
}

// errNothingRead is a replay of which some file gave nothing readable.
type errNothingRead struct{ files []string }

func (e errNothingRead) Error() string {
	return fmt.Sprintf("nothing could be read from %s (see the report above: every item was quarantined, or the file is not one replay reads)", strings.Join(e.files, ", "))
}

func newIntakeWith(cfg config.Config, keeper quarantine.Keeper, nets *capolicy.Networks, watch *keyuse.Watch, log *zap.Logger, now func() time.Time, notes bool) *intake.Intake {
	return intake.New(intake.Config{AllowedTenants: cfg.Tenants, MaxEventBytes: cfg.MaxEventBytes, Detect: detectOptions(cfg, nets, watch), Notes: notes}, keeper, log, now)
}

// replayNetworks is the allowed-networks cache of a replay, refreshed from
// Conditional Access as serve does (the location policies' networks decide
// which sign-ins are from elsewhere); --detect-only calls nothing.
func replayNetworks(ctx context.Context, cfg config.Config, rs *rules.Set, log *zap.Logger, detectOnly bool) *capolicy.Networks {
	nets := &capolicy.Networks{Configured: rs.AllowedNetworksOf}
	if detectOnly {
		return nets
	}
	gr, err := newGraph(cfg)
	if err == nil {
		err = nets.Refresh(ctx, gr)
	}
	if err != nil {
		log.Warn("allowed networks from Conditional Access not read", zap.Error(err))
	}
	return nets
}
