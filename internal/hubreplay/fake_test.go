package hubreplay_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EnvRequireEHFake makes an unavailable fake a failure, not a skip (CI sets it).
const EnvRequireEHFake = "SPRESPONDER_REQUIRE_EHFAKE"

// fixtureEvent is one event of the fake's fixture, with the position the
// fake gives it (sequence numbers count from 0, offsets are the running sum
// of body lengths).
type fixtureEvent struct {
	Body         string    `json:"body"`
	EnqueuedTime time.Time `json:"enqueuedTime"`
	seq          int64
	offset       string
}

type fixture struct {
	Hub        string                    `json:"hub"`
	Partitions map[string][]fixtureEvent `json:"partitions"`
}

// fake is the running tools/ehfake, or why there is none.
type fake struct {
	port   int
	reason string
	cmd    *exec.Cmd
	dir    string
}

// connString is the client connection string for the fake.
func (f *fake) connString(tb testing.TB) string {
	tb.Helper()
	if f.port == 0 {
		if os.Getenv(EnvRequireEHFake) != "" {
			tb.Fatalf("ehfake not available: %s (%s is set)", f.reason, EnvRequireEHFake)
		}
		tb.Skipf("ehfake not available: %s", f.reason)
	}
	return fmt.Sprintf("Endpoint=sb://127.0.0.1:%d;SharedAccessKeyName=k;SharedAccessKey=%s;UseDevelopmentEmulator=true", f.port, testKey)
}

// testKey must never show up in an error.
const testKey = "s3cr3t-ehfake-key-value"

// startFake installs the fake's npm dependencies when they are missing and
// starts it on a free port with fx; on failure it records why.
func startFake(fx fixture) *fake {
	f := &fake{}
	node, err := exec.LookPath("node")
	if err != nil {
		f.reason = "node is not on PATH"
		return f
	}
	dir, err := ehfakeDir()
	if err != nil {
		f.reason = err.Error()
		return f
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "rhea", "package.json")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			f.reason = "npm is not on PATH (needed for npm ci in tools/ehfake)"
			return f
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			f.reason = "npm ci in tools/ehfake failed: " + npmError(out, err)
			return f
		}
	}
	f.dir, err = os.MkdirTemp("", "spresponder-ehfake-")
	if err != nil {
		f.reason = err.Error()
		return f
	}
	data, err := json.Marshal(fx)
	if err != nil {
		f.reason = err.Error()
		return f
	}
	fixturePath := filepath.Join(f.dir, "fixture.json")
	if err := os.WriteFile(fixturePath, data, 0o600); err != nil {
		f.reason = err.Error()
		return f
	}
	cmd := exec.Command(node, filepath.Join(dir, "ehfake.js"), fixturePath, "0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		f.reason = err.Error()
		return f
	}
	if err := cmd.Start(); err != nil {
		f.reason = "start ehfake: " + err.Error()
		return f
	}
	f.cmd = cmd
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
			f.reason = "ehfake exited before listening: " + lastLine(stderr.Bytes(), errors.New("no output"))
			return f
		}
		f.port = p
	case <-time.After(15 * time.Second):
		f.reason = "ehfake did not print 'listening <port>' within 15s"
	}
	return f
}

// stop ends the fake process started by startFake.
func (f *fake) stop() {
	if f.cmd != nil && f.cmd.Process != nil {
		_ = f.cmd.Process.Kill()
		_ = f.cmd.Wait()
	}
	if f.dir != "" {
		_ = os.RemoveAll(f.dir)
	}
}

// ehfakeDir walks up from the package directory to tools/ehfake.
func ehfakeDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "tools", "ehfake")
		if _, err := os.Stat(filepath.Join(p, "ehfake.js")); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("tools/ehfake/ehfake.js not found above the test directory")
		}
		dir = parent
	}
}

// npmError is npm's first complaint ("npm error ..."), else its last line.
func npmError(out []byte, err error) string {
	for l := range strings.Lines(string(out)) {
		if strings.HasPrefix(l, "npm error") || strings.HasPrefix(l, "npm ERR!") {
			return strings.TrimSpace(l)
		}
	}
	return lastLine(out, err)
}

func lastLine(out []byte, err error) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if last := strings.TrimSpace(lines[len(lines)-1]); last != "" {
		return last
	}
	return err.Error()
}

// freePort returns a loopback port nothing listens on (it was free a moment ago).
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	return port
}
