// Package config reads the responder's settings from the environment (in
// Azure: the Function App's application settings). It is strict: every
// SPRESPONDER_* variable must be one this package knows, values are checked
// once, here, with cross-field rules, and an error names the setting and
// how to fix it. A typo in a kill switch must stop the process, not be
// ignored.
package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Setting documents one application setting. The README's table is
// generated from the same list (TestREADMEListsEverySetting keeps them in
// step).
type Setting struct {
	Name    string
	Default string
	Meaning string
}

// Settings lists every setting the responder reads.
var Settings = []Setting{
	{"FUNCTIONS_CUSTOMHANDLER_PORT", "(set by the host)", "Loopback port the Functions host expects the handler on; `serve --port` overrides it."},
	{"SPRESPONDER_MODE", "dry-run", "`dry-run` plans and records every write without making it; `enforce` makes the writes. Dry-run until a person switches it."},
	{"SPRESPONDER_KILL_SWITCH", "false", "`true` stops every write to the tenant at once (notifications still go out). Changing an app setting restarts the app: no redeploy."},
	{"SPRESPONDER_REPLAY_EXECUTE", "false", "`true` lets the Replay HTTP function execute replays (`execute=true`) even while SPRESPONDER_MODE is dry-run. Off: an HTTP replay executes only when the service itself enforces; nothing a caller sends turns dry-run into enforce."},
	{"SPRESPONDER_NOTIFY_DEADLINE", "5s", "How long an incident's run waits for Teams, email and the pager before it moves on; what is not delivered by then is sent by the Sweep timer."},
	{"WEBSITE_AUTH_ENABLED", "(set by the platform)", "App Service Authentication is on: the Replay function then records the signed-in caller from the X-MS-CLIENT-PRINCIPAL headers; otherwise it records \"function key holder\" and the client address."},
	{"SPRESPONDER_ACT_URL", "(empty)", "The Function App's public base URL (https://<app>.azurewebsites.net). Set: cards and mails carry action links to `<url>/api/act` (approve a held removal, false positive, rotated), and the act page answers. Empty: no links."},
	{"SPRESPONDER_ACT_KEY", "(empty)", "The action links' signing key (HMAC-SHA256), base64 of at least 32 bytes (`openssl rand -base64 32`); the deployment fills it from Key Vault. A secret: never logged. Required with SPRESPONDER_ACT_URL."},
	{"SPRESPONDER_ACT_KEY_PREVIOUS", "(empty)", "The signing key before a rotation: links it signed stay valid until they expire. A secret."},
	{"SPRESPONDER_ACT_TTL", "24h", "How long an action link works (5m to 7d). Each decision link works once."},
	{"SPRESPONDER_ACT_GROUP", "(empty)", "Object id of the security group whose members may decide from an action link for any app (checked transitively in Graph, permission GroupMember.Read.All); the app's owners may always decide for their app. Empty: owners only."},
	{"SPRESPONDER_BATCH_ATTEMPTS", "6", "Invocations of one Event Hubs batch the host makes (1 + the EntraLogs retry policy's maxRetryCount). The responder counts them per partition and first sequence number in the ledger; at this count (or when the host's retry context says so) a batch that is still not durable pages on-call with the range to replay."},
	{"SPRESPONDER_TENANTS", "(empty)", "Comma-separated tenant ids whose records are acted on; records of other tenants are quarantined. Required in enforce mode."},
	{"SPRESPONDER_MAX_EVENT_BYTES", "2097152", "Largest event body processed; larger events are quarantined whole."},
	{"SPRESPONDER_MAX_INVOCATION_BYTES", "(derived)", "Largest invocation body accepted; a larger one is refused unread (413). Default: host.json `maxEventBatchSize` x 1 MB (Event Hubs' largest event) x 2 (JSON escaping) + 1 MB, 201 MiB as shipped."},
	{"SPRESPONDER_MAX_BYTES_IN_FLIGHT", "(derived)", "Memory budget of the invocations being read and processed at once, each charged 2.5 x its body; past it an invocation waits for room, then answers 503. Default: half the instance memory (cgroup limit, else 2 GiB). Plus 128 MiB, it is also the Go soft memory limit unless GOMEMLIMIT is set."},
	{"SPRESPONDER_FAILED_SECRET_THRESHOLD", "3", "Failed client-secret sign-ins of one key within a batch that make a failedSecretSignIns signal."},
	{"SPRESPONDER_FAILED_SECRET_CODES", "7000215,7000222", "Sign-in error codes that mean an invalid or expired client secret."},
	{"SPRESPONDER_STATE_DIR", ".spresponder", "Local directory for the embedded ledger and quarantine (CLI, demo, local runs)."},
	{"SPRESPONDER_RULES", "(built-in default)", "Path of the rules file (YAML): which signals lead to which actions, protected apps, allowed networks. `spresponder rules` prints the default."},
	{"SPRESPONDER_BREAKER_LIMIT", "5", "Blast-radius breaker: writes to the tenant (credential removals, confirmCompromised, disable) allowed per window, tenant-wide, counted in the ledger across instances; past it incidents are notify-only and on-call is paged. 0 allows none."},
	{"SPRESPONDER_BREAKER_WINDOW", "1h", "The breaker's window."},
	{"SPRESPONDER_LEDGER", "file", "`file` (embedded store under SPRESPONDER_STATE_DIR) or `blob` (Azure Blob Storage, shared by all instances: use it in Azure)."},
	{"SPRESPONDER_LEDGER_ACCOUNT_URL", "(empty)", "Blob endpoint of the ledger's storage account, e.g. https://acct.blob.core.windows.net (managed identity; role Storage Blob Data Contributor). Required with SPRESPONDER_LEDGER=blob."},
	{"SPRESPONDER_LEDGER_CONTAINER", "spresponder-ledger", "Blob container of the ledger."},
	{"SPRESPONDER_GRAPH_URL", "https://graph.microsoft.com/v1.0", "Microsoft Graph base URL (tests and the demo point it at the simulated tenant)."},
	{"SPRESPONDER_MANAGED_IDENTITY_CLIENT_ID", "(empty)", "Client id of the user-assigned managed identity for Graph, Storage and (`consume`) Event Hubs; empty uses DefaultAzureCredential (system-assigned identity in Azure; on AKS, workload identity through AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE)."},
	{"SPRESPONDER_TEAMS_WEBHOOK", "(empty)", "Teams Workflows webhook URL for incident cards. A secret: never logged."},
	{"SPRESPONDER_TEAMS_APP_WEBHOOKS", "(empty)", "Per-app Teams webhooks, `appId=url` pairs separated by `;`: the card also goes to the owning team's channel. Secrets: never logged."},
	{"SPRESPONDER_TEAMS_BEARER_TOKEN", "(empty)", "For Workflows flows that require sign-in: a bearer token sent as `Authorization: Bearer ...` with every Teams post. A secret: never logged. Prefer SPRESPONDER_TEAMS_TOKEN_AUDIENCE (a token that does not expire in an app setting); set one or the other."},
	{"SPRESPONDER_TEAMS_TOKEN_AUDIENCE", "(empty)", "For Workflows flows that require sign-in: the audience (resource) to get a managed-identity token for; each Teams post carries it as `Authorization: Bearer ...`. The audience the flow expects is the flow's setting (UNVERIFIED for Power Automate: check the trigger's authentication)."},
	{"SPRESPONDER_MAIL_FROM", "(empty)", "Mailbox (UPN or id) the owner emails are sent from through Graph sendMail (permission Mail.Send)."},
	{"SPRESPONDER_SECURITY_CONTACT", "(empty)", "Comma-separated security addresses: always copied, and the only recipients for apps without a reachable owner. Required when email is on."},
	{"SPRESPONDER_PAGER_WEBHOOK", "(empty)", "On-call webhook (JSON) for incidents that need a human. A secret: never logged."},
	{"SPRESPONDER_HUB_CONNECTION_STRING", "(empty)", "`replay --hub`, `selftest`, `consume` and the use reader against the emulator or for development: an Event Hubs connection string. Empty: the namespace (`EntraEventHub__fullyQualifiedNamespace`, for `consume` SPRESPONDER_CONSUME_NAMESPACE) with the managed identity or your login. A secret."},
	{"SPRESPONDER_SECURITY_PHONE_WEBHOOK", "(empty)", "Webhook (JSON, the on-call page's shape) that phones the security contact, for the tiers whose rules-file reach section says `phone: true`; required when one does. A secret: never logged."},
	{"SPRESPONDER_ARM_URL", "https://management.azure.com", "Azure Resource Manager endpoint `spresponder check` reads Entra's diagnostic settings from (tests point it at a local server)."},
	{"SPRESPONDER_STARTUP_CHECK_TIMEOUT", "5s", "`serve` runs `spresponder check` in the background at start-up and logs one summary line; this bounds it. `0s` turns it off."},
	{"SPRESPONDER_STAGE_DEADLINE", "60s", "How long one run of an incident's stages may take before it is parked for the timer."},
	{"SPRESPONDER_RECONCILE", "true", "`true`: every Sweep asks Graph for the service-principal risk detections and risky service principals changed since the watermark in the ledger and handles what the stream missed (permissions IdentityRiskEvent.Read.All and IdentityRiskyServicePrincipal.Read.All, which verification needs anyway)."},
	{"SPRESPONDER_RECONCILE_OVERLAP", "5m", "How far before the watermark a reconcile round starts, for changes Graph shows late; what the overlap lists again is a duplicate in the ledger."},
	{"SPRESPONDER_RECONCILE_LOOKBACK", "24h", "How far back the first reconcile round (no watermark yet) looks."},
	{"SPRESPONDER_RECONCILE_PACE", "1s", "Wait between two Graph page requests of a reconcile round: identity protection allows about one request per second per tenant. `0s` does not wait (the simulated tenant)."},
	{"SPRESPONDER_RISK_API_RATE", "1", "This instance's share, in requests per second, of the tenant's identity protection and Conditional Access limit (about one request per second per tenant, shared by every app, 429 without Retry-After): verify's risk reads, reconcile, replay and the Conditional Access cache all draw from it. With several instances give each 1 divided by how many may run at once. A read whose turn would come after its incident's deadline is not sent: the incident is parked (\"queued ... behind N request(s)\") and re-driven. After a 429 every request of the instance pauses, 2s doubling to 1m."},
	{"SPRESPONDER_RISK_API_BURST", "2", "How many of those requests may go back to back after a quiet spell; 2 lets one incident's detection and risky service principal reads go together."},
	{"SPRESPONDER_CA_CACHE_MAX_AGE", "10m", "Oldest copy of the Conditional Access policies and named locations a verdict is computed from. The Sweep refreshes them every run and an audit record of a policy or named location change marks them stale; an older or stale copy is read again first, and when that read fails the verdict is cannotEvaluate (or the incident parks), never computed from an older copy."},
	{"SPRESPONDER_HEARTBEAT_SIGNINS", "30m", "On-call is paged once when no ServicePrincipalSignInLogs record has arrived for this long, and told when they flow again; checked on the Sweep. `0s` turns it off."},
	{"SPRESPONDER_HEARTBEAT_RISK", "0s", "The same for ServicePrincipalRiskEvents and RiskyServicePrincipals; off by default, since a healthy tenant can go days without a risk record (7d is a sensible value)."},
	{"SPRESPONDER_HEARTBEAT_AUDIT", "0s", "The same for AuditLogs; off by default."},
	// `spresponder consume` only (consume.go).
	{"SPRESPONDER_CONSUME_NAMESPACE", "(empty)", "`consume`: fully qualified Event Hubs namespace (`<name>.servicebus.windows.net`) read with the identity (role Azure Event Hubs Data Receiver). Required by `consume` unless SPRESPONDER_HUB_CONNECTION_STRING is set."},
	{"SPRESPONDER_CONSUME_HUB", "(empty)", "`consume`: the event hub the Entra diagnostic setting streams to. Required by `consume`."},
	{"SPRESPONDER_CONSUME_CONSUMER_GROUP", "$Default", "`consume`: the consumer group. Give `consume` a group of its own: its receivers hold each partition exclusively, so a Function App or an on-call `replay --hub` on the same group would be detached."},
	{"SPRESPONDER_CONSUME_CHECKPOINT_ACCOUNT_URL", "(the ledger's)", "`consume`: blob endpoint of the storage account that keeps partition ownership and checkpoints (role Storage Blob Data Contributor). Default: SPRESPONDER_LEDGER_ACCOUNT_URL."},
	{"SPRESPONDER_CONSUME_CHECKPOINT_CONTAINER", "spresponder-checkpoints", "`consume`: blob container of partition ownership and checkpoints."},
	{"SPRESPONDER_CONSUME_START", "latest", "`consume`: where a partition with no checkpoint starts, `latest` or `earliest`. `latest`, like the Function App's `fromEnd`: a new consumer does not act on the hub's retained history by itself."},
	{"SPRESPONDER_CONSUME_BATCH_SIZE", "100", "`consume`: most events handed to the pipeline at once per partition (host.json's maxEventBatchSize)."},
	{"SPRESPONDER_CONSUME_MAX_WAIT", "500ms", "`consume`: how long a partition waits to fill a batch before handing on what it has; an event waits at most this long."},
	{"SPRESPONDER_CONSUME_UPDATE_INTERVAL", "10s", "`consume`: how often an instance renews its partitions and claims its share of the others (the Processor's load balancing)."},
	{"SPRESPONDER_CONSUME_OWNERSHIP_EXPIRY", "60s", "`consume`: a partition whose owner has not renewed it for this long is taken over by another instance (after a crash; a clean stop gives partitions up at once). At least twice SPRESPONDER_CONSUME_UPDATE_INTERVAL."},
	{"SPRESPONDER_CONSUME_SWEEP_INTERVAL", "2m", "`consume`: how often each instance runs the Sweep (re-drive, reconcile, heartbeat) that the Function App's timer runs; `0s` when a Function App still sweeps the same ledger."},
	{"SPRESPONDER_USAGE_CONSUMER_GROUP", "(empty)", "Consumer group of the Entra event hub that the use of a leaked credential (sign-ins with its key since the detection) is read through, from the hub's retained events, read only and without checkpoints; one of its own, never the Function App's. Empty: the hub is not read for use."},
	{"SPRESPONDER_USAGE_WORKSPACE", "(empty)", "Log Analytics workspace id (a GUID) that receives the tenant's ServicePrincipalSignInLogs: the use of a leaked credential is also read from AADServicePrincipalSignInLogs there (managed identity; role Log Analytics Reader on the workspace). Empty: not read."},
	{"SPRESPONDER_USAGE_LOGANALYTICS_URL", "https://api.loganalytics.io/v1", "Log Analytics query API endpoint (tests and the demo point it at a local server)."},
	{"SPRESPONDER_USAGE_DEADLINE", "10s", "How long reading the use of a credential may take after containment, before the notice; what is not read by then is said (\"not read in time\"), and `spresponder investigate ID --refresh` reads it without this bound."},
	{"SPRESPONDER_USAGE_MAX_BYTES", "268435456", "Most bytes of retained events one read of the hub for the use of a credential takes (with at most 50000 events and 7 days); past it the use says it is partial."},
	{"SPRESPONDER_USAGE_WATCH", "7d", "For how long after an incident opens every sign-in with its keys that arrives in the stream is attached to it, and a success after the key's removal pages on-call. `0s` turns it off."},
	{"SPRESPONDER_LOG_LEVEL", "info", "debug, info, warn or error. Logs are JSON on stdout (the host records stderr as errors)."},
	{"SPRESPONDER_SHUTDOWN_TIMEOUT", "30s", "How long SIGTERM waits for invocations in flight."},
}

