package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/quarantine"
)

// FileStore is the embedded ledger: a directory that several processes may
// share (Unix only: it locks with flock).
//
//	<dir>/incidents/<id>.json   one incident, indented JSON
//	<dir>/locks/<id>.lock       the incident's update lock (empty, never removed)
//	<dir>/quarantine/<id>.json  a kept item's metadata (the layout of quarantine.Dir)
//	<dir>/quarantine/<id>.body  its bytes
//	<dir>/bysp/<sp>/<id>        the service-principal index (index.go)
//	<dir>/control/<kind>/<id>.json  a control record (file_control.go)
//
// Every file is written whole to a temporary file in the same directory,
// fsynced, then moved into place, so a reader or a crash sees an old version
// or a new one, never a mix. Claim answers a duplicate with a plain read and
// otherwise moves the new file in with link(2), which fails when the name
// exists: that is the conditional create, atomic across processes without a
// lock. Update holds the incident's lock (flock(2), released by the kernel if
// the process dies) while it compares the ETag, checks the history and
// renames the new version into place; Mutate runs its whole read-apply-write
// under that lock, so mutators queue instead of retrying. The ETag is a hash
// of the file's bytes, so it needs no clock and no counter.
//
// Every write is fsynced (file and directory), which bounds a single writer
// to roughly the disk's flush rate; concurrent writers share flushes.
type FileStore struct {
	dir string
}

var _ Ledger = (*FileStore)(nil)

// NewFileStore opens (creating if needed) the ledger in dir.
func NewFileStore(dir string) (*FileStore, error) {
	s := &FileStore{dir: dir}
	for _, sub := range []string{s.incidents(), s.locks(), s.quarantine()} {
		if err := os.MkdirAll(sub, 0o750); err != nil {
			return nil, fmt.Errorf("%w: file ledger: create %s: %w", ErrUnavailable, sub, err)
		}
	}
	return s, nil
}

func (s *FileStore) incidents() string  { return filepath.Join(s.dir, "incidents") }
func (s *FileStore) locks() string      { return filepath.Join(s.dir, "locks") }
func (s *FileStore) quarantine() string { return filepath.Join(s.dir, "quarantine") }

func (s *FileStore) incidentPath(id string) string {
	return filepath.Join(s.incidents(), id+".json")
}

// Claim implements Incidents.
func (s *FileStore) Claim(ctx context.Context, in *incident.Incident) (*incident.Incident, bool, error) {
	if err := validID(in.ID); err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, stopped("claim", in.ID, err)
	}
	// Duplicates are common (redelivery, replay, other instances): answer
	// them with a read. The link below still decides a race.
	if stored, err := s.Get(ctx, in.ID); err == nil {
		return stored, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, false, fmt.Errorf("ledger: claim %s: %w", in.ID, err)
	}
	data, err := encodeFile(in)
	if err != nil {
		return nil, false, err
	}
	if sp := indexedSP(in); sp != "" {
		// Written before the incident: a marker without its incident is
		// skipped when read; an incident without its marker would be
		// missed.
		dir := filepath.Join(s.dir, "bysp", sp)
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, false, fmt.Errorf("%w: file ledger: index %s: %w", ErrUnavailable, in.ID, err)
		}
		if err := os.WriteFile(filepath.Join(dir, in.ID), nil, 0o640); err != nil {
			return nil, false, fmt.Errorf("%w: file ledger: index %s: %w", ErrUnavailable, in.ID, err)
		}
	}
	err = createExclusive(s.incidentPath(in.ID), data)
	switch {
	case err == nil:
		in.ETag = fileETag(data)
		return in, true, nil
	case errors.Is(err, fs.ErrExist):
		stored, err := s.Get(ctx, in.ID)
		if err != nil {
			return nil, false, fmt.Errorf("ledger: claim %s: read existing: %w", in.ID, err)
		}
		return stored, false, nil
	default:
		return nil, false, fmt.Errorf("%w: file ledger: claim %s: %w", ErrUnavailable, in.ID, err)
	}
}

