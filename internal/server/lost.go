package server

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/invocation"
)

// FailedBatch is a batch the handler could not make durable.
type FailedBatch struct {
	Partition                   string
	First, Last                 int64 // sequence numbers
	FirstEnqueued, LastEnqueued time.Time
	// HostLast: the host's retry context says it will not retry (or the
	// function has no retry policy).
	HostLast bool
	Err      error
}

// LostBatches is told about every batch that is not durable. It returns
// true when this was the last attempt: the host checkpoints the batch
// anyway, so it has paged on-call with what to replay.
type LostBatches interface {
	Failed(ctx context.Context, b FailedBatch) (last bool)
}

// WithLostBatches sets who hears of batches that are not durable.
func (s *Server) WithLostBatches(l LostBatches) *Server {
	s.lost = l
	return s
}

// failed reports a batch that is not durable and answers non-2xx: on any
// attempt but the last, the host retries; on the last, the host checkpoints
// it whatever the answer, and on-call has been paged with what to replay.
func (s *Server) failed(ctx context.Context, req *invocation.Request, err error, log *zap.Logger) (retry string) {
	if s.lost == nil {
		return "asking the host to retry"
	}
	b := FailedBatch{Partition: req.PartitionID(), HostLast: req.LastAttempt(), Err: err}
	b.First, b.Last = req.SequenceRange()
	for _, e := range req.Events {
		t := e.Pos.EnqueuedTime
		if t.IsZero() {
			continue
		}
		if b.FirstEnqueued.IsZero() || t.Before(b.FirstEnqueued) {
			b.FirstEnqueued = t
		}
		if t.After(b.LastEnqueued) {
			b.LastEnqueued = t
		}
	}
	if s.lost.Failed(ctx, b) {
		return "the host's last attempt: on-call is paged with the range to replay"
	}
	return "asking the host to retry"
}