// Config is the validated configuration.
type Config struct {
	Port                  int
	Enforce               bool
	KillSwitch            bool
	ReplayExecute         bool
	BatchAttempts         int
	NotifyDeadline        time.Duration
	EasyAuth              bool
	Tenants               []string
	MaxEventBytes         int
	MaxInvocationBytes    int64 // 0: derived from host.json (server.LimitsFor)
	MaxBytesInFlight      int64 // 0: derived from the instance memory
	FailedSecretThreshold int
	FailedSecretCodes     []int
	StateDir              string
	LogLevel              string
	ShutdownTimeout       time.Duration

	RulesFile        string
	BreakerLimit     int
	BreakerWindow    time.Duration
	Ledger           string
	LedgerAccountURL string
	LedgerContainer  string
	GraphURL         string
	ManagedIdentity  string
	TeamsWebhook     string
	TeamsAppWebhooks map[string]string
	MailFrom         string
	SecurityContacts []string
	PagerWebhook     string
	PhoneWebhook     string
	StageDeadline    time.Duration

	// Reconcile and heartbeat (internal/reconcile).
	Reconcile         bool
	ReconcileOverlap  time.Duration
	ReconcileLookback time.Duration
	ReconcilePace     time.Duration
	HeartbeatSignIns  time.Duration
	HeartbeatRisk     time.Duration
	HeartbeatAudit    time.Duration

	// The identity protection and Conditional Access budget (internal/budget)
	// and the Conditional Access cache's max age (capolicy.Networks).
	RiskAPIRate   float64
	RiskAPIBurst  int
	CACacheMaxAge time.Duration

	// TeamsBearerToken and TeamsTokenAudience feed the Authorization header
	// of flows that require sign-in (at most one is set).
	TeamsBearerToken    string
	TeamsTokenAudience  string
	ARMURL              string
	StartupCheckTimeout time.Duration

	// Act is the action links' configuration (act.go).
	Act ActConfig

	// Consume holds the settings of `spresponder consume` (consume.go).
	Consume Consume

	// The use of a leaked credential (internal/usage).
	UsageConsumerGroup   string
	UsageWorkspace       string
	UsageLogAnalyticsURL string
	UsageDeadline        time.Duration
	UsageMaxBytes        int64
	UsageWatch           time.Duration
}

