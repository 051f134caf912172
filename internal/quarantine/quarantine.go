// Package quarantine keeps input the responder could not use: a malformed
// event body, a record of unknown shape, a record from a tenant outside the
// allow-list, an oversized event. Nothing received is dropped silently: each
// item is kept whole, with its position in the hub and the reason, so a
// person can inspect it and replay it once the cause is fixed.
//
// Dir is the local store (the CLI and tests use it); the incident ledger
// implements the same Keeper interface for production.
package quarantine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Reason classifies why an item was kept.
type Reason string

const (
	MalformedEvent  Reason = "malformedEvent"  // the event body is not {"records":[...]}
	MalformedRecord Reason = "malformedRecord" // a record of a handled category that does not decode
	UnknownShape    Reason = "unknownShape"    // a record without a category, or not an object
	ForeignTenant   Reason = "foreignTenant"   // tenant not in the allow-list
	Oversized       Reason = "oversized"       // an event larger than the configured limit
	// Ambiguous: a record that could be read two ways: an identity key
	// (tenant, category, app, service principal, key, detection, risk ...)
	// twice, in another case than Entra's, or escaped. Acting on one
	// reading while the allow-list checked the other is how a forged
	// record reaches a foreign tenant (THREATS.md invariant 3).
	Ambiguous Reason = "ambiguousRecord"
	// InvalidID: an id that goes into Graph request paths (tenant, app,
	// service principal, key, detection) is not of the documented form.
	InvalidID Reason = "invalidId"
)

// Position locates an item in the hub (or a replay file).
type Position struct {
	Partition      string    `json:"partition,omitempty"`
	SequenceNumber int64     `json:"sequenceNumber"`
	Offset         string    `json:"offset,omitempty"`
	EnqueuedTime   time.Time `json:"enqueuedTime,omitzero"`
	Event          int       `json:"event"`
	Record         int       `json:"record"` // -1 when the whole event is kept
}

func (p Position) String() string {
	return fmt.Sprintf("partition=%s seq=%d event=%d record=%d", p.Partition, p.SequenceNumber, p.Event, p.Record)
}

// Item is one kept piece of input.
type Item struct {
	ID       string    `json:"id"`
	Reason   Reason    `json:"reason"`
	Detail   string    `json:"detail"`
	Position Position  `json:"position"`
	Received time.Time `json:"received"`
	Size     int       `json:"size"`
	Body     []byte    `json:"-"` // stored beside the metadata, byte for byte
}

// NewItem builds an item whose ID is derived from its content and position,
// so that keeping the same item twice (a redelivered batch) is harmless.
func NewItem(reason Reason, detail string, pos Position, body []byte, now time.Time) Item {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%d\x00", reason, pos.Partition, pos.SequenceNumber, pos.Event, pos.Record)
	h.Write(body)
	return Item{
		ID:       "q-" + hex.EncodeToString(h.Sum(nil))[:24],
		Reason:   reason,
		Detail:   detail,
		Position: pos,
		Received: now,
		Size:     len(body),
		Body:     body,
	}
}

// Keeper stores quarantined items durably. Keep must be idempotent on Item.ID.
type Keeper interface {
	Keep(ctx context.Context, it Item) error
}

// Dir keeps items as files in a directory: <id>.json (metadata) and
// <id>.body (the bytes). Writes are atomic (temp file, fsync, rename), so a
// crash leaves either nothing or a whole item.
type Dir struct {
	Path string
}

// Keep implements Keeper.
func (d Dir) Keep(ctx context.Context, it Item) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(d.Path, 0o750); err != nil {
		return fmt.Errorf("quarantine: create %s: %w", d.Path, err)
	}
	meta, err := json.MarshalIndent(it, "", "  ")
	if err != nil {
		return fmt.Errorf("quarantine: encode %s: %w", it.ID, err)
	}
	// Body first: metadata present means the item is whole.
	if err := writeAtomic(filepath.Join(d.Path, it.ID+".body"), it.Body); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(d.Path, it.ID+".json"), meta)
}

