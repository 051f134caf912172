// Package consume is `spresponder consume`: a standalone consumer of the
// Entra event hub for hosts other than Azure Functions (Container Apps, AKS,
// a VM), built on the azeventhubs Processor with the blob checkpoint store.
//
// The model: the Processor balances the hub's partitions across every
// running instance through ownership blobs (each instance claims its fair
// share, renews it every UpdateInterval, and takes over a partition whose
// owner stopped renewing for OwnershipExpiry). For each partition it owns,
// an instance reads a batch, hands it to the same intake and responder as
// the Functions handler (`serve`), and writes the partition's checkpoint
// only once the batch's signals are durable: claimed in the ledger, or its
// bad input quarantined. A batch that cannot be made durable is retried in
// place, with backoff, and never checkpointed past; if the instance dies
// meanwhile, the next owner starts again from the last checkpoint. So
// delivery is at least once, and the ledger's conditional claims make the
// handling of each signal happen once.
//
// Stopping (SIGTERM, SIGINT): receiving stops, the batch in hand is
// finished and checkpointed (bounded by ShutdownTimeout), then the
// Processor gives its partitions up so another instance claims them at its
// next update rather than after the expiry.
package consume

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/hubreplay"
	"github.com/spresponder/spresponder/internal/intake"
	"github.com/spresponder/spresponder/internal/invocation"
	"github.com/spresponder/spresponder/internal/playbook"
)

// Processor turns events into signals, quarantining bad input (intake +
// detect). An error means something could not be made durable.
type Processor interface {
	Process(ctx context.Context, events []invocation.Event) (intake.Result, error)
}

// Responder takes signals into the response pipeline (the playbook's one
// entry) and returns once they are claimed in the ledger.
type Responder interface {
	Handle(ctx context.Context, sigs []detect.Signal, log *zap.Logger) (playbook.Outcome, error)
}

// Arrivals learns which Entra log categories a batch carried (the
// heartbeat), as serve's server tells it; it never fails the batch.
type Arrivals interface {
	Arrived(ctx context.Context, byCategory map[string]int)
}

// Sweeper is the timer's work: re-drive parked incidents, reconcile, check
// the heartbeats.
type Sweeper interface {
	Sweep(ctx context.Context) (summary string, err error)
}

// Config is one consumer's settings.
type Config struct {
	// Namespace (with Credential) or ConnectionString (the emulator, dev)
	// names the Event Hubs namespace. The connection string never appears
	// in errors or logs.
	Namespace        string
	Credential       azcore.TokenCredential
	ConnectionString string
	Hub              string
	ConsumerGroup    string
	// Checkpoints keeps ownership and checkpoints (the blob store).
	Checkpoints azeventhubs.CheckpointStore
	// BatchSize is the most events handed to the pipeline at once; MaxWait
	// how long a receive waits to fill a batch before handing on what it
	// has (an event is never held longer than that).
	BatchSize int
	MaxWait   time.Duration
	// UpdateInterval and OwnershipExpiry drive the Processor's balancing.
	UpdateInterval  time.Duration
	OwnershipExpiry time.Duration
	// StartEarliest starts a partition with no checkpoint at its earliest
	// retained event; otherwise at its end (new events only).
	StartEarliest bool
	// SweepInterval runs the Sweeper this often; 0 never.
	SweepInterval time.Duration
	// ShutdownTimeout bounds finishing the batch in hand on stop.
	ShutdownTimeout time.Duration
	// Retry bounds the backoff of a batch that is not durable yet.
	RetryMin, RetryMax time.Duration
}

// where names the hub for logs and errors, never the secret.
func (c Config) where() string {
	ns := c.Namespace
	if c.ConnectionString != "" {
		if p, err := azeventhubs.ParseConnectionString(c.ConnectionString); err == nil {
			ns = p.FullyQualifiedNamespace
		} else {
			ns = "(connection string)"
		}
	}
	return fmt.Sprintf("event hub %s/%s, consumer group %s", ns, c.Hub, c.ConsumerGroup)
}

