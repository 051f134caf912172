package ledgertest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/quarantine"
)

func item(body []byte, detail string, at time.Time) quarantine.Item {
	pos := quarantine.Position{Partition: "0", SequenceNumber: 42, Offset: "4096", Event: 1, Record: -1}
	return quarantine.NewItem(quarantine.MalformedEvent, detail, pos, body, at)
}

func testQuarantineIdempotent(t *testing.T, l ledger.Ledger) {
	ctx := ctxFor(t)
	first := item([]byte(`{"records":[{"not":"closed"`), "unexpected end of JSON input", T0)
	if err := l.Keep(ctx, first); err != nil {
		t.Fatalf("Keep: %v", err)
	}
	// The same item redelivered later: same id, later Received.
	again := item(first.Body, "unexpected end of JSON input (redelivered)", T0.Add(time.Hour))
	if again.ID != first.ID {
		t.Fatal("test setup: redelivered item has another id")
	}
	for range 3 {
		if err := l.Keep(ctx, again); err != nil {
			t.Fatalf("Keep again: %v", err)
		}
	}
	other := item([]byte("\x00\x01 not json"), "binary", T0.Add(time.Minute))
	if err := l.Keep(ctx, other); err != nil {
		t.Fatal(err)
	}
	empty := item(nil, "empty body", T0.Add(2*time.Minute))
	if err := l.Keep(ctx, empty); err != nil {
		t.Fatal(err)
	}

	items, err := l.Quarantined(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 {
		t.Fatalf("Quarantined has %d items; want 3: %+v", len(items), items)
	}
	if items[0].ID != first.ID || items[1].ID != other.ID || items[2].ID != empty.ID {
		t.Fatalf("Quarantined order %s %s %s; want oldest first", items[0].ID, items[1].ID, items[2].ID)
	}
	got := items[0]
	if got.Detail != first.Detail || !got.Received.Equal(first.Received) || got.Size != first.Size ||
		got.Reason != first.Reason || got.Position != first.Position {
		t.Errorf("kept item %+v; want the first one kept %+v", got, first)
	}
	if got.Body != nil {
		t.Errorf("Quarantined returned a body; it lists metadata only")
	}
	for _, want := range []quarantine.Item{first, other, empty} {
		body, err := l.QuarantinedBody(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, want.Body) {
			t.Errorf("body of %s = %q; want %q", want.ID, body, want.Body)
		}
	}
}

func testQuarantineLargeBody(t *testing.T, l ledger.Ledger) {
	ctx := ctxFor(t)
	body := make([]byte, 5<<20+123)
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = r.Read(body) // ChaCha8 reads never fail
	it := item(body, "oversized event", T0)
	it.Reason = quarantine.Oversized
	if err := l.Keep(ctx, it); err != nil {
		t.Fatalf("Keep 5 MB: %v", err)
	}
	if err := l.Keep(ctx, it); err != nil {
		t.Fatalf("Keep 5 MB again: %v", err)
	}
	got, err := l.QuarantinedBody(ctx, it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("5 MB body came back as %d bytes, not byte for byte", len(got))
	}
	items, err := l.Quarantined(ctx)
	if err != nil || len(items) != 1 || items[0].Size != len(body) {
		t.Fatalf("Quarantined = %+v, %v; want one item of %d bytes", items, err, len(body))
	}
}

func testQuarantineMissing(t *testing.T, l ledger.Ledger) {
	ctx := ctxFor(t)
	if _, err := l.QuarantinedBody(ctx, "q-000000000000000000000000"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("QuarantinedBody of a missing id: %v; want ErrNotFound", err)
	}
	items, err := l.Quarantined(ctx)
	if err != nil || len(items) != 0 {
		t.Fatalf("Quarantined of an empty ledger = %v, %v", items, err)
	}
	if err := l.Keep(ctx, quarantine.Item{ID: "../../etc/passwd"}); err == nil {
		t.Fatal("Keep accepted an id with a path in it")
	}
}

// testQuarantineKeepAll: a batch kept at once reads back whole, first
// write wins, and keeping the batch again changes nothing.
func testQuarantineKeepAll(t *testing.T, l ledger.Ledger) {
	ctx := ctxFor(t)
	var batch []quarantine.Item
	for i := range 40 {
		batch = append(batch, item(fmt.Appendf(nil, "junk line %d", i), "malformed", T0.Add(time.Duration(i)*time.Second)))
	}
	batch = append(batch, batch[3]) // a duplicate within the batch
	for range 2 {
		if err := quarantine.KeepAll(ctx, l, batch); err != nil {
			t.Fatalf("KeepAll: %v", err)
		}
	}
	items, err := l.Quarantined(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 40 {
		t.Fatalf("Quarantined has %d items; want 40", len(items))
	}
	body, err := l.QuarantinedBody(ctx, batch[17].ID)
	if err != nil || string(body) != "junk line 17" {
		t.Fatalf("body %q %v", body, err)
	}
}
