package deploytest

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/config"
)

const root = "../.."

// notForAzure: settings the code reads that the Function App must not get
// from infra/, and why. Each must still be a setting config knows, so this
// list cannot outlive a removed setting.
var notForAzure = map[string]string{
	"FUNCTIONS_CUSTOMHANDLER_PORT":      "the Functions host sets it when it starts the handler",
	"SPRESPONDER_HUB_CONNECTION_STRING": "`replay --hub` against the emulator only; in Azure the namespace setting and the identity are used, and a connection string would be a key in an app setting",
	"WEBSITE_AUTH_ENABLED":              "App Service sets it when built-in authentication is on; a value set by hand would make the Replay function trust principal headers nobody checked",
	// `spresponder consume` runs outside the Function App (Container Apps,
	// AKS, a VM) and reads the hub itself; the Function App reads it through
	// its trigger, whose settings are the binding's (EntraEventHub__*).
	"SPRESPONDER_CONSUME_NAMESPACE":              consumeOnly,
	"SPRESPONDER_CONSUME_HUB":                    consumeOnly,
	"SPRESPONDER_CONSUME_CONSUMER_GROUP":         consumeOnly,
	"SPRESPONDER_CONSUME_CHECKPOINT_ACCOUNT_URL": consumeOnly,
	"SPRESPONDER_CONSUME_CHECKPOINT_CONTAINER":   consumeOnly,
	"SPRESPONDER_CONSUME_START":                  consumeOnly,
	"SPRESPONDER_CONSUME_BATCH_SIZE":             consumeOnly,
	"SPRESPONDER_CONSUME_MAX_WAIT":               consumeOnly,
	"SPRESPONDER_CONSUME_UPDATE_INTERVAL":        consumeOnly,
	"SPRESPONDER_CONSUME_OWNERSHIP_EXPIRY":       consumeOnly,
	"SPRESPONDER_CONSUME_SWEEP_INTERVAL":         consumeOnly,
}

const consumeOnly = "read only by `spresponder consume`, which runs outside the Function App (the Function App consumes through its Event Hubs trigger; a Processor in it would take the partitions from that trigger)"

// platform: settings the Functions platform reads (not the responder), which
// infra/ must set exactly so.
var platform = []string{
	// Identity-based host storage; AzureWebJobsStorage itself is set empty to
	// override the key-based string the azurerm provider writes.
	"AzureWebJobsStorage",
	"AzureWebJobsStorage__accountName",
	"AzureWebJobsStorage__credential",
	"AzureWebJobsStorage__clientId",
	// Telemetry signed with the user-assigned identity. The connection string
	// itself (APPLICATIONINSIGHTS_CONNECTION_STRING) comes from site_config.
	"APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}

// forbidden: settings that must never be set. FUNCTIONS_WORKER_RUNTIME and
// WEBSITE_RUN_FROM_PACKAGE are refused on Flex Consumption (the runtime and
// the package come from functionAppConfig); the connection string would
// bypass the provider's site_config property.
var forbidden = []string{"FUNCTIONS_WORKER_RUNTIME", "WEBSITE_RUN_FROM_PACKAGE", "APPLICATIONINSIGHTS_CONNECTION_STRING", "APPINSIGHTS_INSTRUMENTATIONKEY"}

type entry struct {
	name, expr string
	line       int
}

// infraAppSettings reads the keys and value expressions of
// `locals { app_settings = { ... } }` in infra/app_settings.tf. The file
// keeps one key per line (it says so); a value spanning lines fails here
// rather than being half-read.
func infraAppSettings(t *testing.T) []entry {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "infra", "app_settings.tf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	open := regexp.MustCompile(`^\s*app_settings\s*=\s*\{\s*$`)
	kv := regexp.MustCompile(`^\s*("?)([A-Za-z_][A-Za-z0-9_]*)("?)\s*=\s*(.+?)\s*$`)
	var out []entry
	in, done := false, false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case !in:
			in = open.MatchString(line)
		case trimmed == "}":
			in, done = false, true
		case trimmed == "" || strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, "//"):
		default:
			m := kv.FindStringSubmatch(line)
			if m == nil || m[1] != m[3] {
				t.Fatalf("infra/app_settings.tf:%d: not a one-line `KEY = value` entry: %q", n, line)
			}
			if strings.Count(m[4], "(")+strings.Count(m[4], "[")+strings.Count(m[4], "{") !=
				strings.Count(m[4], ")")+strings.Count(m[4], "]")+strings.Count(m[4], "}") {
				t.Fatalf("infra/app_settings.tf:%d: %s's value spans lines; keep one key per line", n, m[2])
			}
			out = append(out, entry{name: m[2], expr: m[4], line: n})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !done || len(out) == 0 {
		t.Fatal("infra/app_settings.tf: no `app_settings = {` block found")
	}
	return out
}

// bindingSettings returns the settings functions/*/function.json make the
// host read: %NAME% placeholders, and for each `connection` the
// identity-based connection settings (namespace, credential, client id of
// the user-assigned identity).
func bindingSettings(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "functions", "*", "function.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no functions/*/function.json (%v)", err)
	}
	placeholder := regexp.MustCompile(`%([A-Za-z_][A-Za-z0-9_]*)%`)
	set := map[string]bool{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var fn struct {
			Bindings []map[string]any `json:"bindings"`
		}
		if err := json.Unmarshal(b, &fn); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, bind := range fn.Bindings {
			for key, v := range bind {
				s, ok := v.(string)
				if !ok {
					continue
				}
				for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
					set[m[1]] = true
				}
				if key == "connection" && s != "" {
					for _, suffix := range []string{"__fullyQualifiedNamespace", "__credential", "__clientId"} {
						set[s+suffix] = true
					}
				}
			}
		}
	}
	return sortedKeys(set)
}

