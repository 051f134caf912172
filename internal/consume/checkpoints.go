package consume

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2/checkpoints"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// CheckpointConfig names the blob container that keeps partition ownership
// and checkpoints: AccountURL with Credential (managed identity), or
// ConnectionString (Azurite).
type CheckpointConfig struct {
	AccountURL       string
	Credential       azcore.TokenCredential
	ConnectionString string
	Container        string
}

// NewCheckpoints opens (and creates, if missing) the container and returns
// the azeventhubs blob checkpoint store on it.
func NewCheckpoints(ctx context.Context, cfg CheckpointConfig) (azeventhubs.CheckpointStore, error) {
	if cfg.Container == "" {
		return nil, errors.New("checkpoints: no container")
	}
	var (
		client *container.Client
		err    error
	)
	switch {
	case cfg.ConnectionString != "":
		client, err = container.NewClientFromConnectionString(cfg.ConnectionString, cfg.Container, nil)
		if err != nil {
			// The parser's messages do not echo the string; ours must not either.
			return nil, errors.New("checkpoints: invalid storage connection string")
		}
	case cfg.AccountURL != "" && cfg.Credential != nil:
		client, err = container.NewClient(strings.TrimSuffix(cfg.AccountURL, "/")+"/"+cfg.Container, cfg.Credential, nil)
		if err != nil {
			return nil, fmt.Errorf("checkpoints: %w", err)
		}
	default:
		return nil, errors.New("checkpoints: set AccountURL with Credential, or ConnectionString")
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// Look first, as the ledger does: an identity allowed to read and write
	// blobs may not be allowed to create containers (then create it beforehand).
	if _, err := client.GetProperties(cctx, nil); err != nil {
		if !bloberror.HasCode(err, bloberror.ContainerNotFound) {
			return nil, fmt.Errorf("checkpoints: open container %s: %w", cfg.Container, err)
		}
		if _, err := client.Create(cctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			return nil, fmt.Errorf("checkpoints: create container %s: %w", cfg.Container, err)
		}
	}
	store, err := checkpoints.NewBlobStore(client, nil)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	return forwardOnly{store}, nil
}

// ErrCheckpointBehind: the partition's checkpoint is already at or past
// the one being written, by another instance that took the partition over.
var ErrCheckpointBehind = errors.New("checkpoint behind the partition's current one")

// forwardOnly keeps a partition's checkpoint from moving back. An instance
// slow on a batch may lose the partition meanwhile; the new owner reads
// from the old checkpoint and moves it on, and the old owner's write when
// it finishes would put it back (the blob store writes unconditionally),
// so that the next takeover reads everything since again. The read and the
// write are not atomic: two writes within that gap can still step back,
// which costs duplicates (the ledger absorbs them), never a lost signal.
type forwardOnly struct {
	azeventhubs.CheckpointStore
}

func (f forwardOnly) SetCheckpoint(ctx context.Context, cp azeventhubs.Checkpoint, opts *azeventhubs.SetCheckpointOptions) error {
	cur, err := f.ListCheckpoints(ctx, cp.FullyQualifiedNamespace, cp.EventHubName, cp.ConsumerGroup, nil)
	if err != nil {
		return fmt.Errorf("read the current checkpoint: %w", err)
	}
	for _, c := range cur {
		if c.PartitionID == cp.PartitionID && c.SequenceNumber != nil && cp.SequenceNumber != nil && *c.SequenceNumber >= *cp.SequenceNumber {
			return fmt.Errorf("%w (at %d, writing %d)", ErrCheckpointBehind, *c.SequenceNumber, *cp.SequenceNumber)
		}
	}
	return f.CheckpointStore.SetCheckpoint(ctx, cp, opts)
}
