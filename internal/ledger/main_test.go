package ledger_test

import (
	"bytes"
	"fmt"
	"github.com/spresponder/spresponder/internal/azuritetest"
	"os"
	"testing"
	"time"
)

// Environment the tests read.
const (
	// envHelper turns the test binary into a helper process (see
	// runHelper).
	envHelper = "SPRESPONDER_LEDGER_HELPER"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envHelper); mode != "" {
		os.Exit(runHelper(mode))
	}
	code := m.Run()
	azurite.Shutdown()
	os.Exit(code)
}

// azurite is started once for the package's tests that need it.
var azurite = &azuritetest.Harness{}

// runHelper is the body of a helper process: the test binary re-executed by
// a test with envHelper set.
func runHelper(mode string) int {
	helpers := map[string]func() error{
		"claim": helperClaim,
		"hold":  helperHold,
	}
	fn, ok := helpers[mode]
	if !ok {
		fmt.Fprintf(os.Stderr, "helper: unknown mode %q\n", mode)
		return 2
	}
	if err := fn(); err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", mode, err)
		return 1
	}
	return 0
}

// waitFile polls for a file to exist.
func waitFile(path string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %s", path, limit)
		}
		time.Sleep(time.Millisecond)
	}
}

// lines splits process output into non-empty lines.
func lines(b []byte) []string {
	var out []string
	for l := range bytes.SplitSeq(b, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			out = append(out, string(l))
		}
	}
	return out
}