func (c *Config) defaults() error {
	problems := hubreplay.EndpointProblems(c.Namespace, c.ConnectionString, c.Credential != nil, c.Hub)
	if c.Checkpoints == nil {
		problems = append(problems, "no checkpoint store")
	}
	if len(problems) > 0 {
		return fmt.Errorf("consume: %s", strings.Join(problems, "; "))
	}
	if c.ConsumerGroup == "" {
		c.ConsumerGroup = azeventhubs.DefaultConsumerGroup
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.MaxWait <= 0 {
		c.MaxWait = time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = time.Second
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(c.RetryMin, time.Minute)
	}
	return nil
}

// Consumer runs the Processor and one loop per owned partition.
type Consumer struct {
	cfg   Config
	proc  Processor
	resp  Responder
	sweep Sweeper // nil: no timer
	// arrivals hears of each batch's categories (nil: nobody listens).
	arrivals Arrivals
	log      *zap.Logger
}

// New builds a consumer. sweep and arrivals may be nil.
func New(cfg Config, proc Processor, resp Responder, sweep Sweeper, arrivals Arrivals, log *zap.Logger) (*Consumer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Consumer{cfg: cfg, proc: proc, resp: resp, sweep: sweep, arrivals: arrivals, log: log}, nil
}

func (c *Consumer) client() (*azeventhubs.ConsumerClient, error) {
	opts := &azeventhubs.ConsumerClientOptions{ApplicationID: "spresponder"}
	if c.cfg.ConnectionString != "" {
		cl, err := azeventhubs.NewConsumerClientFromConnectionString(c.cfg.ConnectionString, c.cfg.Hub, c.cfg.ConsumerGroup, opts)
		if err != nil {
			return nil, errors.New("consume: open the consumer from the connection string failed (check SPRESPONDER_HUB_CONNECTION_STRING)")
		}
		return cl, nil
	}
	cl, err := azeventhubs.NewConsumerClient(c.cfg.Namespace, c.cfg.Hub, c.cfg.ConsumerGroup, c.cfg.Credential, opts)
	if err != nil {
		return nil, fmt.Errorf("consume: open the consumer of %s: %w", c.cfg.where(), err)
	}
	return cl, nil
}

// Run consumes until ctx is cancelled, then stops cleanly (see the package
// documentation). It returns an error only when consuming could not start
// or the Processor failed.
func (c *Consumer) Run(ctx context.Context) error {
	client, err := c.client()
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = client.Close(cctx)
	}()
	start := azeventhubs.StartPosition{Latest: new(true)}
	if c.cfg.StartEarliest {
		start = azeventhubs.StartPosition{Earliest: new(true)}
	}
	p, err := azeventhubs.NewProcessor(client, c.cfg.Checkpoints, &azeventhubs.ProcessorOptions{
		UpdateInterval:              c.cfg.UpdateInterval,
		PartitionExpirationDuration: c.cfg.OwnershipExpiry,
		StartPositions:              azeventhubs.StartPositions{Default: start},
		// Prefetch: the client keeps about three batches in memory, as the
		// Functions host does with prefetchCount 300 and batches of 100.
		Prefetch: int32(min(3*c.cfg.BatchSize, 3000)),
	})
	if err != nil {
		return fmt.Errorf("consume: processor for %s: %w", c.cfg.where(), err)
	}
	// The Processor outlives ctx: its partitions are given up only after
	// the partition loops have checkpointed the batches in hand.
	procCtx, stopProc := context.WithCancel(context.WithoutCancel(ctx))
	defer stopProc()
	procErr := make(chan error, 1)
	go func() { procErr <- p.Run(procCtx) }()
	c.log.Info("consuming", zap.String("hub", c.cfg.where()), zap.Int("batch_size", c.cfg.BatchSize),
		zap.Duration("max_wait", c.cfg.MaxWait), zap.Duration("update_interval", c.cfg.UpdateInterval),
		zap.Duration("ownership_expiry", c.cfg.OwnershipExpiry), zap.Bool("start_earliest", c.cfg.StartEarliest))

	// runCtx ends the partition loops: on stop, or when the Processor
	// fails (then nothing renews ownership and reading on would race the
	// next owner for nothing).
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	ctx = runCtx
	var wg sync.WaitGroup
	if c.sweep != nil && c.cfg.SweepInterval > 0 {
		wg.Go(func() { c.sweepLoop(ctx) })
	}
	// NextPartitionClient returns nil when ctx ends or the Processor stops.
	clients := make(chan *azeventhubs.ProcessorPartitionClient)
	go func() {
		defer close(clients)
		for {
			pc := p.NextPartitionClient(ctx)
			if pc == nil {
				return
			}
			select {
			case clients <- pc:
			case <-ctx.Done():
				closeWithin(ctx, pc.Close)
				return
			}
		}
	}()
	var runErr error
loop:
	for {
		select {
		case pc, ok := <-clients:
			if !ok {
				break loop
			}
			wg.Go(func() { c.partition(ctx, pc) })
		case err := <-procErr:
			// The Processor stopped on its own: nothing renews ownership
			// any more, so stop the partitions too and say why.
			runErr = fmt.Errorf("consume: processor for %s stopped: %w", c.cfg.where(), err)
			procErr <- nil
			stopRun()
			break loop
		}
	}
	if runErr != nil {
		c.log.Error("processor stopped", zap.Error(runErr))
	} else {
		c.log.Info("stopping: finishing the batches in hand", zap.Duration("grace", c.cfg.ShutdownTimeout))
	}
	wg.Wait()
	stopProc()
	if err := <-procErr; err != nil && runErr == nil {
		runErr = fmt.Errorf("consume: processor for %s: %w", c.cfg.where(), err)
	}
	c.log.Info("stopped")
	return runErr
}

func (c *Consumer) sweepLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// One sweep at a time per instance; the ledger's leases keep
		// instances from re-driving the same incident twice.
		sctx, cancel := context.WithTimeout(ctx, c.cfg.SweepInterval*4)
		sum, err := c.sweep.Sweep(sctx)
		cancel()
		if err != nil {
			c.log.Error("sweep", zap.Error(err))
			continue
		}
		c.log.Info("sweep done", zap.String("summary", sum))
	}
}

// closeWithin closes a client even when ctx is already cancelled, bounded
// by a few seconds.
func closeWithin(ctx context.Context, closeFn func(context.Context) error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = closeFn(cctx)
}
