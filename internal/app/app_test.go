package app

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testEnv(t *testing.T, vars map[string]string) (Env, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	if _, ok := vars["SPRESPONDER_STATE_DIR"]; !ok {
		vars["SPRESPONDER_STATE_DIR"] = t.TempDir()
	}
	var out, errb bytes.Buffer
	return Env{
		Getenv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		Environ: func() []string {
			var l []string
			for k, v := range vars {
				l = append(l, k+"="+v)
			}
			return l
		},
		Stdout: &out, Stderr: &errb,
		Now: func() time.Time { return time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC) },
	}, &out, &errb
}

// TestReplayJSONFieldsAreStable pins the replay JSON contract that on-call
// scripts depend on.
func TestReplayJSONFieldsAreStable(t *testing.T) {
	env, out, errb := testEnv(t, map[string]string{})
	file := filepath.Join("..", "..", "testdata", "demo", "batch.ndjson")
	if code := Main(context.Background(), []string{"replay", "--file", file, "--format", "json", "--detect-only"}, env); code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines:\n%s", len(lines), out)
	}
	kinds := map[string]bool{}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line is not JSON: %s", l)
		}
		for _, f := range []string{"kind", "tenantId", "appId", "servicePrincipalId", "keyIds", "detectionId", "riskEventType", "riskLevel", "source"} {
			if _, ok := m[f]; !ok {
				t.Errorf("field %q missing in %s", f, l)
			}
		}
		if _, ok := m["keyIds"].([]any); !ok {
			t.Errorf("keyIds is not a list in %s", l)
		}
		src := m["source"].(map[string]any)
		for _, f := range []string{"partition", "sequenceNumber", "event", "record"} {
			if _, ok := src[f]; !ok {
				t.Errorf("source.%s missing in %s", f, l)
			}
		}
		kinds[m["kind"].(string)] = true
	}
	for _, k := range []string{"leakedCredential", "riskDetection", "riskyServicePrincipal", "blockedSignIn"} {
		if !kinds[k] {
			t.Errorf("no %s signal", k)
		}
	}
	// The demo batch's anonymised sign-in (tenant "1111111111-902d-...",
	// not a GUID) is quarantined, never acted on; every skip has a reason.
	if !strings.Contains(errb.String(), "summary: events=8 records=12 signals=4 skipped=5 quarantined=1; skipped: ") ||
		!strings.Contains(errb.String(), "quarantined: invalidId=1") {
		t.Errorf("summary line missing or wrong: %s", errb)
	}
}

func TestReplayTableAndBadLines(t *testing.T) {
	dir := t.TempDir()
	env, out, errb := testEnv(t, map[string]string{"SPRESPONDER_STATE_DIR": dir})
	file := filepath.Join(t.TempDir(), "bad.ndjson")
	writeFile(t, file, "{\"records\":[]}\nnot json\n")
	if code := Main(context.Background(), []string{"replay", "--file", file}, env); code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	if !strings.Contains(out.String(), "quarantined=1") || !strings.Contains(out.String(), filepath.Join(dir, "quarantine")) {
		t.Errorf("output:\n%s", out)
	}
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	env, _, errb := testEnv(t, map[string]string{"SPRESPONDER_MODE": "enforce", "SPRESPONDER_KILLSWITCH": "true"})
	if code := Main(context.Background(), []string{"replay", "--file", "x"}, env); code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"SPRESPONDER_KILLSWITCH: unknown setting", "SPRESPONDER_TENANTS: required when SPRESPONDER_MODE=enforce"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb)
		}
	}
}

func TestServeNeedsPort(t *testing.T) {
	env, _, errb := testEnv(t, map[string]string{})
	if code := Main(context.Background(), []string{"serve"}, env); code != 1 || !strings.Contains(errb.String(), "FUNCTIONS_CUSTOMHANDLER_PORT is unset") {
		t.Fatalf("exit %d: %s", code, errb)
	}
}
