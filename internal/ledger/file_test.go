package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/ledger/ledgertest"
	"github.com/spresponder/spresponder/internal/quarantine"
)

func openFile(tb testing.TB) *ledger.FileStore {
	tb.Helper()
	s, err := ledger.NewFileStore(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestFileStoreConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger { return openFile(t) })
}

// The quarantine half of the file store uses the layout of quarantine.Dir,
// so the existing tooling reads it.
func TestFileStoreQuarantineReadableByDir(t *testing.T) {
	dir := t.TempDir()
	s, err := ledger.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	it := quarantine.NewItem(quarantine.UnknownShape, "no category", quarantine.Position{Partition: "3", Record: 2}, []byte(`{"x":1}`), ledgertest.T0)
	if err := s.Keep(t.Context(), it); err != nil {
		t.Fatal(err)
	}
	d := quarantine.Dir{Path: filepath.Join(dir, "quarantine")}
	items, err := d.List()
	if err != nil || len(items) != 1 || items[0].ID != it.ID {
		t.Fatalf("quarantine.Dir.List = %+v, %v", items, err)
	}
	body, err := d.Body(it.ID)
	if err != nil || !bytes.Equal(body, it.Body) {
		t.Fatalf("quarantine.Dir.Body = %q, %v", body, err)
	}
}

// A Keep interrupted after the body and before the metadata is completed by
// the next Keep; an item is listed only once its metadata exists.
func TestFileStoreKeepResumes(t *testing.T) {
	dir := t.TempDir()
	s, err := ledger.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	it := quarantine.NewItem(quarantine.MalformedEvent, "bad", quarantine.Position{}, []byte("half"), ledgertest.T0)
	if err := os.WriteFile(filepath.Join(dir, "quarantine", it.ID+".body"), it.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	if items, _ := s.Quarantined(t.Context()); len(items) != 0 {
		t.Fatalf("an item without metadata is listed: %+v", items)
	}
	if err := s.Keep(t.Context(), it); err != nil {
		t.Fatal(err)
	}
	if items, _ := s.Quarantined(t.Context()); len(items) != 1 {
		t.Fatalf("after the second Keep: %d items", len(items))
	}
}

// Stray temporary files (a crash mid-write) are not incidents.
func TestFileStoreIgnoresTempFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := ledger.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Claim(t.Context(), ledgertest.Incident(1)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "incidents", ".tmp-123"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(t.Context(), ledger.Filter{})
	if err != nil || len(got) != 1 {
		t.Fatalf("List = %d incidents, %v; want 1", len(got), err)
	}
}

// An unwritable directory is "the ledger is unavailable", not a conflict.
func TestFileStoreUnavailable(t *testing.T) {
	if os.Geteuid() == 0 {
		// root ignores permission bits: make the directory a file instead.
		dir := t.TempDir()
		s, err := ledger.NewFileStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(dir, "incidents")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "incidents"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err = s.Claim(t.Context(), ledgertest.Incident(1))
		if !errors.Is(err, ledger.ErrUnavailable) {
			t.Fatalf("Claim into a broken directory: %v; want ErrUnavailable", err)
		}
		return
	}
	dir := t.TempDir()
	s, err := ledger.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "incidents"), 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "incidents"), 0o700) })
	_, _, err = s.Claim(t.Context(), ledgertest.Incident(1))
	if !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("Claim into a read-only directory: %v; want ErrUnavailable", err)
	}
}

// Update waits for the incident's lock no longer than its context allows.
func TestFileStoreLockHonoursContext(t *testing.T) {
	dir := t.TempDir()
	s, err := ledger.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	in, _, err := s.Claim(t.Context(), ledgertest.Incident(1))
	if err != nil {
		t.Fatal(err)
	}
	// Another process holds the lock: a helper that locks and sleeps.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"=hold", "LEDGER_LOCK="+filepath.Join(dir, "locks", in.ID+".lock"))
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := waitFile(filepath.Join(dir, "locks", in.ID+".lock.held"), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Update(ctx, in)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Update while another process holds the lock: %v; want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Update waited %s for a 200ms context", d)
	}
	// The holder dies: the kernel releases its lock and Update goes through.
	cmd.Process.Kill()
	cmd.Wait()
	if err := s.Update(t.Context(), in); err != nil {
		t.Fatalf("Update after the holder died: %v", err)
	}
}

