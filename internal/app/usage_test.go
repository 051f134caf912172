package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/rules"
)

// TestPhoneWithoutWebhookIsRefused: a rules file whose reach section asks
// to phone the security contact, without the phone webhook, stops the
// command with the setting named, before anything runs.
func TestPhoneWithoutWebhookIsRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.yaml")
	y := string(rules.DefaultYAML()) + "\nreach:\n  critical: {do: [confirmCompromised], page: true, phone: true}\n  normal: {notify: owners}\n"
	if err := os.WriteFile(file, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	env, _, errb := testEnv(t, map[string]string{"SPRESPONDER_RULES": file, "SPRESPONDER_GRAPH_URL": "http://127.0.0.1:9"})
	code := Main(context.Background(), []string{"incidents", "redrive", "inc-000000000000000000000000"}, env)
	if code == 0 || !strings.Contains(errb.String(), "SPRESPONDER_SECURITY_PHONE_WEBHOOK is not set") {
		t.Fatalf("exit %d: %s", code, errb)
	}
}
