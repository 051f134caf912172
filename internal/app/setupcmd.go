package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/config"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/ledger"
	"github.com/spresponder/spresponder/internal/rules"
	"github.com/spresponder/spresponder/internal/setup"
)

const graphScope = "https://graph.microsoft.com/.default"

// runSetup is `spresponder setup`: run once by an administrator with their
// own sign-in. It prints the plan (the permissions the rules need, why,
// for which action, and whether each is granted; the Conditional Access
// block policy) and changes the tenant only with --apply.
func runSetup(ctx context.Context, args []string, env Env) error {
	fs := newFlags("setup", env)
	identity := fs.String("identity", "", "the responder's managed identity: its client id, or the object id of its service principal (default $SPRESPONDER_MANAGED_IDENTITY_CLIENT_ID)")
	apply := fs.Bool("apply", false, "make the changes; without it setup only prints the plan")
	enable := fs.Bool("enable", false, "create (or switch) the block policy enforcing; default report-only")
	noPolicy := fs.Bool("no-policy", false, "leave Conditional Access alone; grant permissions only")
	policyName := fs.String("policy-name", setup.DefaultPolicyName, "display name of the block policy setup creates and finds again")
	login := fs.String("login", "azcli", "how you sign in: azcli (your `az login`), browser, or device-code")
	tenant := fs.String("tenant", "", "tenant id to sign in to (default: your sign-in's; with SPRESPONDER_TENANTS, its first)")
	mail := fs.Bool("mail", false, "grant what owner email needs (Mail.Send, User.Read.All) even if SPRESPONDER_MAIL_FROM is not set here")
	if err := parseFlags(fs, args, env); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	log := NewLogger(env.Stderr, cfg.LogLevel)
	defer func() { _ = log.Sync() }()
	if *identity == "" {
		*identity = cfg.ManagedIdentity
	}
	if *identity == "" {
		return usageError{errors.New("--identity is required: the client id of the Function App's managed identity (or the object id of its service principal)")}
	}
	if *tenant == "" && len(cfg.Tenants) > 0 {
		*tenant = cfg.Tenants[0]
	}
	rs, err := loadRules(cfg)
	if err != nil {
		return err
	}
	gc := graph.Config{BaseURL: cfg.GraphURL}
	if isLoopback(cfg.GraphURL) {
		// The simulated tenant takes its static token; nobody signs in.
		gc.Credential = graph.StaticToken("simulated-tenant")
	} else {
		gc.Credential, err = adminCredential(*login, *tenant, env)
		if err != nil {
			return err
		}
	}
	gr, err := graph.New(gc)
	if err != nil {
		return err
	}
	needs := setup.Needs(rs, setup.Features{Mail: *mail || cfg.MailFrom != "", Act: cfg.Act.URL != "", ActGroup: cfg.Act.Group != ""})
	plan, err := setup.MakePlan(ctx, gr, setup.Options{Identity: *identity, Needs: needs, Policy: !*noPolicy, Enable: *enable, PolicyName: *policyName})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "rules: %s\n", rs.Source())
	if err := setup.WritePlan(env.Stdout, plan); err != nil {
		return err
	}
	changes := plan.Changes()
	if !*apply {
		if changes == 0 {
			fmt.Fprintln(env.Stdout, "\nnothing to change")
		} else {
			fmt.Fprintf(env.Stdout, "\nplan: %d change(s); nothing was changed: run again with --apply\n", changes)
		}
		return nil
	}
	if changes == 0 {
		fmt.Fprintln(env.Stdout, "\nnothing to change")
		return nil
	}
	done, aerr := plan.Apply(ctx, gr, log)
	fmt.Fprintf(env.Stdout, "\napplied %d of %d change(s):\n\n", done, changes)
	if err := setup.WritePlan(env.Stdout, plan); err != nil {
		return err
	}
	if aerr != nil {
		return fmt.Errorf("setup incomplete: %w", aerr)
	}
	fmt.Fprintln(env.Stdout, "\nnew grants can take a few minutes to reach the identity's tokens; then run `spresponder check` as the Function App")
	return nil
}

