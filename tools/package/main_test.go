package main

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// buildFake packages a stand-in handler binary from the repository root and
// returns the zip's path.
func buildFake(t *testing.T, dir, name string) string {
	t.Helper()
	bin := filepath.Join(dir, "spresponder")
	if _, err := os.Stat(bin); err != nil {
		if err := os.WriteFile(bin, []byte("\x7fELF fake"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, name)
	if err := build(bin, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestZipLayout: host.json and every function folder under functions/ at
// the zip root, and the handler binary with its run bit (the host on Premium
// and Dedicated plans does not add it, and on Flex Consumption only tries).
func TestZipLayout(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(filepath.Join("..", ".."))
	zr, err := zip.OpenReader(buildFake(t, dir, "app.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()

	// What must be there comes from the repository, not from a list here: a
	// new function folder that the package left out would deploy an app
	// without that function, silently.
	want := []string{"host.json", "spresponder"}
	fns, err := os.ReadDir("functions")
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range fns {
		if fn.IsDir() {
			want = append(want, fn.Name()+"/function.json")
		}
	}
	if len(want) < 6 {
		t.Fatalf("found only %v under functions/: expected EntraLogs, Sweep, Replay and Health at least", want)
	}

	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		switch perm := f.Mode().Perm(); {
		case f.Name == "spresponder" && perm != 0o755:
			t.Errorf("spresponder has mode %v, want -rwxr-xr-x: the host must be able to run it", f.Mode())
		case f.Name != "spresponder" && perm != 0o644:
			t.Errorf("%s has mode %v, want -rw-r--r--", f.Name, f.Mode())
		}
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("zip lacks %s (has %v)", w, names)
		}
	}
	if len(names) != len(want) {
		t.Errorf("zip has %v, want exactly %v", names, want)
	}
}

// TestZipDatesAndReproducible: every entry is dated 1980-01-01 00:00 (not
// archive/zip's zero date 1980-00-00, an invalid month 0), and two builds
// of the same inputs are byte-identical even when the input files' own
// times differ.
func TestZipDatesAndReproducible(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(filepath.Join("..", ".."))
	first := buildFake(t, dir, "first.zip")
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "spresponder"), later, later); err != nil {
		t.Fatal(err)
	}
	second := buildFake(t, dir, "second.zip")

	a, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("two builds of the same inputs differ (%d and %d bytes)", len(a), len(b))
	}

	zr, err := zip.NewReader(bytes.NewReader(a), int64(len(a)))
	if err != nil {
		t.Fatal(err)
	}
	// MS-DOS date: bits 15-9 year since 1980, 8-5 month, 4-0 day; time 0 is
	// 00:00:00.
	const jan1st1980 = 0<<9 | 1<<5 | 1
	for _, f := range zr.File {
		if f.ModifiedDate != jan1st1980 || f.ModifiedTime != 0 {
			t.Errorf("%s: MS-DOS date %#04x time %#04x, want %#04x 0 (1980-01-01 00:00)", f.Name, f.ModifiedDate, f.ModifiedTime, jan1st1980)
		}
		if !f.Modified.Equal(zipEpoch) {
			t.Errorf("%s: modified %v, want %v", f.Name, f.Modified, zipEpoch)
		}
	}
}