// Secrets lists the configured values that must never appear in a log
// line or an error.
func (c Config) Secrets() []string {
	var out []string
	for _, s := range []string{c.TeamsWebhook, c.PagerWebhook, c.PhoneWebhook, c.TeamsBearerToken} {
		if s != "" {
			out = append(out, s)
		}
	}
	for _, u := range c.TeamsAppWebhooks {
		out = append(out, u)
	}
	return append(out, c.Act.Secrets()...)
}

// Getenv is the lookup Load reads through (os.LookupEnv in production).
type Getenv func(string) (string, bool)

// Environ lists variable names, for the unknown-setting check.
type Environ func() []string

// FromOS returns the process environment accessors.
func FromOS() (Getenv, Environ) { return os.LookupEnv, os.Environ }

// Load reads and validates the configuration.
func Load(get Getenv, environ Environ) (Config, error) {
	var errs []error
	known := map[string]bool{}
	for _, s := range Settings {
		known[s.Name] = true
	}
	for _, kv := range environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "SPRESPONDER_") && !known[name] {
			errs = append(errs, fmt.Errorf("%s: unknown setting (known: %s)", name, knownList()))
		}
	}
	val := func(name string) string {
		if v, ok := get(name); ok {
			return strings.TrimSpace(v)
		}
		for _, s := range Settings {
			if s.Name == name && !strings.HasPrefix(s.Default, "(") {
				return s.Default
			}
		}
		return ""
	}
	c := Config{StateDir: val("SPRESPONDER_STATE_DIR"), LogLevel: strings.ToLower(val("SPRESPONDER_LOG_LEVEL"))}

	if p := val("FUNCTIONS_CUSTOMHANDLER_PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("FUNCTIONS_CUSTOMHANDLER_PORT=%q: want a TCP port number", p))
		}
		c.Port = n
	}
	switch m := strings.ToLower(val("SPRESPONDER_MODE")); m {
	case "dry-run", "dryrun":
	case "enforce":
		c.Enforce = true
	default:
		errs = append(errs, fmt.Errorf("SPRESPONDER_MODE=%q: want dry-run or enforce", m))
	}
	ks, err := strconv.ParseBool(val("SPRESPONDER_KILL_SWITCH"))
	if err != nil {
		errs = append(errs, fmt.Errorf("SPRESPONDER_KILL_SWITCH=%q: want true or false", val("SPRESPONDER_KILL_SWITCH")))
	}
	c.KillSwitch = ks
	if re, err := strconv.ParseBool(val("SPRESPONDER_REPLAY_EXECUTE")); err != nil {
		errs = append(errs, fmt.Errorf("SPRESPONDER_REPLAY_EXECUTE=%q: want true or false", val("SPRESPONDER_REPLAY_EXECUTE")))
	} else {
		c.ReplayExecute = re
	}
	if d, err := time.ParseDuration(val("SPRESPONDER_NOTIFY_DEADLINE")); err != nil || d <= 0 || d > 2*time.Minute {
		errs = append(errs, fmt.Errorf("SPRESPONDER_NOTIFY_DEADLINE=%q: want a duration between 0 and 2m, such as 5s", val("SPRESPONDER_NOTIFY_DEADLINE")))
	} else {
		c.NotifyDeadline = d
	}
	if n, err := strconv.Atoi(val("SPRESPONDER_BATCH_ATTEMPTS")); err != nil || n < 1 || n > 100 {
		errs = append(errs, fmt.Errorf("SPRESPONDER_BATCH_ATTEMPTS=%q: want a whole number from 1 to 100 (1 + the host's maxRetryCount)", val("SPRESPONDER_BATCH_ATTEMPTS")))
	} else {
		c.BatchAttempts = n
	}
	// Set by App Service, not by us: a value we cannot read means off.
	c.EasyAuth, _ = strconv.ParseBool(val("WEBSITE_AUTH_ENABLED"))
	for _, t := range strings.Split(val("SPRESPONDER_TENANTS"), ",") {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" {
			continue
		}
		if !isGUID(t) {
			errs = append(errs, fmt.Errorf("SPRESPONDER_TENANTS: %q is not a tenant id (a GUID)", t))
			continue
		}
		c.Tenants = append(c.Tenants, t)
	}
	if c.Enforce && len(c.Tenants) == 0 {
		errs = append(errs, errors.New("SPRESPONDER_TENANTS: required when SPRESPONDER_MODE=enforce (the responder must know whose credentials it may remove)"))
	}
	c.MaxEventBytes = intSetting(&errs, val, "SPRESPONDER_MAX_EVENT_BYTES", 1024, 1<<30)
	if val("SPRESPONDER_MAX_INVOCATION_BYTES") != "" {
		c.MaxInvocationBytes = int64(intSetting(&errs, val, "SPRESPONDER_MAX_INVOCATION_BYTES", 1<<20, 4<<30))
	}
	if val("SPRESPONDER_MAX_BYTES_IN_FLIGHT") != "" {
		c.MaxBytesInFlight = int64(intSetting(&errs, val, "SPRESPONDER_MAX_BYTES_IN_FLIGHT", 16<<20, 1<<40))
	}
	c.FailedSecretThreshold = intSetting(&errs, val, "SPRESPONDER_FAILED_SECRET_THRESHOLD", 1, 1_000_000)
	for _, s := range strings.Split(val("SPRESPONDER_FAILED_SECRET_CODES"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("SPRESPONDER_FAILED_SECRET_CODES: %q is not an error code", s))
			continue
		}
		c.FailedSecretCodes = append(c.FailedSecretCodes, n)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		errs = append(errs, fmt.Errorf("SPRESPONDER_LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel))
	}
	d, err := time.ParseDuration(val("SPRESPONDER_SHUTDOWN_TIMEOUT"))
	if err != nil || d <= 0 {
		errs = append(errs, fmt.Errorf("SPRESPONDER_SHUTDOWN_TIMEOUT=%q: want a positive duration such as 30s", val("SPRESPONDER_SHUTDOWN_TIMEOUT")))
	}
	c.ShutdownTimeout = d

	c.RulesFile = val("SPRESPONDER_RULES")
	n, err := strconv.Atoi(val("SPRESPONDER_BREAKER_LIMIT"))
	if err != nil || n < 0 {
		errs = append(errs, fmt.Errorf("SPRESPONDER_BREAKER_LIMIT=%q: want a whole number, 0 or more", val("SPRESPONDER_BREAKER_LIMIT")))
	}
	c.BreakerLimit = n
	c.BreakerWindow = durationSetting(&errs, val, "SPRESPONDER_BREAKER_WINDOW")
	c.StageDeadline = durationSetting(&errs, val, "SPRESPONDER_STAGE_DEADLINE")
	c.Ledger = strings.ToLower(val("SPRESPONDER_LEDGER"))
	c.LedgerAccountURL = val("SPRESPONDER_LEDGER_ACCOUNT_URL")
	c.LedgerContainer = val("SPRESPONDER_LEDGER_CONTAINER")
	switch c.Ledger {
	case "file":
	case "blob":
		if !strings.HasPrefix(c.LedgerAccountURL, "https://") && !strings.HasPrefix(c.LedgerAccountURL, "http://127.0.0.1") {
			errs = append(errs, fmt.Errorf("SPRESPONDER_LEDGER_ACCOUNT_URL=%q: SPRESPONDER_LEDGER=blob needs the account's https blob endpoint", c.LedgerAccountURL))
		}
	default:
		errs = append(errs, fmt.Errorf("SPRESPONDER_LEDGER=%q: want file or blob", c.Ledger))
	}
	c.GraphURL = val("SPRESPONDER_GRAPH_URL")
	if !strings.HasPrefix(c.GraphURL, "https://") && !strings.HasPrefix(c.GraphURL, "http://127.0.0.1") {
		errs = append(errs, fmt.Errorf("SPRESPONDER_GRAPH_URL=%q: want an https URL (or http://127.0.0.1 for the simulated tenant)", c.GraphURL))
	}
	c.ManagedIdentity = val("SPRESPONDER_MANAGED_IDENTITY_CLIENT_ID")
	c.TeamsWebhook = val("SPRESPONDER_TEAMS_WEBHOOK")
	c.PagerWebhook = val("SPRESPONDER_PAGER_WEBHOOK")
	c.PhoneWebhook = val("SPRESPONDER_SECURITY_PHONE_WEBHOOK")
	for _, pair := range strings.Split(val("SPRESPONDER_TEAMS_APP_WEBHOOKS"), ";") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		app, u, ok := strings.Cut(pair, "=")
		app = strings.ToLower(strings.TrimSpace(app))
		if !ok || !isGUID(app) || !strings.Contains(u, "://") {
			// Never echo the pair: its URL is a secret.
			errs = append(errs, fmt.Errorf("SPRESPONDER_TEAMS_APP_WEBHOOKS: an entry is not appId=url (appId %q)", truncateID(app)))
			continue
		}
		if c.TeamsAppWebhooks == nil {
			c.TeamsAppWebhooks = map[string]string{}
		}
		c.TeamsAppWebhooks[app] = strings.TrimSpace(u)
	}
	c.TeamsBearerToken = val("SPRESPONDER_TEAMS_BEARER_TOKEN")
	c.TeamsTokenAudience = val("SPRESPONDER_TEAMS_TOKEN_AUDIENCE")
	if c.TeamsBearerToken != "" && c.TeamsTokenAudience != "" {
		errs = append(errs, errors.New("SPRESPONDER_TEAMS_BEARER_TOKEN and SPRESPONDER_TEAMS_TOKEN_AUDIENCE: set one or the other, not both"))
	}
	if (c.TeamsBearerToken != "" || c.TeamsTokenAudience != "") && c.TeamsWebhook == "" && len(c.TeamsAppWebhooks) == 0 {
		errs = append(errs, errors.New("SPRESPONDER_TEAMS_BEARER_TOKEN / SPRESPONDER_TEAMS_TOKEN_AUDIENCE: set only with a Teams webhook (SPRESPONDER_TEAMS_WEBHOOK or SPRESPONDER_TEAMS_APP_WEBHOOKS)"))
	}
	if strings.ContainsAny(c.TeamsBearerToken, " \r\n") {
		// Never echo it: it is a secret.
		errs = append(errs, errors.New("SPRESPONDER_TEAMS_BEARER_TOKEN: the token has spaces or line breaks; give the token alone, without \"Bearer \""))
	}
	if a := c.TeamsTokenAudience; a != "" && !strings.Contains(a, "://") && !isGUID(strings.ToLower(a)) {
		errs = append(errs, fmt.Errorf("SPRESPONDER_TEAMS_TOKEN_AUDIENCE=%q: want a resource URI (https://... or api://...) or an application id", a))
	}
	c.ARMURL = val("SPRESPONDER_ARM_URL")
	if !strings.HasPrefix(c.ARMURL, "https://") && !strings.HasPrefix(c.ARMURL, "http://127.0.0.1") {
		errs = append(errs, fmt.Errorf("SPRESPONDER_ARM_URL=%q: want an https URL (or http://127.0.0.1 for a test server)", c.ARMURL))
	}
	if d, err := time.ParseDuration(val("SPRESPONDER_STARTUP_CHECK_TIMEOUT")); err != nil || d < 0 || d > 30*time.Second {
		errs = append(errs, fmt.Errorf("SPRESPONDER_STARTUP_CHECK_TIMEOUT=%q: want a duration from 0s (off) to 30s, such as 5s", val("SPRESPONDER_STARTUP_CHECK_TIMEOUT")))
	} else {
		c.StartupCheckTimeout = d
	}
	if rc, err := strconv.ParseBool(val("SPRESPONDER_RECONCILE")); err != nil {
		errs = append(errs, fmt.Errorf("SPRESPONDER_RECONCILE=%q: want true or false", val("SPRESPONDER_RECONCILE")))
	} else {
		c.Reconcile = rc
	}
	c.ReconcileOverlap = boundedDuration(&errs, val, "SPRESPONDER_RECONCILE_OVERLAP", time.Second, 24*time.Hour)
	c.ReconcileLookback = boundedDuration(&errs, val, "SPRESPONDER_RECONCILE_LOOKBACK", time.Minute, 90*24*time.Hour)
	c.ReconcilePace = boundedDuration(&errs, val, "SPRESPONDER_RECONCILE_PACE", 0, time.Minute)
	c.RiskAPIRate = rateSetting(&errs, val, "SPRESPONDER_RISK_API_RATE", 0.01, 20)
	c.RiskAPIBurst = intSetting(&errs, val, "SPRESPONDER_RISK_API_BURST", 1, 20)
	c.CACacheMaxAge = boundedDuration(&errs, val, "SPRESPONDER_CA_CACHE_MAX_AGE", time.Minute, 24*time.Hour)
	c.HeartbeatSignIns = boundedDuration(&errs, val, "SPRESPONDER_HEARTBEAT_SIGNINS", 0, 90*24*time.Hour)
	c.HeartbeatRisk = boundedDuration(&errs, val, "SPRESPONDER_HEARTBEAT_RISK", 0, 90*24*time.Hour)
	c.HeartbeatAudit = boundedDuration(&errs, val, "SPRESPONDER_HEARTBEAT_AUDIT", 0, 90*24*time.Hour)
	for _, name := range []string{"SPRESPONDER_HEARTBEAT_SIGNINS", "SPRESPONDER_HEARTBEAT_RISK", "SPRESPONDER_HEARTBEAT_AUDIT"} {
		// A silence of a few Sweep periods (the timer runs every 2 minutes)
		// would page between two batches of a quiet but healthy stream.
		if d, err := parseDays(val(name)); err == nil && d > 0 && d < 10*time.Minute {
			errs = append(errs, fmt.Errorf("%s=%q: want 0s (off) or at least 10m (the Sweep runs every 2 minutes and batches can be minutes apart)", name, val(name)))
		}
	}
	act, actErrs := loadAct(val)
	c.Act, errs = act, append(errs, actErrs...)
	loadUsage(&c, &errs, val)
	c.MailFrom = val("SPRESPONDER_MAIL_FROM")
	for _, a := range strings.Split(val("SPRESPONDER_SECURITY_CONTACT"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.SecurityContacts = append(c.SecurityContacts, a)
		}
	}
	loadConsume(&c, val, &errs)
	if (c.MailFrom != "" || c.TeamsWebhook != "" || len(c.TeamsAppWebhooks) > 0) && len(c.SecurityContacts) == 0 {
		errs = append(errs, errors.New("SPRESPONDER_SECURITY_CONTACT: required when notifications are on (it receives every incident, and those of apps without a reachable owner)"))
	}
	return c, errors.Join(errs...)
}