// Two OS processes share one directory and claim the same 200 ids at the
// same moment, while both append to one shared incident with Mutate: every
// id is created exactly once and no history line is lost.
func TestFileStoreTwoProcesses(t *testing.T) {
	const (
		ids     = 200
		workers = 2
	)
	dir := t.TempDir()
	s, err := ledger.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	shared, _, err := s.Claim(t.Context(), ledgertest.Incident(9999))
	if err != nil {
		t.Fatal(err)
	}
	gate := filepath.Join(dir, "go")
	cmds := make([]*exec.Cmd, workers)
	outs := make([]*bytes.Buffer, workers)
	errs := make([]*bytes.Buffer, workers)
	for w := range workers {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(),
			envHelper+"=claim",
			"LEDGER_DIR="+dir,
			"LEDGER_WORKER="+strconv.Itoa(w),
			"LEDGER_IDS="+strconv.Itoa(ids),
			"LEDGER_SHARED="+shared.ID,
			"LEDGER_GATE="+gate,
		)
		outs[w], errs[w] = new(bytes.Buffer), new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = outs[w], errs[w]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[w] = cmd
	}
	// Open the gate once both are ready, so that they really race.
	for w := range workers {
		if err := waitFile(fmt.Sprintf("%s.ready-%d", gate, w), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for w, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("worker %d: %v\n%s", w, err, errs[w])
		}
	}

	created := map[string]int{}
	perWorker := make([]int, workers)
	for w := range workers {
		seen := 0
		for _, l := range lines(outs[w].Bytes()) {
			verb, id, ok := strings.Cut(l, " ")
			if !ok {
				t.Fatalf("worker %d printed %q", w, l)
			}
			switch verb {
			case "created":
				created[id]++
				perWorker[w]++
				seen++
			case "existing":
				seen++
			}
		}
		if seen != ids {
			t.Errorf("worker %d reported %d claims; want %d", w, seen, ids)
		}
	}
	for i := range ids {
		id := ledgertest.Incident(1000 + i).ID
		if created[id] != 1 {
			t.Errorf("id %s created %d times; want exactly once", id, created[id])
		}
	}
	t.Logf("creations per worker: %v (both > 0 means they really interleaved)", perWorker)

	got, err := s.Get(t.Context(), shared.ID)
	if err != nil {
		t.Fatal(err)
	}
	var whats []string
	for _, e := range got.History[1:] {
		whats = append(whats, e.What)
	}
	want := workers * ids / 4
	if len(whats) != want {
		t.Fatalf("shared incident has %d appended events; want %d", len(whats), want)
	}
	slices.Sort(whats)
	if len(slices.Compact(whats)) != want {
		t.Fatal("shared incident has duplicate events")
	}
}

// helperClaim claims LEDGER_IDS ids in LEDGER_DIR, printing "created <id>"
// or "existing <id>" for each, and appends to the shared incident every
// fourth id.
func helperClaim() error {
	dir, shared, gate := os.Getenv("LEDGER_DIR"), os.Getenv("LEDGER_SHARED"), os.Getenv("LEDGER_GATE")
	worker, _ := strconv.Atoi(os.Getenv("LEDGER_WORKER"))
	n, err := strconv.Atoi(os.Getenv("LEDGER_IDS"))
	if err != nil {
		return err
	}
	s, err := ledger.NewFileStore(dir)
	if err != nil {
		return err
	}
	if err := os.WriteFile(fmt.Sprintf("%s.ready-%d", gate, worker), nil, 0o600); err != nil {
		return err
	}
	if err := waitFile(gate, time.Minute); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range n {
		in := ledgertest.Incident(1000 + i)
		in.Operator = fmt.Sprintf("worker-%d", worker)
		stored, created, err := s.Claim(ctx, in)
		if err != nil {
			return err
		}
		if created {
			fmt.Printf("created %s\n", stored.ID)
		} else {
			fmt.Printf("existing %s\n", stored.ID)
		}
		if i%4 == 0 {
			_, err := ledger.Mutate(ctx, s, shared, func(x *incident.Incident) error {
				x.Record(ledgertest.T0, "test", fmt.Sprintf("worker-%d-%d", worker, i), "")
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// helperHold locks LEDGER_LOCK, says so with a ".held" file, and sleeps
// until killed.
func helperHold() error {
	path := os.Getenv("LEDGER_LOCK")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	if err := flock(f); err != nil {
		return err
	}
	if err := os.WriteFile(path+".held", nil, 0o600); err != nil {
		return err
	}
	time.Sleep(5 * time.Minute)
	return nil
}

func flock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }
