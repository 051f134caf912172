// Package azuritetest starts Azurite, the Azure Storage emulator, for
// tests: through scripts/azurite.sh (which installs the pinned npm package
// locally), once per test binary, on free loopback ports, stopped when the
// tests are done (and by the script's watchdog if the test binary dies).
// Tests that need it skip with one line saying why when it cannot start,
// or fail when SPRESPONDER_REQUIRE_AZURITE is set (CI sets it).
package azuritetest

import (
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

const (
	// EnvAzurite points tests at a running Azurite blob endpoint, e.g.
	// http://127.0.0.1:10000/devstoreaccount1 (what `scripts/azurite.sh
	// env` prints). Unset: the harness starts its own.
	EnvAzurite = "SPRESPONDER_AZURITE_BLOB"
	// EnvRequireAzurite makes a missing Azurite a failure, not a skip.
	EnvRequireAzurite = "SPRESPONDER_REQUIRE_AZURITE"
)

// Harness starts Azurite the first time a test needs it.
type Harness struct {
	once     sync.Once
	endpoint string
	reason   string // why there is no endpoint
	stop     func()
}

// BlobEndpoint returns the Azurite blob endpoint, or skips tb (fails it when
// SPRESPONDER_REQUIRE_AZURITE is set) with one line saying why there is none.
func (a *Harness) BlobEndpoint(tb testing.TB) string {
	tb.Helper()
	a.once.Do(a.start)
	if a.endpoint == "" {
		if os.Getenv(EnvRequireAzurite) != "" {
			tb.Fatalf("azurite not available: %s (%s is set)", a.reason, EnvRequireAzurite)
		}
		tb.Skipf("azurite not available: %s", a.reason)
	}
	return a.endpoint
}

func (a *Harness) start() {
	if ep := os.Getenv(EnvAzurite); ep != "" {
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

// Shutdown stops Azurite if the harness started it (call it from TestMain).
func (a *Harness) Shutdown() {
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
