// Command package builds the deployment zip the Functions host expects:
// host.json and one folder per function at the zip root, and the handler
// binary with its run bit (only Linux Consumption repairs a missing one).
//
// The zip is reproducible: the same inputs give the same bytes (entries in
// a fixed order, every entry dated zipEpoch), so a deployed package can be
// checked against a build of the same commit.
package main

import (
	"archive/zip"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// zipEpoch is the date every entry carries: 1980-01-01 00:00, the earliest
// date a zip (MS-DOS) timestamp can hold. archive/zip writes the zero
// time.Time as date 0, i.e. 1980-00-00, a month 0 that unzip tools report
// as invalid; a fixed valid date keeps the zip reproducible without that.
var zipEpoch = time.Date(1980, time.January, 1, 0, 0, 0, 0, time.UTC)

func main() {
	bin := flag.String("bin", "dist/spresponder", "linux/amd64 handler binary")
	out := flag.String("o", "dist/spresponder.zip", "zip to write")
	flag.Parse()
	if err := build(*bin, *out); err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
	fmt.Println("wrote", *out)
}

func build(bin, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	add := func(src, name string, mode fs.FileMode) error {
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: zipEpoch}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, in)
		return err
	}
	if err := add("host.json", "host.json", 0o644); err != nil {
		return err
	}
	if err := add(bin, "spresponder", 0o755); err != nil {
		return err
	}
	err = filepath.WalkDir("functions", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return add(p, strings.TrimPrefix(filepath.ToSlash(p), "functions/"), 0o644)
	})
	if err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}
