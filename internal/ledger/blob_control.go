package ledger

import (
	"context"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
)

// Control records in Blob Storage (controls.go): control/<kind>/<id>.json,
// created with If-None-Match: * and replaced with If-Match: <ETag>, so
// the version is the blob's own ETag.

var _ Controls = (*BlobStore)(nil)

const controlPrefix = "control/"

func controlBlob(kind ControlKind, id string) string {
	return controlPrefix + string(kind) + "/" + id + ".json"
}

// GetControl implements Controls.
func (s *BlobStore) GetControl(ctx context.Context, kind ControlKind, id string) ([]byte, string, error) {
	if err := checkControl(kind, id); err != nil {
		return nil, "", err
	}
	data, etag, err := s.download(ctx, controlBlob(kind, id))
	if err != nil {
		return nil, "", s.classify("read", string(kind)+" "+id, err)
	}
	return data, string(etag), nil
}

// PutControl implements Controls.
func (s *BlobStore) PutControl(ctx context.Context, kind ControlKind, id string, data []byte, etag string) (string, error) {
	if err := checkControl(kind, id); err != nil {
		return "", err
	}
	cond := &blob.ModifiedAccessConditions{IfNoneMatch: new(azcore.ETagAny)}
	if etag != "" {
		cond = &blob.ModifiedAccessConditions{IfMatch: new(azcore.ETag(etag))}
	}
	newETag, err := s.put(ctx, controlBlob(kind, id), data, nil, cond)
	switch {
	case err == nil:
		return string(newETag), nil
	case bloberror.HasCode(err, bloberror.BlobAlreadyExists), isStatus(err, http.StatusPreconditionFailed),
		etag != "" && bloberror.HasCode(err, bloberror.BlobNotFound):
		return "", fmt.Errorf("%w: %s %s changed since it was read", ErrConflict, kind, id)
	default:
		return "", s.classify("write", string(kind)+" "+id, err)
	}
}
