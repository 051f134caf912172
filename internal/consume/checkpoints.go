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
	return store, nil
}
