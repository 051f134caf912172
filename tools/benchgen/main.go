// Command benchgen writes the benchmark invocation (see internal/benchdata)
// to a file, so the Node and Python peers read exactly the bytes Go reads.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/spresponder/spresponder/internal/benchdata"
)

func main() {
	out := flag.String("o", "bench-invocation.json", "output file")
	size := flag.Int("mb", 64, "approximate size in MB")
	events := flag.Int("events", 100, "events in the batch")
	testdata := flag.String("testdata", "testdata/entra", "directory of the sample records")
	shape := flag.String("shape", "default", "default, or alt: keys in reverse order, 24 more properties per record, 40% audit records")
	flag.Parse()
	if *shape != string(benchdata.ShapeDefault) && *shape != string(benchdata.ShapeAlt) {
		fmt.Fprintln(os.Stderr, "benchgen: -shape must be default or alt")
		os.Exit(2)
	}
	b, st, err := benchdata.GenerateShape(*testdata, *size<<20, *events, 1, benchdata.Shape(*shape))
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchgen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "benchgen:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s: %d bytes, %d events, %d records\n", *out, st.Bytes, st.Events, st.Records)
}
