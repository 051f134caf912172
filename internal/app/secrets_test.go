package app

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNoSecretInLogsErrorsOrLedger runs a whole incident with webhooks that
// fail (500, then a refused connection) and checks that no configured
// secret appears in anything the responder wrote: its output, its logs, its
// errors, or the incident ledger.
func TestNoSecretInLogsErrorsOrLedger(t *testing.T) {
	_, graphURL := startDemoTenant(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "echo of "+r.URL.String(), http.StatusInternalServerError)
	}))
	defer failing.Close()
	refused := httptest.NewServer(http.NotFoundHandler())
	refusedURL := refused.URL
	refused.Close()

	const teamsSig, appSig, pagerSig = "TEAMS-SIG-0123456789", "APP-SIG-0123456789", "PAGER-SIG-0123456789"
	state := t.TempDir()
	vars := map[string]string{
		"SPRESPONDER_MODE": "enforce", "SPRESPONDER_TENANTS": "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
		"SPRESPONDER_STATE_DIR": state, "SPRESPONDER_GRAPH_URL": graphURL,
		"SPRESPONDER_TEAMS_WEBHOOK":      failing.URL + "/workflows/x/triggers/manual/paths/invoke?api-version=1&sig=" + teamsSig,
		"SPRESPONDER_TEAMS_APP_WEBHOOKS": "6131d760-7fda-4db5-8bb1-b771898e9f15=" + refusedURL + "/hook?sig=" + appSig,
		"SPRESPONDER_PAGER_WEBHOOK":      failing.URL + "/page?token=" + pagerSig,
		"SPRESPONDER_SECURITY_CONTACT":   "security@contoso.com", "SPRESPONDER_LOG_LEVEL": "debug",
		"SPRESPONDER_STAGE_DEADLINE": "4s",
	}
	env, out, errb := testEnv(t, vars)
	env.Now = time.Now
	code := Main(ctx, []string{"replay", "--file", filepath.Join("..", "..", "testdata", "demo", "batch.ndjson"), "--execute", "--operator", "test"}, env)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	if !strings.Contains(out.String(), "removePassword dbcd79c0-c3ea-46b9-9604-ff40d43b8618") || !strings.Contains(out.String(), "failed") {
		t.Fatalf("the incident did not run with failing deliveries:\n%s", out)
	}
	var ledgerText bytes.Buffer
	_ = filepath.Walk(state, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			ledgerText.Write(b)
		}
		return nil
	})
	for name, text := range map[string]string{"stdout": out.String(), "stderr (logs)": errb.String(), "ledger": ledgerText.String()} {
		for _, secret := range []string{teamsSig, appSig, pagerSig} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains the secret %s", name, secret)
			}
		}
	}
}
