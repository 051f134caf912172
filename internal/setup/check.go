package setup

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spresponder/spresponder/internal/capolicy"
	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/ids"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/notify"
)

// CheckDirectory is what check reads from Graph, as the responder's own
// identity.
type CheckDirectory interface {
	grantsReader
	SubscribedSkus(ctx context.Context) ([]directory.SubscribedSku, error)
}

// grantsReader is what setup and check both read: principals, their app
// role assignments, and the Conditional Access policies.
type grantsReader interface {
	PrincipalByAppID(ctx context.Context, appID string) (directory.Principal, error)
	PrincipalByID(ctx context.Context, id string) (directory.Principal, error)
	AppRoleAssignments(ctx context.Context, spID string) ([]directory.AppRoleAssignment, error)
	ConditionalAccessPolicies(ctx context.Context) ([]capolicy.Policy, error)
}

// Check statuses.
const (
	OK      = "ok"
	Missing = "missing"      // something needed is absent: fix it
	Warn    = "warn"         // works, but less than it could
	Cannot  = "cannot check" // the check itself could not run (a permission to read, a timeout)
)

// Result is one line of the check.
type Result struct {
	Check  string `json:"check"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
	// Required: an enabled rule needs this; Missing then fails the check.
	Required bool `json:"required"`
}

// Report is the whole check, in a fixed order.
type Report struct {
	Results []Result `json:"checks"`
}

// Failed reports whether anything an enabled rule needs is missing.
func (r Report) Failed() bool {
	return slices.ContainsFunc(r.Results, func(x Result) bool { return x.Required && x.Status == Missing })
}

// Summary is one line for a log: counts and the checks that are not OK.
func (r Report) Summary() string {
	var bad []string
	n := map[string]int{}
	for _, x := range r.Results {
		n[x.Status]++
		if x.Status != OK {
			bad = append(bad, x.Check+": "+x.Status)
		}
	}
	s := fmt.Sprintf("%d ok, %d missing, %d warnings, %d could not be checked", n[OK], n[Missing], n[Warn], n[Cannot])
	if len(bad) > 0 {
		s += " (" + strings.Join(bad, "; ") + ")"
	}
	return s
}

// WriteText prints the report for people: one line per check, and how to
// fix what is missing.
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, x := range r.Results {
		status := strings.ToUpper(x.Status)
		if x.Status == Missing && !x.Required {
			status = "MISSING (optional)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", status, x.Check, x.Detail)
		if x.Fix != "" && x.Status != OK {
			fmt.Fprintf(tw, "\t\tfix: %s\n", x.Fix)
		}
	}
	return tw.Flush()
}

// WriteJSON prints the report as one JSON document for pipelines.
func (r Report) WriteJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(struct {
		OK bool `json:"ok"`
		Report
	}{!r.Failed(), r})
}

// Webhook is a configured endpoint to check. URL is a secret: results name
// it by Setting and scheme://host only.
type Webhook struct {
	Name    string // "Teams", "pager"
	Setting string // the setting that holds it
	URL     string
}

// Checker holds what the checks need; nil parts are reported as not
// configured or skipped.
type Checker struct {
	// Needs are the permissions the enabled rules need.
	Needs []Need
	// Containment: some rule removes credentials or confirms compromise
	// (the licence is then required).
	Containment bool
	// CheckPolicy: some rule checks the block policy (the policy is then
	// required).
	CheckPolicy bool
	// ClientID is the managed identity's client id; empty: the identity is
	// found from the token's oid claim.
	ClientID string
	// GraphToken gets a token for Microsoft Graph with the responder's
	// credential.
	GraphToken func(ctx context.Context) (string, error)
	Directory  CheckDirectory
	// DiagnosticSettings reads Entra's diagnostic settings (ARM); nil
	// skips the check.
	DiagnosticSettings func(ctx context.Context) ([]DiagnosticSetting, error)
	// Categories are the log categories the rules need streamed.
	Categories []string
	Webhooks   []Webhook
	// TeamsToken gets a token for the Teams flow's audience, when one is
	// configured.
	TeamsToken func(ctx context.Context) error
	MailFrom   string
	// Ledger writes and deletes a probe; nil skips the check.
	Ledger func(ctx context.Context) (string, error)
	// Use probes the sources of the use of a credential (checkuse.go).
	Use func(ctx context.Context) []UseProbe
	// Dial checks that a host:port accepts TCP connections (DNS included).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Run runs every check at once, each bounded by ctx, and returns the
// results in a fixed order. It never fails: what cannot be checked is a
// result.
func (c *Checker) Run(ctx context.Context) Report {
	type part struct {
		run func(context.Context) []Result
		out []Result
	}
	parts := []*part{
		{run: c.directoryChecks},
		{run: c.diagnostic},
		{run: c.channels},
		{run: c.ledger},
		{run: c.use},
	}
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.out = p.run(ctx)
		}()
	}
	wg.Wait()
	var r Report
	for _, p := range parts {
		r.Results = append(r.Results, p.out...)
	}
	return r
}

// directoryChecks: the credential, the permissions, the licence and the
// block policy, in that order (each needs the one before to mean much).
func (c *Checker) directoryChecks(ctx context.Context) []Result {
	var out []Result
	if c.GraphToken == nil || c.Directory == nil {
		return []Result{{Check: "credential", Status: Cannot, Detail: "no Graph client configured", Required: true}}
	}
	tok, err := c.GraphToken(ctx)
	if err != nil {
		return []Result{{Check: "credential", Status: Missing, Required: true,
			Detail: "no token for Microsoft Graph: " + err.Error(),
			Fix:    "give the Function App a managed identity and set SPRESPONDER_MANAGED_IDENTITY_CLIENT_ID to its client id (user-assigned), or run where DefaultAzureCredential finds one"}}
	}
	out = append(out, Result{Check: "credential", Status: OK, Detail: "a token for Microsoft Graph", Required: true})
	out = append(out, c.permissions(ctx, tok)...)
	out = append(out, c.licence(ctx))
	out = append(out, c.policy(ctx))
	return out
}

func (c *Checker) permissions(ctx context.Context, token string) []Result {
	const name = "permissions"
	if len(c.Needs) == 0 {
		return []Result{{Check: name, Status: OK, Detail: "the rules take no action: no Graph permission needed"}}
	}
	me, err := c.self(ctx, token)
	if err != nil {
		return []Result{{Check: name, Status: Cannot, Required: true, Detail: "cannot find the responder's own service principal: " + err.Error(),
			Fix: "set SPRESPONDER_MANAGED_IDENTITY_CLIENT_ID; reading service principals needs Application.Read.All"}}
	}
	have, err := c.Directory.AppRoleAssignments(ctx, me.ID)
	if err != nil {
		return []Result{{Check: name, Status: Cannot, Required: true, Detail: "cannot read its app role assignments: " + err.Error(),
			Fix: "grant Application.Read.All (spresponder setup --apply)"}}
	}
	names := roleNames(ctx, c.Directory)
	var granted []string
	graphID := names["@resource"]
	for _, a := range have {
		// Only Microsoft Graph's roles count: other resources reuse role ids.
		onGraph := graphID != "" && strings.EqualFold(a.ResourceID, graphID) || graphID == "" && a.ResourceDisplayName == "Microsoft Graph"
		if n, ok := names[strings.ToLower(a.AppRoleID)]; ok && onGraph {
			granted = append(granted, n)
		}
	}
	var out []Result
	for _, n := range c.Needs {
		r := Result{Check: "permission " + n.Permission, Required: true, Detail: n.Why + " (" + strings.Join(n.Actions, ", ") + ")"}
		i := slices.IndexFunc(granted, func(g string) bool { return Satisfies(g, n.Permission) })
		if i >= 0 {
			r.Status = OK
			if !strings.EqualFold(granted[i], n.Permission) {
				r.Detail += "; granted through " + granted[i]
			}
		} else {
			r.Status = Missing
			r.Fix = fmt.Sprintf("spresponder setup --identity %s --apply (grants %s to %s)", me.AppID, n.Permission, me.DisplayName)
		}
		out = append(out, r)
	}
	return out
}

// roleNames maps Graph app role ids (lower case) to names, from the
// tenant's Microsoft Graph service principal, or the built-in table when
// it cannot be read. "@resource" holds Graph's object id when known.
func roleNames(ctx context.Context, d CheckDirectory) map[string]string {
	out := map[string]string{}
	for n, id := range KnownRoleIDs {
		out[id] = n
	}
	if gr, err := d.PrincipalByAppID(ctx, directory.MicrosoftGraphAppID); err == nil {
		for _, r := range gr.AppRoles {
			out[strings.ToLower(r.ID)] = r.Value
		}
		out["@resource"] = strings.ToLower(gr.ID)
	}
	return out
}

// self finds the responder's service principal: by the managed identity's
// client id, else by the object id the Graph token names (its oid claim).
func (c *Checker) self(ctx context.Context, token string) (directory.Principal, error) {
	if c.ClientID != "" {
		return c.Directory.PrincipalByAppID(ctx, c.ClientID)
	}
	oid, err := tokenOID(token)
	if err != nil {
		return directory.Principal{}, err
	}
	return c.Directory.PrincipalByID(ctx, oid)
}

// tokenOID reads the oid claim of a JWT without verifying it: it only
// says which principal to look up, and Graph itself answers for it.
func tokenOID(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("the token is not a JWT, so it does not name its principal (set SPRESPONDER_MANAGED_IDENTITY_CLIENT_ID)")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errors.New("the token's claims are not base64url")
	}
	var claims struct {
		OID string `json:"oid"`
	}
	if json.Unmarshal(b, &claims) != nil || !ids.IsGUID(claims.OID) {
		return "", errors.New("the token has no oid claim")
	}
	return claims.OID, nil
}

func (c *Checker) licence(ctx context.Context) Result {
	r := Result{Check: "licence", Required: c.Containment}
	skus, err := c.Directory.SubscribedSkus(ctx)
	if err != nil {
		r.Status, r.Detail, r.Fix = Cannot, "cannot read the subscribed SKUs: "+err.Error(), "grant Organization.Read.All (spresponder setup --apply)"
		return r
	}
	if ok, which := directory.WorkloadIdentityLicensed(skus); ok {
		r.Status, r.Detail = OK, "Workload Identities Premium ("+which+")"
		return r
	}
	r.Status = Missing
	if !c.Containment {
		r.Status = Warn
	}
	r.Detail = "no Workload Identities Premium: risk detections arrive with details hidden and Graph's risk APIs refuse, so detections cannot be verified " +
		"and no credential is removed (except for apps with unlicensedFallback in the rules); confirmCompromised and risk-based Conditional Access are unavailable; " +
		"security and on-call are still told, marked unverified"
	r.Fix = "buy Microsoft Entra Workload ID Premium for the tenant, or accept notify-only"
	return r
}

func (c *Checker) policy(ctx context.Context) Result {
	r := Result{Check: "conditional access", Required: c.CheckPolicy}
	ps, err := c.Directory.ConditionalAccessPolicies(ctx)
	if err != nil {
		r.Status, r.Detail, r.Fix = Cannot, "cannot read Conditional Access policies: "+err.Error(), "grant Policy.Read.All (spresponder setup --apply)"
		return r
	}
	v, excluded := Coverage(ps)
	switch v.Outcome {
	case incident.VerdictBlocked:
		// Evaluated for an unnamed service principal of the tenant, so
		// "this app" in the summary means any of them.
		r.Status, r.Detail = OK, "tenant-wide at risk high: "+v.Summary
		if len(excluded) > 0 {
			r.Detail += fmt.Sprintf("; it excludes %d service principal(s): %s", len(excluded), strings.Join(excluded, ", "))
		}
		return r
	case incident.VerdictReportOnly:
		r.Status, r.Detail = Missing, "only report-only policies would block high-risk service principals (report-only does not block): "+v.Summary
		r.Fix = "turn the policy on: spresponder setup --apply --enable (or in the Entra admin center)"
	case incident.VerdictCannotEvaluate:
		r.Status, r.Detail = Warn, v.Summary
	default:
		r.Status, r.Detail = Missing, "no enabled policy blocks high-risk service principals tenant-wide: "+v.Summary
		r.Fix = "spresponder setup --apply (report-only first), then --enable"
	}
	if !c.CheckPolicy && r.Status == Missing {
		r.Status = Warn
	}
	return r
}

// DiagnosticSetting is one of Entra's diagnostic settings
// (microsoft.aadiam/diagnosticSettings) as ARM lists it.
type DiagnosticSetting struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Properties struct {
		EventHubName                string `json:"eventHubName"`
		EventHubAuthorizationRuleID string `json:"eventHubAuthorizationRuleId"`
		Logs                        []struct {
			Category string `json:"category"`
			Enabled  bool   `json:"enabled"`
		} `json:"logs"`
	} `json:"properties"`
}

// ErrCannotRead is returned by a DiagnosticSettings reader refused by ARM.
var ErrCannotRead = errors.New("not allowed to read")

func (c *Checker) diagnostic(ctx context.Context) []Result {
	r := Result{Check: "diagnostic setting", Required: true}
	if c.DiagnosticSettings == nil {
		r.Status, r.Detail, r.Required = Cannot, "not checked", false
		return []Result{r}
	}
	ds, err := c.DiagnosticSettings(ctx)
	if err != nil {
		r.Status, r.Required = Cannot, false
		r.Detail = "cannot check: " + err.Error()
		if errors.Is(err, ErrCannotRead) {
			r.Detail = "cannot check: needs microsoft.aadiam/diagnosticSettings/read at /providers/Microsoft.aadiam (for example Security Reader or Monitoring Reader there)"
		}
		return []Result{r}
	}
	var missing, where []string
	for _, cat := range c.Categories {
		found := false
		for _, d := range ds {
			if d.Properties.EventHubAuthorizationRuleID == "" {
				continue // not streaming to an event hub
			}
			for _, l := range d.Properties.Logs {
				if l.Enabled && strings.EqualFold(l.Category, cat) {
					found = true
					where = append(where, cat+" -> "+cmpOr(d.Properties.EventHubName, "(default hub)")+" ("+d.Name+")")
				}
			}
		}
		if !found {
			missing = append(missing, cat)
		}
	}
	if len(missing) > 0 {
		r.Status = Missing
		r.Detail = "not streamed to an event hub: " + strings.Join(missing, ", ")
		r.Fix = "enable these categories in the diagnostic setting of Microsoft Entra ID (azurerm_monitor_aad_diagnostic_setting enabled_log) toward the responder's event hub"
	} else {
		r.Status, r.Detail = OK, strings.Join(slices.Compact(where), "; ")
	}
	return []Result{r}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// channels checks the notification channels without sending anything:
// configured, URL well formed, DNS and TCP reachable.
func (c *Checker) channels(ctx context.Context) []Result {
	var out []Result
	for _, w := range c.Webhooks {
		r := Result{Check: w.Name, Required: false}
		if w.URL == "" {
			r.Status, r.Detail = Warn, "not configured ("+w.Setting+")"
			out = append(out, r)
			continue
		}
		r.Required = true
		if err := notify.ValidateWebhookURL(w.URL); err != nil {
			r.Status, r.Detail, r.Fix = Missing, w.Setting+": "+err.Error(), "set "+w.Setting+" to the https URL of the flow"
			out = append(out, r)
			continue
		}
		u, _ := url.Parse(w.URL)
		shown := u.Scheme + "://" + u.Host
		port := u.Port()
		if port == "" {
			port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
		}
		if c.Dial == nil {
			r.Status, r.Detail = OK, "configured: "+shown+" (reachability not checked)"
		} else if conn, err := c.Dial(ctx, "tcp", net.JoinHostPort(u.Hostname(), port)); err != nil {
			r.Status, r.Detail = Missing, "configured ("+shown+") but not reachable: "+redactErr(err, w.URL)
			r.Fix = "check DNS and outbound network access of the Function App (VNet, firewall) to " + shown
		} else {
			_ = conn.Close()
			r.Status, r.Detail = OK, "configured and reachable: "+shown+" (nothing was sent)"
		}
		out = append(out, r)
	}
	if c.TeamsToken != nil {
		r := Result{Check: "Teams sign-in", Required: true}
		if err := c.TeamsToken(ctx); err != nil {
			r.Status, r.Detail = Missing, "no token for the flow's audience: "+err.Error()
			r.Fix = "check SPRESPONDER_TEAMS_TOKEN_AUDIENCE and that the managed identity may get tokens for it"
		} else {
			r.Status, r.Detail = OK, "a token for the flow's audience"
		}
		out = append(out, r)
	}
	r := Result{Check: "mail sender"}
	if c.MailFrom == "" {
		r.Status, r.Detail = Warn, "not configured (SPRESPONDER_MAIL_FROM): owners get no email"
	} else {
		r.Status, r.Detail, r.Required = OK, "configured: "+c.MailFrom+" (Mail.Send is checked with the permissions)", true
	}
	return append(out, r)
}

// redactErr keeps a dial error free of the URL (a dial error names host
// and port only, but the rule is one: never the URL).
func redactErr(err error, secret string) string {
	return strings.ReplaceAll(err.Error(), secret, "[REDACTED]")
}

func (c *Checker) ledger(ctx context.Context) []Result {
	r := Result{Check: "ledger", Required: true}
	if c.Ledger == nil {
		r.Status, r.Detail, r.Required = Cannot, "not checked", false
		return []Result{r}
	}
	where, err := c.Ledger(ctx)
	if err != nil {
		r.Status, r.Detail = Missing, "not writable: "+err.Error()
		r.Fix = "give the managed identity Storage Blob Data Contributor on the ledger's container; check SPRESPONDER_LEDGER_ACCOUNT_URL"
		return []Result{r}
	}
	r.Status, r.Detail = OK, "writable: wrote and deleted a probe in "+where
	return []Result{r}
}