func intSetting(errs *[]error, val func(string) string, name string, lo, hi int) int {
	n, err := strconv.Atoi(val(name))
	if err != nil || n < lo || n > hi {
		*errs = append(*errs, fmt.Errorf("%s=%q: want a whole number from %d to %d", name, val(name), lo, hi))
	}
	return n
}

// rateSetting reads requests per second, a decimal number from lo to hi.
func rateSetting(errs *[]error, val func(string) string, name string, lo, hi float64) float64 {
	f, err := strconv.ParseFloat(val(name), 64)
	if err != nil || !(f >= lo && f <= hi) {
		*errs = append(*errs, fmt.Errorf("%s=%q: want requests per second from %g to %g, such as 1 or 0.25", name, val(name), lo, hi))
	}
	return f
}

func truncateID(s string) string {
	if len(s) > 36 {
		return s[:36] + "..."
	}
	return s
}

func durationSetting(errs *[]error, val func(string) string, name string) time.Duration {
	d, err := time.ParseDuration(val(name))
	if err != nil || d <= 0 {
		*errs = append(*errs, fmt.Errorf("%s=%q: want a positive duration such as 30s or 1h", name, val(name)))
	}
	return d
}

// parseDays is time.ParseDuration that also takes whole days ("7d"), the
// unit a heartbeat of a quiet category is thought in.
func parseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, fmt.Errorf("%q is not a number of days", v)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

// boundedDuration reads a duration (or whole days) from lo to hi.
func boundedDuration(errs *[]error, val func(string) string, name string, lo, hi time.Duration) time.Duration {
	d, err := parseDays(val(name))
	if err != nil || d < lo || d > hi {
		*errs = append(*errs, fmt.Errorf("%s=%q: want a duration from %s to %s, such as 30m or 7d", name, val(name), lo, hi))
	}
	return d
}

func knownList() string {
	var names []string
	for _, s := range Settings {
		if strings.HasPrefix(s.Name, "SPRESPONDER_") {
			names = append(names, s.Name)
		}
	}
	return strings.Join(names, ", ")
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
