// Package hubreplay reads the events of an Event Hub time range for on-call
// replay ("replay events by hand ... from an Event Hub time range").
//
// The model: for each partition (all of them, or the ones asked for), read
// the partition's properties, open a partition receiver that starts at the
// first event enqueued at or after From, and read until the first event
// enqueued after To, or until the partition's last enqueued sequence number
// as it was when the read began (so a busy hub cannot keep the replay going
// for ever). The result is ordered by partition, then sequence number, and
// holds each event's body and position (partition, sequence number, offset,
// enqueued time). The whole replay is capped at MaxEvents (default 10000);
// past the cap Read returns what it read and an error wrapping ErrCapped.
//
// Replay never disturbs the Function App: it reads with plain partition
// receivers, never with a checkpoint store, so it reads no checkpoints and
// writes none, and it sets no owner level (epoch), so it cannot steal a
// partition from the Functions host's receivers. Each consumer group allows
// at most five concurrent readers per partition, though, and the Function
// App uses one: on-call should replay through a dedicated consumer group
// (e.g. "replay"), not "$Default".
package hubreplay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/spresponder/spresponder/internal/invocation"
)

// DefaultMaxEvents caps a replay when Config.MaxEvents is zero.
const DefaultMaxEvents = 10000

// DefaultReceiveTimeout bounds each receive call when
// Config.ReceiveTimeout is zero.
const DefaultReceiveTimeout = 5 * time.Second

// idleLimit is how many receive calls in a row may return nothing before
// a partition that should still hold events is reported as stuck.
const idleLimit = 3

// maxBatch is the most events asked for in one receive call.
const maxBatch = 500

// ErrCapped says the time range holds more events than Config.MaxEvents;
// Read returns the first MaxEvents events along with it.
var ErrCapped = errors.New("replay capped")

// Config says which hub to read and which events of it.
type Config struct {
	// Namespace is the fully qualified namespace, e.g.
	// "ns.servicebus.windows.net"; used with Credential.
	Namespace  string
	Credential azcore.TokenCredential
	// ConnectionString is the alternative to Namespace + Credential (the
	// emulator or a fake: "Endpoint=sb://127.0.0.1:PORT;
	// SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true").
	// It never appears in errors.
	ConnectionString string
	Hub              string
	// ConsumerGroup defaults to "$Default"; on-call should use a dedicated
	// one (see the package documentation).
	ConsumerGroup string
	// From and To bound the enqueued times, both inclusive.
	From, To time.Time
	// MaxEvents caps the replay; 0 means DefaultMaxEvents.
	MaxEvents int
	// MaxBytes caps the bytes of the event bodies read (0: no cap beyond
	// MaxEvents). Past it Read returns the events read so far (the one
	// that crossed the cap included) and an error wrapping ErrCapped.
	MaxBytes int64
	// Partitions limits the read to these partition ids; empty means all.
	Partitions []string
	// ReceiveTimeout bounds each receive call; 0 means
	// DefaultReceiveTimeout.
	ReceiveTimeout time.Duration
	// Retry overrides the client's retry policy (zero: 3 retries, 500 ms
	// doubling to at most 5 s, so a dead endpoint fails in about 5 s).
	Retry azeventhubs.RetryOptions
}

// where names the hub for errors: namespace and hub, never the secret.
func (c Config) where() string {
	ns := c.Namespace
	if c.ConnectionString != "" {
		if p, err := azeventhubs.ParseConnectionString(c.ConnectionString); err == nil {
			ns = p.FullyQualifiedNamespace
		} else {
			ns = "(connection string)"
		}
	}
	return fmt.Sprintf("event hub %s/%s", ns, c.Hub)
}

// EndpointProblems says what is wrong with how a hub is named: a
// namespace (with a credential) or a connection string, exactly one, and
// the hub. It never quotes the connection string. `replay --hub`, the use
// reader and `consume` name their hub the same way.
func EndpointProblems(namespace, connectionString string, credential bool, hub string) []string {
	var problems []string
	switch {
	case connectionString != "" && namespace != "":
		problems = append(problems, "give Namespace or ConnectionString, not both")
	case connectionString == "" && namespace == "":
		problems = append(problems, "give Namespace (with Credential) or ConnectionString")
	case namespace != "" && !credential:
		problems = append(problems, "Namespace needs a Credential")
	}
	if connectionString != "" {
		if _, err := azeventhubs.ParseConnectionString(connectionString); err != nil {
			// the parser's message may quote the string: say only that it is bad
			problems = append(problems, "ConnectionString is not a valid Event Hubs connection string")
		}
	}
	if hub == "" {
		problems = append(problems, "Hub is empty")
	}
	return problems
}

