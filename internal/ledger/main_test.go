package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment the tests read.
const (
	// envAzurite points the BlobStore tests at a running Azurite blob
	// endpoint, e.g. http://127.0.0.1:10000/devstoreaccount1 (what
	// `scripts/azurite.sh env` prints). Unset: the tests start their own.
	envAzurite = "SPRESPONDER_AZURITE_BLOB"
	// envRequireAzurite makes a missing Azurite a failure instead of a skip
	// (CI sets it).
	envRequireAzurite = "SPRESPONDER_REQUIRE_AZURITE"
	// envHelper turns the test binary into a helper process (see
	// runHelper).
	envHelper = "SPRESPONDER_LEDGER_HELPER"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envHelper); mode != "" {
		os.Exit(runHelper(mode))
	}
	code := m.Run()
	azurite.shutdown()
	os.Exit(code)
}

// azurite starts Azurite through scripts/azurite.sh the first time a test
// needs it, once for the whole package, on free ports, and stops it when the
// package's tests are done. The script's watchdog (AZURITE_WATCH_PID) stops
// it too if this process dies first.
var azurite azuriteHarness

type azuriteHarness struct {
	once     sync.Once
	endpoint string
	reason   string // why there is no endpoint
	stop     func()
}

// blobEndpoint returns the Azurite blob endpoint, or skips tb (fails it when
// SPRESPONDER_REQUIRE_AZURITE is set) with one line saying why there is none.
func (a *azuriteHarness) blobEndpoint(tb testing.TB) string {
	tb.Helper()
	a.once.Do(a.start)
	if a.endpoint == "" {
		if os.Getenv(envRequireAzurite) != "" {
			tb.Fatalf("azurite not available: %s (%s is set)", a.reason, envRequireAzurite)
		}
		tb.Skipf("azurite not available: %s", a.reason)
	}
	return a.endpoint
}

func (a *azuriteHarness) start() {
	if ep := os.Getenv(envAzurite); ep != "" {
		a.endpoint = strings.TrimSuffix(ep, "/")
		return
	}
	script, err := findScript()
	if err != nil {
		a.reason = err.Error()
		return
	}
	ports, err := freePorts(3)
	if err != nil {
		a.reason = "no free ports: " + err.Error()
		return
	}
	state, err := os.MkdirTemp("", "spresponder-azurite-")
	if err != nil {
		a.reason = err.Error()
		return
	}
	env := append(os.Environ(),
		"AZURITE_BLOB_PORT="+strconv.Itoa(ports[0]),
		"AZURITE_QUEUE_PORT="+strconv.Itoa(ports[1]),
		"AZURITE_TABLE_PORT="+strconv.Itoa(ports[2]),
		"AZURITE_STATE_DIR="+state,
		"AZURITE_WATCH_PID="+strconv.Itoa(os.Getpid()),
	)
	run := func(verb string) ([]byte, error) {
		// npm ci on a cold machine takes about 30 s.
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", script, verb)
		cmd.Env = env
		return cmd.CombinedOutput()
	}
	out, err := run("start")
	if err != nil {
		a.reason = fmt.Sprintf("%s start: %s", script, firstLine(out, err))
		os.RemoveAll(state)
		return
	}
	a.endpoint = fmt.Sprintf("http://127.0.0.1:%d/devstoreaccount1", ports[0])
	a.stop = func() {
		if out, err := run("stop"); err != nil {
			fmt.Fprintf(os.Stderr, "azurite stop: %s\n", firstLine(out, err))
		}
		os.RemoveAll(state)
	}
}

func (a *azuriteHarness) shutdown() {
	if a.stop != nil {
		a.stop()
	}
}

// firstLine is the script's own complaint ("azurite.sh: ...") if it made
// one, else the last line of its output, else the error.
func firstLine(out []byte, err error) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "azurite.sh: ") {
			return strings.TrimPrefix(l, "azurite.sh: ")
		}
	}
	if last := strings.TrimSpace(lines[len(lines)-1]); last != "" {
		return last
	}
	return err.Error()
}

// findScript walks up from the package directory to scripts/azurite.sh.
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "scripts", "azurite.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("scripts/azurite.sh not found above the test directory")
		}
		dir = parent
	}
}

// freePorts asks the kernel for n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

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
