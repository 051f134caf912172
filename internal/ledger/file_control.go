package ledger

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Control records in the file store (controls.go):
//
//	<dir>/control/<kind>/<id>.json   the record
//	<dir>/control/<kind>/<id>.lock   its update lock (empty, never removed)
//
// A create is a link(2) that fails when the name exists; a replace holds
// the record's flock while it compares the version (a hash of the bytes)
// and renames the new bytes into place, as for incidents.

var _ Controls = (*FileStore)(nil)

func (s *FileStore) controlPath(kind ControlKind, id string) string {
	return filepath.Join(s.dir, "control", string(kind), id+".json")
}

// GetControl implements Controls.
func (s *FileStore) GetControl(ctx context.Context, kind ControlKind, id string) ([]byte, string, error) {
	if err := checkControl(kind, id); err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", stopped("read", string(kind)+" "+id, err)
	}
	data, err := os.ReadFile(s.controlPath(kind, id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("%w: %s %s", ErrNotFound, kind, id)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%w: file ledger: read %s %s: %w", ErrUnavailable, kind, id, err)
	}
	return data, fileETag(data), nil
}

// PutControl implements Controls.
func (s *FileStore) PutControl(ctx context.Context, kind ControlKind, id string, data []byte, etag string) (string, error) {
	if err := checkControl(kind, id); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", stopped("write", string(kind)+" "+id, err)
	}
	path := s.controlPath(kind, id)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", fmt.Errorf("%w: file ledger: write %s %s: %w", ErrUnavailable, kind, id, err)
	}
	if etag == "" {
		err := createExclusive(path, data)
		switch {
		case errors.Is(err, fs.ErrExist):
			return "", fmt.Errorf("%w: %s %s exists", ErrConflict, kind, id)
		case err != nil:
			return "", fmt.Errorf("%w: file ledger: create %s %s: %w", ErrUnavailable, kind, id, err)
		}
		return fileETag(data), nil
	}
	unlock, err := lockFile(ctx, filepath.Join(filepath.Dir(path), id+".lock"))
	if err != nil {
		if ctx.Err() != nil {
			return "", stopped("wait for the lock of", string(kind)+" "+id, err)
		}
		return "", fmt.Errorf("%w: file ledger: lock %s %s: %w", ErrUnavailable, kind, id, err)
	}
	defer unlock()
	current, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%w: %s %s is gone", ErrConflict, kind, id)
	case err != nil:
		return "", fmt.Errorf("%w: file ledger: read %s %s: %w", ErrUnavailable, kind, id, err)
	case fileETag(current) != etag:
		return "", fmt.Errorf("%w: %s %s changed since it was read", ErrConflict, kind, id)
	}
	if err := replace(path, data); err != nil {
		return "", fmt.Errorf("%w: file ledger: write %s %s: %w", ErrUnavailable, kind, id, err)
	}
	return fileETag(data), nil
}
