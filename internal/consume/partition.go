package consume

import (
	"context"
	"errors"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/intake"
	"github.com/spresponder/spresponder/internal/invocation"
)

// partition reads one owned partition until ctx ends, the partition is
// taken over by another instance, or its link fails (then the client is
// closed and the Processor opens it again at its next update, from the
// last checkpoint, while this instance still owns it).
func (c *Consumer) partition(ctx context.Context, pc *azeventhubs.ProcessorPartitionClient) {
	pid := pc.PartitionID()
	log := c.log.With(zap.String("partition", pid))
	defer closeWithin(ctx, pc.Close)
	log.Info("partition claimed")
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, c.cfg.MaxWait)
		got, err := pc.ReceiveEvents(rctx, c.cfg.BatchSize, nil)
		cancel()
		// Events received before a stop or an error are still handled:
		// they are in hand, and the checkpoint says where the next owner
		// starts.
		if len(got) > 0 && !c.handle(ctx, pc, got, log) {
			return
		}
		switch {
		case err == nil, ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
			continue
		case ctx.Err() != nil:
			return
		}
		var ehErr *azeventhubs.Error
		if errors.As(err, &ehErr) && ehErr.Code == azeventhubs.ErrorCodeOwnershipLost {
			log.Info("partition taken over by another instance")
			return
		}
		log.Warn("receive failed: the partition client is closed and opened again at the next update, from the last checkpoint", zap.Error(err))
		return
	}
}

// handle makes one batch durable, retrying in place until it is (or the
// stop's grace runs out), then checkpoints it. It returns false when the
// batch could not be made durable before the stop: the partition loop then
// ends without a checkpoint, and the next owner reads the batch again.
func (c *Consumer) handle(ctx context.Context, pc *azeventhubs.ProcessorPartitionClient, got []*azeventhubs.ReceivedEventData, log *zap.Logger) bool {
	start := time.Now()
	events := make([]invocation.Event, len(got))
	for i, r := range got {
		var at time.Time
		if r.EnqueuedTime != nil {
			at = *r.EnqueuedTime
		}
		events[i] = invocation.Event{Body: r.Body, Pos: invocation.Position{
			Partition: pc.PartitionID(), SequenceNumber: r.SequenceNumber, Offset: r.Offset, EnqueuedTime: at, Index: i,
		}}
	}
	first, last := got[0].SequenceNumber, got[len(got)-1].SequenceNumber
	log = log.With(zap.Int64("sequence_first", first), zap.Int64("sequence_last", last))

	// The batch in hand is finished even when the stop comes meanwhile,
	// within ShutdownTimeout of it.
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(c.cfg.ShutdownTimeout, cancel)
		context.AfterFunc(hctx, func() { t.Stop() })
	})
	defer stop()

	var res intake.Result
	processed, delay := false, c.cfg.RetryMin
	var lastErr string
	for attempt := 1; ; attempt++ {
		err := error(nil)
		if !processed {
			// Bad input is quarantined here; an error means the
			// quarantine (the ledger) could not keep it.
			if res, err = c.proc.Process(hctx, events); err == nil {
				processed = true
				events = nil
				if c.arrivals != nil {
					c.arrivals.Arrived(hctx, res.Stats.ByCategory)
				}
			}
		}
		if err == nil && len(res.Signals) > 0 {
			_, err = c.resp.Handle(hctx, res.Signals, log)
		}
		if err == nil {
			break
		}
		if hctx.Err() != nil {
			log.Error("batch not durable when stopping: not checkpointed, the next owner of the partition reads it again", zap.Int("attempts", attempt), zap.Error(err))
			return false
		}
		// One line per change of error, and the attempt count with it.
		if msg := err.Error(); msg != lastErr || attempt%10 == 0 {
			log.Error("batch not durable: retrying in place, not checkpointed", zap.Int("attempt", attempt), zap.Duration("retry_in", delay), zap.Error(err))
			lastErr = msg
		}
		select {
		case <-hctx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, c.cfg.RetryMax)
	}
	for _, sig := range res.Signals {
		log.Info("signal", zap.String("kind", string(sig.Kind)), zap.String("tenant_id", sig.TenantID),
			zap.String("app_id", sig.AppID), zap.String("sp_id", sig.ServicePrincipalID),
			zap.Strings("key_ids", sig.KeyIDs), zap.String("detection_id", sig.DetectionID),
			zap.String("risk_level", sig.RiskLevel), zap.Int64("sequence_number", sig.Source.SequenceNumber), zap.Int("record", sig.Source.Record))
	}
	// Durable: only now may the next owner start after this batch. A
	// failed checkpoint write costs a redelivery of this batch at the next
	// takeover, which the ledger's claims turn into duplicates.
	if err := pc.UpdateCheckpoint(hctx, got[len(got)-1], nil); errors.Is(err, ErrCheckpointBehind) {
		log.Info("checkpoint not written: another instance took the partition over and is further on", zap.Error(err))
	} else if err != nil {
		log.Warn("checkpoint not written: the batch may be read again after a takeover (a duplicate in the ledger)", zap.Error(err))
	}
	st := res.Stats
	// The same "batch" line as serve's: infra/'s events-per-minute view and
	// the no-Entra-events alert read it.
	log.Info("batch", zap.Int("events", st.Events), zap.Int("records", st.Records), zap.Int("signals", st.Signals),
		zap.Int("skipped", st.Skipped), zap.Int("quarantined", st.Quarantined), zap.Any("category_counts", st.ByCategory),
		zap.Duration("took", time.Since(start)))
	return true
}