// Get implements Incidents.
func (s *FileStore) Get(ctx context.Context, id string) (*incident.Incident, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, stopped("get", id, err)
	}
	data, err := s.read(id)
	if err != nil {
		return nil, err
	}
	return decodeFile(id, data)
}

// Update implements Incidents.
func (s *FileStore) Update(ctx context.Context, in *incident.Incident) error {
	if err := validID(in.ID); err != nil {
		return err
	}
	if in.ETag == "" {
		return fmt.Errorf("ledger: update %s: no ETag: read the incident first", in.ID)
	}
	unlock, err := s.lock(ctx, in.ID)
	if err != nil {
		return err
	}
	defer unlock()
	current, err := s.read(in.ID)
	if err != nil {
		return err
	}
	if fileETag(current) != in.ETag {
		return fmt.Errorf("%w: incident %s", ErrConflict, in.ID)
	}
	return s.writeLocked(in, current)
}

// mutateLocked implements lockedMutator: read, fn, write, all under the
// incident's lock, so that concurrent mutators (in this process or another)
// queue instead of conflicting.
func (s *FileStore) mutateLocked(ctx context.Context, id string, fn func(*incident.Incident) error) (*incident.Incident, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	unlock, err := s.lock(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	current, err := s.read(id)
	if err != nil {
		return nil, err
	}
	in, err := decodeFile(id, current)
	if err != nil {
		return nil, err
	}
	if err := fn(in); err != nil {
		return nil, err
	}
	if in.ID != id {
		return nil, fmt.Errorf("ledger: mutate changed the incident id to %q", in.ID)
	}
	if err := s.writeLocked(in, current); err != nil {
		return nil, err
	}
	return in, nil
}

// lock takes the incident's update lock.
func (s *FileStore) lock(ctx context.Context, id string) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, stopped("lock", id, err)
	}
	unlock, err = lockFile(ctx, filepath.Join(s.locks(), id+".lock"))
	if err != nil {
		if ctx.Err() != nil {
			return nil, stopped("wait for the lock of", id, err)
		}
		return nil, fmt.Errorf("%w: file ledger: lock %s: %w", ErrUnavailable, id, err)
	}
	return unlock, nil
}

// read returns the stored bytes of an incident.
func (s *FileStore) read(id string) ([]byte, error) {
	data, err := os.ReadFile(s.incidentPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: incident %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: file ledger: read %s: %w", ErrUnavailable, id, err)
	}
	return data, nil
}

// writeLocked replaces the stored version current with in, if in's history
// extends current's, and sets in.ETag. The caller holds the lock.
func (s *FileStore) writeLocked(in *incident.Incident, current []byte) error {
	var stored struct {
		History []incident.Event `json:"history"`
	}
	if err := json.Unmarshal(current, &stored); err != nil {
		return fmt.Errorf("ledger: decode stored incident %s: %w", in.ID, err)
	}
	mark, err := markOf(stored.History)
	if err != nil {
		return err
	}
	if err := checkAppend(in.ID, mark, in.History); err != nil {
		return err
	}
	data, err := encodeFile(in)
	if err != nil {
		return err
	}
	if err := replace(s.incidentPath(in.ID), data); err != nil {
		return fmt.Errorf("%w: file ledger: update %s: %w", ErrUnavailable, in.ID, err)
	}
	in.ETag = fileETag(data)
	return nil
}

// List implements Incidents. It reads every incident file: the embedded
// store is for the CLI, the demo and tests, not for millions of incidents.
func (s *FileStore) List(ctx context.Context, f Filter) ([]*incident.Incident, error) {
	if err := ctx.Err(); err != nil {
		return nil, stopped("list", "incidents", err)
	}
	entries, err := os.ReadDir(s.incidents())
	if err != nil {
		return nil, fmt.Errorf("%w: file ledger: list: %w", ErrUnavailable, err)
	}
	var out []*incident.Incident
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || validID(id) != nil || legacyControlID(id) {
			continue // temporary files, the previous version's control records
		}
		in, err := s.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if f.Match(in) {
			out = append(out, in)
		}
	}
	sortIncidents(out)
	return out, nil
}