// adminCredential is the administrator's own sign-in for setup.
func adminCredential(login, tenant string, env Env) (azcore.TokenCredential, error) {
	var (
		c   azcore.TokenCredential
		err error
	)
	switch login {
	case "azcli":
		c, err = azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: tenant})
	case "browser":
		c, err = azidentity.NewInteractiveBrowserCredential(&azidentity.InteractiveBrowserCredentialOptions{TenantID: tenant})
	case "device-code":
		c, err = azidentity.NewDeviceCodeCredential(&azidentity.DeviceCodeCredentialOptions{TenantID: tenant,
			UserPrompt: func(_ context.Context, m azidentity.DeviceCodeMessage) error {
				fmt.Fprintln(env.Stderr, m.Message)
				return nil
			}})
	default:
		return nil, usageError{fmt.Errorf("--login %q: want azcli, browser or device-code", login)}
	}
	if err != nil {
		return nil, fmt.Errorf("sign-in (%s): %w", login, err)
	}
	return c, nil
}

// runCheck is `spresponder check`: the preflight check, as the responder's
// own identity. Exit 1 when something an enabled rule needs is missing.
func runCheck(ctx context.Context, args []string, env Env) error {
	fs := newFlags("check", env)
	format := fs.String("format", "text", "text (for people) or json (for pipelines)")
	timeout := fs.Duration("timeout", 30*time.Second, "bound on the whole check")
	if err := parseFlags(fs, args, env); err != nil {
		return usageError{err}
	}
	if *format != "text" && *format != "json" {
		return usageError{fmt.Errorf("--format %q: want text or json", *format)}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	log := NewLogger(env.Stderr, cfg.LogLevel)
	defer func() { _ = log.Sync() }()
	rs, err := loadRules(cfg)
	if err != nil {
		return err
	}
	ck, err := newChecker(cfg, rs)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep := ck.Run(ctx)
	if *format == "json" {
		err = rep.WriteJSON(env.Stdout)
	} else {
		err = rep.WriteText(env.Stdout)
	}
	if err != nil {
		return err
	}
	if rep.Failed() {
		return errors.New("something the enabled rules need is missing (see above)")
	}
	return nil
}

// responderCredential is the responder's own credential: the managed
// identity, or the static token the local test servers take.
func responderCredential(cfg config.Config, rawURL string) (azcore.TokenCredential, error) {
	if isLoopback(rawURL) {
		return graph.StaticToken("simulated-tenant"), nil
	}
	return azureCredential(cfg.ManagedIdentity)
}

// newChecker wires the check from the configuration.
func newChecker(cfg config.Config, rs *rules.Set) (*setup.Checker, error) {
	gcred, err := responderCredential(cfg, cfg.GraphURL)
	if err != nil {
		return nil, err
	}
	gc := graph.Config{BaseURL: cfg.GraphURL, Credential: gcred, RequestTimeout: 10 * time.Second}
	gr, err := graph.New(gc)
	if err != nil {
		return nil, err
	}
	armCred, err := responderCredential(cfg, cfg.ARMURL)
	if err != nil {
		return nil, err
	}
	ck := &setup.Checker{
		Needs:       setup.Needs(rs, setup.Features{Mail: cfg.MailFrom != "", Act: cfg.Act.URL != "", ActGroup: cfg.Act.Group != ""}),
		Containment: setup.Acts(rs, rules.RemoveCredential) || setup.Acts(rs, rules.ConfirmCompromised),
		CheckPolicy: setup.Acts(rs, rules.CheckPolicy),
		ClientID:    cfg.ManagedIdentity,
		GraphToken: func(ctx context.Context) (string, error) {
			t, err := gcred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{graphScope}})
			return t.Token, err
		},
		Directory:          gr,
		DiagnosticSettings: setup.DiagnosticSettingsReader(cfg.ARMURL, armCred, nil),
		Categories:         setup.Categories(rs),
		MailFrom:           cfg.MailFrom,
		Ledger:             ledgerProbe(cfg),
		Use:                useProbes(cfg, zap.NewNop(), time.Now),
		Dial:               (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
	}
	ck.Webhooks = append(ck.Webhooks, setup.Webhook{Name: "Teams", Setting: "SPRESPONDER_TEAMS_WEBHOOK", URL: cfg.TeamsWebhook})
	for app, u := range cfg.TeamsAppWebhooks {
		ck.Webhooks = append(ck.Webhooks, setup.Webhook{Name: "Teams (app " + app + ")", Setting: "SPRESPONDER_TEAMS_APP_WEBHOOKS", URL: u})
	}
	ck.Webhooks = append(ck.Webhooks, setup.Webhook{Name: "pager", Setting: "SPRESPONDER_PAGER_WEBHOOK", URL: cfg.PagerWebhook})
	if cfg.TeamsTokenAudience != "" {
		cred, err := azureCredential(cfg.ManagedIdentity)
		if err != nil {
			return nil, err
		}
		ck.TeamsToken = func(ctx context.Context) error {
			_, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{audienceScope(cfg.TeamsTokenAudience)}})
			return err
		}
	}
	return ck, nil
}

