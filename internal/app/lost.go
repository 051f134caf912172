package app

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/pager"
	"github.com/spresponder/spresponder/internal/server"
)

// lostBatches decides, for a batch that is not durable, whether the host
// will deliver it again, and when it will not, pages on-call with what to
// replay. The host checkpoints a batch after its last retry whatever the
// answer; its retry count lives in one instance's memory and restarts at 0
// on another, so the responder keeps its own count per (partition, first
// sequence number) in the ledger too, and either count reaching the
// maximum makes it the last attempt.
type lostBatches struct {
	attempts ledger.Attempts
	pager    *pager.Notifier // nil: no pager configured, the error log is all there is
	max      int             // invocations of one batch the host makes (1 + the policy's maxRetryCount)
	log      *zap.Logger
	now      func() time.Time
}

// Failed implements server.LostBatches.
func (l lostBatches) Failed(ctx context.Context, b server.FailedBatch) bool {
	// Counting needs the ledger, which may be what failed: then only the
	// host's count decides.
	n, err := l.attempts.Add(context.WithoutCancel(ctx), b.Partition, b.First)
	if err != nil {
		l.log.Warn("could not count the batch's attempts in the ledger; the host's retry count decides", zap.Error(err))
	}
	last := b.HostLast || (err == nil && n >= l.max)
	if !last {
		return false
	}
	what := fmt.Sprintf("partition %s sequence numbers %d to %d (enqueued %s to %s) were not made durable after the host's last retry (attempt %d of %d seen by the ledger): the host checkpoints them anyway. Replay them: spresponder replay --hub --from %s --to %s (read only, planned; --execute to act). Last error: %v",
		b.Partition, b.First, b.Last, b.FirstEnqueued.UTC().Format(time.RFC3339), b.LastEnqueued.UTC().Format(time.RFC3339), n, l.max,
		b.FirstEnqueued.Add(-time.Minute).UTC().Format(time.RFC3339), b.LastEnqueued.Add(time.Minute).UTC().Format(time.RFC3339), b.Err)
	l.log.Error("batch lost after the last retry: paging on-call", zap.String("partition", b.Partition), zap.Int64("sequence_first", b.First),
		zap.Int64("sequence_last", b.Last), zap.Int("attempts", n), zap.String("replay", what))
	if l.pager == nil {
		l.log.Error("no pager is configured (SPRESPONDER_PAGER_WEBHOOK): nobody is paged for the lost batch")
		return true
	}
	in := &incident.Incident{ID: fmt.Sprintf("batch-%s-%d", b.Partition, b.First), State: incident.StateNeedsHuman, Created: l.now(), Updated: l.now(),
		History: []incident.Event{{At: l.now(), Step: "batch", What: "lost after the last retry", Detail: what, Actor: "responder"}}}
	d := &notify.Delivery{Incident: in, Pages: []notify.Page{{Trigger: notify.TriggerBatchLost, Severity: notify.SeverityCritical, Reason: what}}}
	for _, t := range l.pager.Targets(d) {
		if err := l.pager.Send(context.WithoutCancel(ctx), d, t); err != nil {
			l.log.Error("page on-call for a lost batch", zap.String("target", t.ID), zap.Error(err))
		}
	}
	return true
}