// Keep implements quarantine.Keeper. The body goes in first, the metadata
// last: an item whose metadata exists is whole. Both are created with link(2),
// so the first item kept under an id stays, and a Keep interrupted between
// the two files is completed by the next Keep of the same item.
func (s *FileStore) Keep(ctx context.Context, it quarantine.Item) error {
	if err := validID(it.ID); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return stopped("keep", it.ID, err)
	}
	metaPath := filepath.Join(s.quarantine(), it.ID+".json")
	if _, err := os.Stat(metaPath); err == nil {
		return nil
	}
	meta, err := json.MarshalIndent(it, "", "  ")
	if err != nil {
		return fmt.Errorf("ledger: encode quarantined item %s: %w", it.ID, err)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{
		{filepath.Join(s.quarantine(), it.ID+".body"), it.Body},
		{metaPath, meta},
	} {
		if err := createExclusive(f.path, f.data); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: file ledger: keep %s: %w", ErrUnavailable, it.ID, err)
		}
	}
	return nil
}

// Quarantined implements Quarantine.
func (s *FileStore) Quarantined(ctx context.Context) ([]quarantine.Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, stopped("list", "quarantine", err)
	}
	entries, err := os.ReadDir(s.quarantine())
	if err != nil {
		return nil, fmt.Errorf("%w: file ledger: list quarantine: %w", ErrUnavailable, err)
	}
	var items []quarantine.Item
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || validID(id) != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.quarantine(), e.Name()))
		if err != nil {
			return nil, fmt.Errorf("%w: file ledger: read quarantined %s: %w", ErrUnavailable, id, err)
		}
		var it quarantine.Item
		if err := json.Unmarshal(b, &it); err != nil {
			return nil, fmt.Errorf("ledger: decode quarantined %s: %w", id, err)
		}
		items = append(items, it)
	}
	sortItems(items)
	return items, nil
}

// QuarantinedBody implements Quarantine.
func (s *FileStore) QuarantinedBody(ctx context.Context, id string) ([]byte, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, stopped("read quarantined body", id, err)
	}
	b, err := os.ReadFile(filepath.Join(s.quarantine(), id+".body"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: quarantined item %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: file ledger: read quarantined body %s: %w", ErrUnavailable, id, err)
	}
	return b, nil
}

// stopped is the error of a call that the context ended before it was
// done: like a timeout talking to Blob Storage, the ledger did not answer.
func stopped(op, what string, err error) error {
	return fmt.Errorf("%w: file ledger: %s %s: %w", ErrUnavailable, op, what, err)
}

func encodeFile(in *incident.Incident) ([]byte, error) {
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("ledger: encode incident %s: %w", in.ID, err)
	}
	return append(b, '\n'), nil
}

func decodeFile(id string, data []byte) (*incident.Incident, error) {
	var in incident.Incident
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("ledger: decode incident %s: %w", id, err)
	}
	if in.ID != id {
		return nil, fmt.Errorf("ledger: incident file %s holds id %q", id, in.ID)
	}
	in.ETag = fileETag(data)
	return &in, nil
}

// fileETag is the content hash of a stored file.
func fileETag(data []byte) string {
	sum := sha256.Sum256(data)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// KeepAll keeps a batch of quarantined items with one sync for the whole
// batch instead of one per file: a batch of junk is kept in one write, not
// hundreds. The layout is Keep's (quarantine.Dir writes the same files).
func (s *FileStore) KeepAll(ctx context.Context, items []quarantine.Item) error {
	for _, it := range items {
		if err := validID(it.ID); err != nil {
			return err
		}
	}
	if err := (quarantine.Dir{Path: s.quarantine()}).KeepAll(ctx, items); err != nil {
		if ctx.Err() != nil {
			return stopped("keep", fmt.Sprintf("%d items", len(items)), err)
		}
		return fmt.Errorf("%w: file ledger: keep %d items: %w", ErrUnavailable, len(items), err)
	}
	return nil
}

// byServicePrincipal lists the index markers of a service principal.
func (s *FileStore) byServicePrincipal(_ context.Context, spID string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "bysp", spID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: file ledger: index of %s: %w", ErrUnavailable, spID, err)
	}
	var out []string
	for _, e := range entries {
		if validID(e.Name()) == nil {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
