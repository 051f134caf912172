package config

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the settings table in README.md")

func env(vars map[string]string) (Getenv, Environ) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		func() []string {
			var l []string
			for k, v := range vars {
				l = append(l, k+"="+v)
			}
			return l
		}
}

func TestDefaults(t *testing.T) {
	c, err := Load(env(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Enforce || c.KillSwitch || c.MaxEventBytes != 2<<20 || c.FailedSecretThreshold != 3 || len(c.FailedSecretCodes) != 2 || c.StateDir != ".spresponder" {
		t.Errorf("defaults = %+v", c)
	}
}

func TestErrors(t *testing.T) {
	_, err := Load(env(map[string]string{
		"SPRESPONDER_MODE": "yolo", "SPRESPONDER_KILL_SWITCH": "maybe", "SPRESPONDER_TENANTS": "contoso",
		"SPRESPONDER_MAX_EVENT_BYTES": "-1", "SPRESPONDER_NOPE": "1", "FUNCTIONS_CUSTOMHANDLER_PORT": "http",
	}))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"SPRESPONDER_MODE=\"yolo\"", "SPRESPONDER_KILL_SWITCH", "\"contoso\" is not a tenant id", "SPRESPONDER_MAX_EVENT_BYTES", "SPRESPONDER_NOPE: unknown setting", "FUNCTIONS_CUSTOMHANDLER_PORT"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestEnforceNeedsTenants(t *testing.T) {
	if _, err := Load(env(map[string]string{"SPRESPONDER_MODE": "enforce"})); err == nil {
		t.Fatal("enforce without tenants accepted")
	}
	c, err := Load(env(map[string]string{"SPRESPONDER_MODE": "enforce", "SPRESPONDER_TENANTS": "4BBB79F7-5724-4c9e-95f3-de075f6ec090"}))
	if err != nil || !c.Enforce || c.Tenants[0] != "4bbb79f7-5724-4c9e-95f3-de075f6ec090" {
		t.Fatalf("%+v %v", c, err)
	}
}

// TestREADMEListsEverySetting keeps the README's settings table generated
// from Settings (go test ./internal/config -update rewrites it).
func TestREADMEListsEverySetting(t *testing.T) {
	path := filepath.Join("..", "..", "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- settings:begin -->\n", "<!-- settings:end -->"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("README.md lacks the settings markers")
	}
	var tbl strings.Builder
	tbl.WriteString("| setting | default | meaning |\n|---|---|---|\n")
	for _, st := range Settings {
		tbl.WriteString("| `" + st.Name + "` | " + st.Default + " | " + st.Meaning + " |\n")
	}
	want := s[:i+len(begin)] + tbl.String() + s[j:]
	if want == s {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Error("README.md settings table is out of date: run go test ./internal/config -update")
}

func TestWebhookSecretsStayOutOfErrors(t *testing.T) {
	secret := "https://prod.example/workflows/abc?sig=SECRETSIG"
	_, err := Load(env(map[string]string{
		"SPRESPONDER_TEAMS_APP_WEBHOOKS": "not-a-guid=" + secret + ";6131d760-7fda-4db5-8bb1-b771898e9f15",
		"SPRESPONDER_TEAMS_WEBHOOK":      secret,
	}))
	if err == nil {
		t.Fatal("bad entries accepted")
	}
	if strings.Contains(err.Error(), "SECRETSIG") {
		t.Fatalf("a webhook URL leaked into the error: %v", err)
	}
	c, err := Load(env(map[string]string{
		"SPRESPONDER_TEAMS_APP_WEBHOOKS": "6131D760-7fda-4db5-8bb1-b771898e9f15=" + secret,
		"SPRESPONDER_SECURITY_CONTACT":   "sec@contoso.com",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.TeamsAppWebhooks["6131d760-7fda-4db5-8bb1-b771898e9f15"] != secret || len(c.Secrets()) != 1 {
		t.Fatalf("app webhooks %v secrets %d", c.TeamsAppWebhooks, len(c.Secrets()))
	}
}

func TestTeamsSignInAndCheckSettings(t *testing.T) {
	const hook = "https://prod.example/workflows/abc?sig=SECRETSIG"
	const token = "eyJhbGciOiJSUzI1NiJ9.TOKENSECRET.sig"
	c, err := Load(env(map[string]string{"SPRESPONDER_TEAMS_WEBHOOK": hook, "SPRESPONDER_SECURITY_CONTACT": "sec@contoso.com", "SPRESPONDER_TEAMS_BEARER_TOKEN": token}))
	if err != nil || c.TeamsBearerToken != token || c.StartupCheckTimeout != 5*time.Second || c.ARMURL != "https://management.azure.com" {
		t.Fatalf("%+v %v", c, err)
	}
	if !slices.Contains(c.Secrets(), token) {
		t.Error("the bearer token is not among the secrets")
	}
	_, err = Load(env(map[string]string{
		"SPRESPONDER_TEAMS_WEBHOOK": hook, "SPRESPONDER_SECURITY_CONTACT": "sec@contoso.com",
		"SPRESPONDER_TEAMS_BEARER_TOKEN": "Bearer " + token, "SPRESPONDER_TEAMS_TOKEN_AUDIENCE": "not a uri",
		"SPRESPONDER_ARM_URL": "http://arm.example", "SPRESPONDER_STARTUP_CHECK_TIMEOUT": "5m",
	}))
	for _, want := range []string{"set one or the other", "spaces or line breaks", "SPRESPONDER_TEAMS_TOKEN_AUDIENCE=", "SPRESPONDER_ARM_URL", "SPRESPONDER_STARTUP_CHECK_TIMEOUT"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "TOKENSECRET") {
		t.Errorf("the token leaked into the error: %v", err)
	}
	if _, err := Load(env(map[string]string{"SPRESPONDER_TEAMS_TOKEN_AUDIENCE": "api://flow"})); err == nil || !strings.Contains(err.Error(), "set only with a Teams webhook") {
		t.Errorf("audience without webhook: %v", err)
	}
	if c, err := Load(env(map[string]string{"SPRESPONDER_STARTUP_CHECK_TIMEOUT": "0s"})); err != nil || c.StartupCheckTimeout != 0 {
		t.Errorf("startup check off: %+v %v", c.StartupCheckTimeout, err)
	}
}