// secretSettings returns the names of the settings config treats as
// secrets (Config.Secrets), found by loading a configuration in which every
// setting's value carries its own name and seeing which come back.
func secretSettings(t *testing.T) []string {
	t.Helper()
	env := map[string]string{}
	for _, s := range config.Settings {
		// Shaped to pass the per-app webhook parser (appId=url) too.
		env[s.Name] = "00000000-0000-0000-0000-000000000001=https://example.invalid/" + s.Name
	}
	get := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	environ := func() []string {
		var kv []string
		for k, v := range env {
			kv = append(kv, k+"="+v)
		}
		return kv
	}
	cfg, _ := config.Load(get, environ) // most values are invalid on purpose; only Secrets matters
	var out []string
	for _, s := range config.Settings {
		for _, secret := range cfg.Secrets() {
			if strings.HasSuffix(secret, "/"+s.Name) {
				out = append(out, s.Name)
				break
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("config.Secrets() named no setting: the probe no longer works")
	}
	return out
}

// TestInfraSetsExactlyTheSettingsTheCodeReads: the Function App's settings
// are the responder's (internal/config) less those not for Azure, plus what
// the function bindings read, plus the platform's own; nothing missing,
// nothing extra.
func TestInfraSetsExactlyTheSettingsTheCodeReads(t *testing.T) {
	known := map[string]bool{}
	for _, s := range config.Settings {
		known[s.Name] = true
	}
	want := map[string]string{}
	for _, s := range config.Settings {
		if _, skip := notForAzure[s.Name]; !skip {
			want[s.Name] = "internal/config"
		}
	}
	for name := range notForAzure {
		if !known[name] {
			t.Errorf("notForAzure names %s, which internal/config no longer reads: drop it", name)
		}
	}
	for _, name := range bindingSettings(t) {
		want[name] = "functions/*/function.json"
	}
	for _, name := range platform {
		want[name] = "the Functions platform"
	}

	got := map[string]entry{}
	for _, e := range infraAppSettings(t) {
		if prev, dup := got[e.name]; dup {
			t.Errorf("infra/app_settings.tf:%d: %s set twice (also line %d)", e.line, e.name, prev.line)
		}
		got[e.name] = e
	}

	for _, name := range sortedKeys(want) {
		if _, ok := got[name]; !ok {
			t.Errorf("infra/app_settings.tf lacks %s (read by %s)", name, want[name])
		}
	}
	for _, name := range sortedKeys(got) {
		if _, ok := want[name]; !ok {
			why := "nothing reads it"
			if reason, ok := notForAzure[name]; ok {
				why = "it must not be set in Azure: " + reason
			}
			t.Errorf("infra/app_settings.tf:%d sets %s, but %s", got[name].line, name, why)
		}
	}
	for _, name := range forbidden {
		if e, ok := got[name]; ok {
			t.Errorf("infra/app_settings.tf:%d sets %s, which must never be set here", e.line, name)
		}
	}
}

// TestSecretSettingsAreKeyVaultReferences: every setting config treats as a
// secret reaches the app as a Key Vault reference (built in keyvault.tf),
// never as a value; and no setting carries a key.
func TestSecretSettingsAreKeyVaultReferences(t *testing.T) {
	got := map[string]entry{}
	for _, e := range infraAppSettings(t) {
		got[e.name] = e
	}
	for _, name := range secretSettings(t) {
		e, ok := got[name]
		if !ok {
			continue // not set in Azure at all (the other test decides whether that is right)
		}
		if !strings.HasPrefix(e.expr, "local.keyvault_reference.") {
			t.Errorf("infra/app_settings.tf:%d: %s is a secret (config.Secrets) but its value is %s, not a Key Vault reference (local.keyvault_reference.*)", e.line, name, e.expr)
		}
	}
	for _, e := range got {
		for _, key := range []string{"AccountKey=", "SharedAccessKey=", "InstrumentationKey=", "access_key", "primary_key", "connection_string"} {
			if strings.Contains(e.expr, key) {
				t.Errorf("infra/app_settings.tf:%d: %s's value mentions %q: no keys or connection strings in app settings", e.line, e.name, key)
			}
		}
	}
	// The Key Vault references are built from versionless secret ids, so a
	// rotated secret reaches the app without an apply.
	kv, err := os.ReadFile(filepath.Join(root, "infra", "keyvault.tf"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(kv), "@Microsoft.KeyVault(SecretUri=${s.versionless_id})"); n != len(secretSettings(t)) {
		t.Errorf("infra/keyvault.tf builds %d versionless Key Vault references, want one per secret setting (%v)", n, secretSettings(t))
	}
}

// TestAlwaysReadyNamesAFunction: Flex's always-ready groups name functions
// as function:<Name>; a renamed folder would silently leave the trigger
// cold.
func TestAlwaysReadyNamesAFunction(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "infra", "function.tf"))
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`"function:([A-Za-z0-9_]+)"`).FindAllStringSubmatch(string(b), -1)
	if len(names) == 0 {
		t.Fatal(`infra/function.tf names no always-ready "function:<Name>" group`)
	}
	for _, m := range names {
		if _, err := os.Stat(filepath.Join(root, "functions", m[1], "function.json")); err != nil {
			t.Errorf("infra/function.tf: always_ready names function:%s, but functions/%s/function.json does not exist", m[1], m[1])
		}
	}
	if !strings.Contains(string(b), "application_insights_connection_string") {
		t.Error("infra/function.tf: the App Insights connection string must come from site_config.application_insights_connection_string")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
