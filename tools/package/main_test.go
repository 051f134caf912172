package main

import (
	"archive/zip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestZipLayout: host.json and the function folders at the zip root, and
// the handler binary with its run bit (the host on Premium and Dedicated
// plans does not add it).
func TestZipLayout(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "spresponder")
	if err := os.WriteFile(bin, []byte("\x7fELF fake"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Join("..", ".."))
	out := filepath.Join(dir, "app.zip")
	if err := build(bin, out); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Name == "spresponder" && f.Mode().Perm()&0o111 == 0 {
			t.Errorf("spresponder has mode %v: no run bit", f.Mode())
		}
	}
	for _, want := range []string{"host.json", "spresponder", "EntraLogs/function.json", "Health/function.json", "Sweep/function.json"} {
		if !slices.Contains(names, want) {
			t.Errorf("zip lacks %s (has %v)", want, names)
		}
	}
}