func (c Config) validate() error {
	problems := EndpointProblems(c.Namespace, c.ConnectionString, c.Credential != nil, c.Hub)
	if c.From.IsZero() || c.To.IsZero() {
		problems = append(problems, "From and To are both required")
	} else if c.To.Before(c.From) {
		problems = append(problems, fmt.Sprintf("To (%s) is before From (%s)", c.To.Format(time.RFC3339), c.From.Format(time.RFC3339)))
	}
	if c.MaxEvents < 0 {
		problems = append(problems, fmt.Sprintf("MaxEvents %d is negative", c.MaxEvents))
	}
	if c.MaxBytes < 0 {
		problems = append(problems, fmt.Sprintf("MaxBytes %d is negative", c.MaxBytes))
	}
	if len(problems) > 0 {
		return fmt.Errorf("hubreplay config: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Read returns the events of cfg's time range, ordered by partition then
// sequence number, each with its position (Pos.Index is its index in the
// returned slice). When the range holds more than MaxEvents events it
// returns the first MaxEvents and an error wrapping ErrCapped; any other
// error comes with the events read before it.
func Read(ctx context.Context, cfg Config) ([]invocation.Event, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.ConsumerGroup == "" {
		cfg.ConsumerGroup = azeventhubs.DefaultConsumerGroup
	}
	if cfg.MaxEvents == 0 {
		cfg.MaxEvents = DefaultMaxEvents
	}
	if cfg.ReceiveTimeout <= 0 {
		cfg.ReceiveTimeout = DefaultReceiveTimeout
	}
	if cfg.Retry == (azeventhubs.RetryOptions{}) {
		cfg.Retry = azeventhubs.RetryOptions{MaxRetries: 3, RetryDelay: 500 * time.Millisecond, MaxRetryDelay: 5 * time.Second}
	}
	where := cfg.where()

	opts := &azeventhubs.ConsumerClientOptions{ApplicationID: "spresponder-replay", RetryOptions: cfg.Retry}
	var client *azeventhubs.ConsumerClient
	var err error
	if cfg.ConnectionString != "" {
		client, err = azeventhubs.NewConsumerClientFromConnectionString(cfg.ConnectionString, cfg.Hub, cfg.ConsumerGroup, opts)
	} else {
		client, err = azeventhubs.NewConsumerClient(cfg.Namespace, cfg.Hub, cfg.ConsumerGroup, cfg.Credential, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("hubreplay: %s: new consumer client: %w", where, err)
	}
	defer closeWithin(ctx, client.Close)

	props, err := client.GetEventHubProperties(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("hubreplay: %s: read hub properties: %w", where, err)
	}
	pids, err := choosePartitions(props.PartitionIDs, cfg.Partitions)
	if err != nil {
		return nil, fmt.Errorf("hubreplay: %s: %w", where, err)
	}

	// Read one past the cap, to tell "exactly MaxEvents" from "more".
	budget := cfg.MaxEvents + 1
	var events []invocation.Event
	var bytesRead int64
	for _, pid := range pids {
		got, err := readPartition(ctx, client, cfg, pid, budget-len(events), cfg.MaxBytes-bytesRead)
		for _, e := range got {
			e.Pos.Index = len(events)
			events = append(events, e)
			bytesRead += int64(len(e.Body))
		}
		if err != nil {
			return trim(events, cfg.MaxEvents), fmt.Errorf("hubreplay: %s: partition %s: %w", where, pid, err)
		}
		if cfg.MaxBytes > 0 && bytesRead >= cfg.MaxBytes {
			return trim(events, cfg.MaxEvents), fmt.Errorf("hubreplay: %s: %w at %d bytes (%d events): the range %s..%s holds more; narrow it or raise the cap",
				where, ErrCapped, bytesRead, len(events), cfg.From.UTC().Format(time.RFC3339), cfg.To.UTC().Format(time.RFC3339))
		}
		if len(events) == budget {
			break
		}
	}
	if len(events) > cfg.MaxEvents {
		return events[:cfg.MaxEvents], fmt.Errorf("hubreplay: %s: %w at %d events: the range %s..%s holds more; narrow it or raise the cap",
			where, ErrCapped, cfg.MaxEvents, cfg.From.UTC().Format(time.RFC3339), cfg.To.UTC().Format(time.RFC3339))
	}
	return events, nil
}

func trim(events []invocation.Event, n int) []invocation.Event {
	if len(events) > n {
		return events[:n]
	}
	return events
}

// choosePartitions returns the asked-for partitions in the order given, or
// all of them in the hub's order.
func choosePartitions(all, want []string) ([]string, error) {
	if len(want) == 0 {
		return all, nil
	}
	var unknown []string
	for _, p := range want {
		if !slices.Contains(all, p) {
			unknown = append(unknown, p)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("no partition %s (the hub has %s)", strings.Join(unknown, ", "), strings.Join(all, ", "))
	}
	return want, nil
}

// readPartition reads at most limit events of one partition in the range,
// and stops after the event that brings the bodies read to maxBytes
// (maxBytes is ignored unless cfg.MaxBytes is set).
func readPartition(ctx context.Context, client *azeventhubs.ConsumerClient, cfg Config, pid string, limit int, maxBytes int64) ([]invocation.Event, error) {
	pp, err := client.GetPartitionProperties(ctx, pid, nil)
	if err != nil {
		return nil, fmt.Errorf("read partition properties: %w", err)
	}
	if pp.IsEmpty || pp.LastEnqueuedOn.Before(cfg.From) || pp.LastEnqueuedSequenceNumber < pp.BeginningSequenceNumber {
		return nil, nil // nothing enqueued at or after From
	}
	last := pp.LastEnqueuedSequenceNumber

	from := cfg.From
	pc, err := client.NewPartitionClient(pid, &azeventhubs.PartitionClientOptions{
		StartPosition: azeventhubs.StartPosition{EnqueuedTime: &from, Inclusive: true},
		// OwnerLevel stays nil: an epoch receiver would evict the Function
		// App's receivers from the partition.
	})
	if err != nil {
		return nil, fmt.Errorf("open partition receiver: %w", err)
	}
	defer closeWithin(ctx, pc.Close)

	var out []invocation.Event
	seen := int64(-1) // last sequence number read
	idle := 0
	var size int64
	for len(out) < limit {
		// The first call asks for one event, to learn where the range
		// starts; after that the events left up to the last enqueued one
		// are known, so a call returns as soon as they are there instead of
		// waiting out its timeout.
		want := 1
		if seen >= 0 {
			want = int(min(int64(limit-len(out)), last-seen, maxBatch))
		}
		rctx, cancel := context.WithTimeout(ctx, cfg.ReceiveTimeout)
		got, err := pc.ReceiveEvents(rctx, want, nil)
		cancel()
		if err != nil && (ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded)) {
			return out, fmt.Errorf("receive after sequence number %d: %w", seen, err)
		}
		if len(got) == 0 {
			idle++
			if idle >= idleLimit {
				return out, fmt.Errorf("no event in %s after sequence number %d, though the last enqueued is %d",
					time.Duration(idleLimit)*cfg.ReceiveTimeout, seen, last)
			}
			continue
		}
		idle = 0
		for _, r := range got {
			var at time.Time
			if r.EnqueuedTime != nil {
				at = *r.EnqueuedTime
			}
			if at.After(cfg.To) {
				return out, nil
			}
			out = append(out, invocation.Event{
				Body: r.Body,
				Pos: invocation.Position{
					Partition:      pid,
					SequenceNumber: r.SequenceNumber,
					Offset:         r.Offset,
					EnqueuedTime:   at,
				},
			})
			seen = r.SequenceNumber
			size += int64(len(r.Body))
			if seen >= last || len(out) == limit || (cfg.MaxBytes > 0 && size >= maxBytes) {
				return out, nil
			}
		}
	}
	return out, nil
}

// closeWithin closes a client even when ctx is already cancelled, bounded
// by a few seconds.
func closeWithin(ctx context.Context, closeFn func(context.Context) error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = closeFn(cctx)
}