// List returns the kept items' metadata, oldest first, bodies not loaded.
func (d Dir) List() ([]Item, error) {
	entries, err := os.ReadDir(d.Path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("quarantine: list %s: %w", d.Path, err)
	}
	var items []Item
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d.Path, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("quarantine: read %s: %w", e.Name(), err)
		}
		var it Item
		if err := json.Unmarshal(b, &it); err != nil {
			return nil, fmt.Errorf("quarantine: decode %s: %w", e.Name(), err)
		}
		items = append(items, it)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Received.Before(items[j].Received) })
	return items, nil
}

// Body reads a kept item's bytes.
func (d Dir) Body(id string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(d.Path, filepath.Base(id)+".body"))
	if err != nil {
		return nil, fmt.Errorf("quarantine: body of %s: %w", id, err)
	}
	return b, nil
}

func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("quarantine: temp file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("quarantine: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("quarantine: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("quarantine: close %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("quarantine: rename %s: %w", path, err)
	}
	return nil
}

// BatchKeeper is implemented by stores that keep many items at once faster
// than one by one (one sync, one round of requests). KeepAll must be
// idempotent on each Item.ID, like Keep, and return only when every item
// is durable.
type BatchKeeper interface {
	KeepAll(ctx context.Context, items []Item) error
}

// KeepAll keeps items with k: in one KeepAll when k is a BatchKeeper, else
// one Keep after the other (the default for stores that have no batch
// form).
func KeepAll(ctx context.Context, k Keeper, items []Item) error {
	if bk, ok := k.(BatchKeeper); ok {
		return bk.KeepAll(ctx, items)
	}
	for _, it := range items {
		if err := k.Keep(ctx, it); err != nil {
			return fmt.Errorf("%s: %w", it.ID, err)
		}
	}
	return nil
}

// KeepAll implements BatchKeeper. Keep syncs each file on its own, two
// syncs per item, so a batch of junk lines kept one by one spent minutes
// in fsync. KeepAll writes every file first, makes them durable together
// (one syncfs on Linux), then renames them into place and syncs the
// directory once. Items already kept (their metadata exists) are skipped.
func (d Dir) KeepAll(ctx context.Context, items []Item) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(d.Path, 0o750); err != nil {
		return fmt.Errorf("quarantine: create %s: %w", d.Path, err)
	}
	type move struct{ tmp, final string }
	var moves []move
	defer func() {
		for _, m := range moves {
			_ = os.Remove(m.tmp) // no-op once renamed
		}
	}()
	write := func(final string, data []byte) error {
		f, err := os.CreateTemp(d.Path, ".tmp-*")
		if err != nil {
			return fmt.Errorf("quarantine: temp file: %w", err)
		}
		moves = append(moves, move{f.Name(), final})
		if _, err := f.Write(data); err != nil {
			f.Close()
			return fmt.Errorf("quarantine: write %s: %w", final, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("quarantine: close %s: %w", final, err)
		}
		return nil
	}
	seen := map[string]bool{}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		meta := filepath.Join(d.Path, it.ID+".json")
		if seen[it.ID] {
			continue
		}
		seen[it.ID] = true
		if _, err := os.Stat(meta); err == nil {
			continue // kept before: a redelivered batch
		}
		m, err := json.MarshalIndent(it, "", "  ")
		if err != nil {
			return fmt.Errorf("quarantine: encode %s: %w", it.ID, err)
		}
		// Body first, here as in the renames below: metadata present
		// means the item is whole.
		if err := write(filepath.Join(d.Path, it.ID+".body"), it.Body); err != nil {
			return err
		}
		if err := write(meta, m); err != nil {
			return err
		}
	}
	if len(moves) == 0 {
		return nil
	}
	if err := syncFiles(d.Path, moves[0].tmp); err != nil {
		return err
	}
	for _, m := range moves {
		if err := os.Rename(m.tmp, m.final); err != nil {
			return fmt.Errorf("quarantine: rename %s: %w", m.final, err)
		}
	}
	return syncDir(d.Path)
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("quarantine: open %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("quarantine: sync %s: %w", dir, err)
	}
	return nil
}
