package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReplayFromHub replays a time range from an Event Hub (tools/ehfake,
// an AMQP 1.0 server the real azeventhubs client talks to): only the events
// inside the range are read, and signals keep their hub positions.
func TestReplayFromHub(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node is not on PATH")
	}
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	if _, err := os.Stat(filepath.Join(root, "tools", "ehfake", "node_modules", "rhea")); err != nil {
		skipOrFail(t, "tools/ehfake/node_modules is not installed (make test installs it)")
	}
	leak, err := os.ReadFile(filepath.Join(root, "testdata", "entra", "sample-ServicePrincipalRiskEvents.json"))
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, leak); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	noise := `{"records":[{"category":"SignInLogs","tenantId":"4bbb79f7-5724-4c9e-95f3-de075f6ec090","properties":{}}]}`
	fx := map[string]any{"hub": "entra", "partitions": map[string]any{
		"0": []map[string]any{{"body": noise, "enqueuedTime": t0}, {"body": compact.String(), "enqueuedTime": t0.Add(time.Hour)}},
		"1": []map[string]any{{"body": compact.String(), "enqueuedTime": t0.Add(-time.Hour)}, {"body": noise, "enqueuedTime": t0.Add(2 * time.Hour)}},
	}}
	fxFile := filepath.Join(t.TempDir(), "fixture.json")
	b, _ := json.Marshal(fx)
	if err := os.WriteFile(fxFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(root, "tools", "ehfake", "ehfake.js"), fxFile, "0")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	port := ""
	sc := bufio.NewScanner(out)
	deadline := time.AfterFunc(15*time.Second, func() { _ = cmd.Process.Kill() })
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
			port = p
			break
		}
	}
	deadline.Stop()
	if port == "" {
		t.Fatal("ehfake did not start")
	}
	env, stdout, stderr := testEnv(t, map[string]string{
		"SPRESPONDER_HUB_CONNECTION_STRING": "Endpoint=sb://127.0.0.1:" + port + ";SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true",
		"ENTRA_EVENTHUB_NAME":               "entra",
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := Main(ctx, []string{"replay", "--hub", "--from", t0.Format(time.RFC3339), "--to", t0.Add(90 * time.Minute).Format(time.RFC3339), "--detect-only", "--format", "json"}, env)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 { // the range holds partition 0's noise and leak event: leak + suspicious sign-ins
		t.Fatalf("signals:\n%s\nstderr: %s", stdout, stderr)
	}
	var s struct {
		Kind   string
		Source struct {
			Partition      string
			SequenceNumber int64
		}
	}
	if err := json.Unmarshal([]byte(lines[0]), &s); err != nil {
		t.Fatal(err)
	}
	if s.Kind != "leakedCredential" || s.Source.Partition != "0" || s.Source.SequenceNumber != 1 {
		t.Fatalf("first signal %+v", s)
	}
	if !strings.Contains(stderr.String(), "events=2 records=3") {
		t.Errorf("summary: %s", stderr)
	}
}

func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("SPRESPONDER_REQUIRE_EHFAKE") != "" {
		t.Fatalf("ehfake not available: %s", why)
	}
	t.Skipf("ehfake not available: %s", why)
}
