// Package ehfaketest starts tools/ehfake (an AMQP 1.0 fake of one Event
// Hub on npm rhea) for tests that read a hub with the real azeventhubs
// client. Without node or the fake's npm dependencies a test is skipped
// with the reason, or fails when SPRESPONDER_REQUIRE_EHFAKE is set (CI).
package ehfaketest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvRequire makes an unavailable fake a failure, not a skip.
const EnvRequire = "SPRESPONDER_REQUIRE_EHFAKE"

// Event is one event of the fixture.
type Event struct {
	Body         string    `json:"body"`
	EnqueuedTime time.Time `json:"enqueuedTime"`
}

// Fixture is what the fake serves: one hub, events per partition.
type Fixture struct {
	Hub        string             `json:"hub"`
	Partitions map[string][]Event `json:"partitions"`
}

// Key is the shared access key in the connection string; it must never
// show up in an error.
const Key = "s3cr3t-ehfake-key-value"

// Start runs the fake with fx until the test ends and returns the
// connection string for the client.
func Start(tb testing.TB, fx Fixture) string {
	tb.Helper()
	fail := func(reason string) {
		tb.Helper()
		if os.Getenv(EnvRequire) != "" {
			tb.Fatalf("ehfake not available: %s (%s is set)", reason, EnvRequire)
		}
		tb.Skipf("ehfake not available: %s", reason)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		fail("node is not on PATH")
	}
	dir, err := dir()
	if err != nil {
		fail(err.Error())
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "rhea", "package.json")); err != nil {
		fail("tools/ehfake/node_modules is not installed (make test installs it)")
	}
	data, err := json.Marshal(fx)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "fixture.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(dir, "ehfake.js"), path, "0")
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if os.Getenv("EHFAKE_DEBUG") != "" {
		cmd.Stderr = os.Stderr // the fake's own trace, for a person debugging it
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		fail("start ehfake: " + err.Error())
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if tb.Failed() {
			tb.Logf("ehfake stderr (tail): %s", tail(stderr.String(), 3000))
		}
	})
	ready := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				if n, err := strconv.Atoi(p); err == nil {
					ready <- n
				}
			}
		}
		close(ready)
	}()
	select {
	case p, ok := <-ready:
		if !ok {
			fail("ehfake exited before listening: " + tail(strings.TrimSpace(stderr.String()), 300))
		}
		return fmt.Sprintf("Endpoint=sb://127.0.0.1:%d;SharedAccessKeyName=k;SharedAccessKey=%s;UseDevelopmentEmulator=true", p, Key)
	// A large fixture (a benchmark's, tens of MB) takes a while to load.
	case <-time.After(60 * time.Second):
		fail("ehfake did not print 'listening <port>' within 60s")
	}
	return ""
}

// dir walks up from the test's directory to tools/ehfake.
func dir() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(d, "tools", "ehfake")
		if _, err := os.Stat(filepath.Join(p, "ehfake.js")); err == nil {
			return p, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("tools/ehfake/ehfake.js not found above the test directory")
		}
		d = parent
	}
}

// lockedBuffer is the fake's stderr, written by the process while a
// failing test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