// ledgerProbe writes and deletes a probe next to the ledger: a blob under
// check/ (outside the incidents/ and quarantine/ prefixes the ledger
// lists), or a file in the file ledger's directory.
func ledgerProbe(cfg config.Config) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		name := "check/probe-" + hex.EncodeToString(b[:]) + ".txt"
		body := []byte("spresponder check: write probe, deleted right away\n")
		if cfg.Ledger != "blob" {
			dir := filepath.Join(cfg.StateDir, "ledger")
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return "", fmt.Errorf("create %s: %w", dir, err)
			}
			p := filepath.Join(dir, strings.ReplaceAll(name, "/", "-"))
			if err := os.WriteFile(p, body, 0o600); err != nil {
				return "", fmt.Errorf("write a probe in %s: %w", dir, err)
			}
			if err := os.Remove(p); err != nil {
				return "", fmt.Errorf("delete the probe in %s: %w", dir, err)
			}
			return "directory " + dir, nil
		}
		var (
			client *azblob.Client
			err    error
		)
		if isLoopback(cfg.LedgerAccountURL) {
			client, err = azblob.NewClientFromConnectionString(ledger.AzuriteConnectionString(cfg.LedgerAccountURL), nil)
		} else {
			var cred azcore.TokenCredential
			if cred, err = azureCredential(cfg.ManagedIdentity); err == nil {
				client, err = azblob.NewClient(cfg.LedgerAccountURL, cred, nil)
			}
		}
		if err != nil {
			return "", fmt.Errorf("blob client: %w", err)
		}
		where := "container " + cfg.LedgerContainer + " of " + hostOf(cfg.LedgerAccountURL)
		if _, err := client.UploadBuffer(ctx, cfg.LedgerContainer, name, body, nil); err != nil {
			return "", fmt.Errorf("write a probe blob in %s: %s", where, firstLine(err))
		}
		if _, err := client.DeleteBlob(ctx, cfg.LedgerContainer, name, nil); err != nil {
			return "", fmt.Errorf("delete the probe blob in %s: %s", where, firstLine(err))
		}
		return where, nil
	}
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the configured account"
	}
	return u.Scheme + "://" + u.Host
}

// firstLine keeps the first line of an SDK error (azblob's errors run to
// many lines with the request and response).
func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return strings.TrimSpace(s)
}

// startupCheck runs the check in the background at serve start-up, bounded
// by SPRESPONDER_STARTUP_CHECK_TIMEOUT, and logs ONE summary line. It never
// stops the service: the host waits for the port, not for the check.
func startupCheck(ctx context.Context, cfg config.Config, rs *rules.Set, log *zap.Logger) {
	if cfg.StartupCheckTimeout <= 0 {
		return
	}
	ck, err := newChecker(cfg, rs)
	if err != nil {
		log.Warn("startup check", zap.Bool("ok", false), zap.String("summary", "could not start: "+err.Error()))
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(ctx, cfg.StartupCheckTimeout)
		defer cancel()
		rep := ck.Run(ctx)
		lvl := zap.InfoLevel
		if rep.Failed() {
			lvl = zap.WarnLevel
		}
		log.Log(lvl, "startup check", zap.Bool("ok", !rep.Failed()), zap.String("summary", rep.Summary()),
			zap.String("details", "run `spresponder check` for how to fix"))
	}()
}
