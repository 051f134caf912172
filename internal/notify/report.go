package notify

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
)

// Report is the story of one incident, told once in plain language and laid
// out twice: as the Teams card and as the email. Every string in it is plain
// text (cleaned of control characters, not yet escaped); each layout escapes
// for its own format. It never holds a secret: credentials are named by key
// id, display name and hint only.
type Report struct {
	IncidentID string
	Tone       Tone
	// Status is the one-line verdict for the reader: "Action taken", "Action
	// needed", ...
	Status   string
	Subject  string
	Title    string
	Subtitle string
	// Notice, when set, is the first thing a reader must see, above the
	// story: an unverified signal, a detection already closed.
	Notice string
	Lead   string
	// Verified is false when Graph did not confirm the signal (or closed
	// it): the message is then for security and on-call only.
	Verified bool
	// Mode is the incident's named mode (ModeOf), ModeLabel its words.
	Mode      string
	ModeLabel string

	// What happened.
	Detection []Fact
	// Which credential, under CredentialsHeading.
	CredentialsHeading string
	Credentials        List[CredentialView]
	// Where it was used from: sign-ins carried by the incident's signals,
	// newest first.
	SignIns List[string]
	// What the responder did, and what it did not do and why.
	Done    List[string]
	NotDone List[string]
	// Conditional Access.
	Verdict VerdictView
	// What the reader should do now, in order, under NextStepsHeading.
	NextStepsHeading string
	NextSteps        []string
	// Who was told, and owners who could not be told.
	Told     List[string]
	NotTold  List[string]
	Orphaned bool
	// For on-call.
	OnCall   []Fact
	Commands []Fact
	History  List[string]
	Links    []Link
}

// Tone colours a message: good (nothing left open), warning (contained,
// the owner has work to do), attention (the credential may still work).
type Tone string

const (
	ToneGood      Tone = "good"
	ToneWarning   Tone = "warning"
	ToneAttention Tone = "attention"
)

// Fact is one labelled value.
type Fact struct{ Title, Value string }

// Link is a portal link.
type Link struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// CredentialView describes one credential named by the incident.
type CredentialView struct {
	Heading string
	Facts   []Fact
}

// VerdictView is the Conditional Access verdict in plain words.
type VerdictView struct {
	Tone     Tone
	Headline string
	Summary  string
	Policies List[string]
	Proof    List[string]
}

// List is a list that a layout may shorten: Items are shown, More counts
// the items left out, which the layout reports as "N more".
type List[T any] struct {
	Items []T
	More  int
	// Noun names the items in the "N more" line ("sign-ins").
	Noun string
	// KeepLast keeps the last items instead of the first (history, where
	// the latest lines matter most).
	KeepLast bool
}

// Len is the number of items, shown or not.
func (l List[T]) Len() int { return len(l.Items) + l.More }

// Limit returns the list with at most n items shown.
func (l List[T]) Limit(n int) List[T] {
	if n < 0 || len(l.Items) <= n {
		return l
	}
	out := l
	if l.KeepLast {
		out.Items = slices.Clone(l.Items[len(l.Items)-n:])
	} else {
		out.Items = slices.Clone(l.Items[:n])
	}
	out.More = l.More + len(l.Items) - n
	return out
}

// MoreLine is the line a layout shows for left-out items, or "".
func (l List[T]) MoreLine(incidentID string) string {
	if l.More == 0 {
		return ""
	}
	where := "more"
	if l.KeepLast {
		where = "earlier"
	}
	return fmt.Sprintf("…and %d %s %s not shown here (spresponder incidents show %s).", l.More, where, plural(l.More, singular(l.Noun), l.Noun), incidentID)
}

func singular(noun string) string {
	switch noun {
	case "history lines":
		return "history line"
	case "people":
		return "person"
	}
	return strings.TrimSuffix(noun, "s")
}

// limits says how much detail a layout keeps.
type limits struct {
	items int // per list: sign-ins, policies, history, recipients
	text  int // runes per incident-derived string
}

// Commands on-call uses. The CLI must accept exactly these; they are
// printed in every card, email and page.
const (
	cmdShow   = "spresponder incidents show "
	cmdReplay = "spresponder replay --incident "
)

// ShowCommand is how on-call inspects an incident.
func ShowCommand(id string) string { return cmdShow + id }

// ReplayCommand is how on-call replays an incident (dry-run by default).
func ReplayCommand(id string) string { return cmdReplay + id }

// textMax is how long an incident-derived string may be in the full report.
const textMax = 300

// BuildReport tells the incident's story. It is a pure function of the
// incident: no clock, no I/O.
func BuildReport(in *incident.Incident) Report {
	return buildReport(in, textMax)
}

func buildReport(in *incident.Incident, tmax int) Report {
	c := func(s string) string { return clean(s, tmax) }
	sig := primarySignal(in)
	app := c(cmp.Or(in.App.DisplayName, sig.DisplayName, in.App.AppID, "unnamed app"))
	noun := credentialNoun(in, sig)
	o := assess(in)

	mode := ModeOf(in)
	closed := in.Verification.Closed != ""
	unverified := !closed && !in.Verification.Verified
	r := Report{
		IncidentID: in.ID, Verified: !closed && !unverified, Mode: mode, ModeLabel: incident.ModeLabel(mode),
		CredentialsHeading: "Which credential", NextStepsHeading: "What you need to do now",
	}
	kind := c(cmp.Or(sig.RiskEventType, string(sig.Kind)))

	switch {
	case closed:
		// The playbook does not notify a closed detection; if anything
		// renders one anyway, it must ask nobody to act.
		st := c(in.Verification.Closed)
		r.Tone, r.Status = ToneGood, "Already closed in Graph as "+st+": no action needed"
		r.Notice = r.Status + "."
		r.Title = fmt.Sprintf("Detection already closed: %s", app)
		r.Subject = fmt.Sprintf("[spresponder] Already closed in Graph as %s: %s (%s), no action needed", st, app, kind)
		r.CredentialsHeading = "Which credential the detection named"
		r.NextStepsHeading = "What to do now"
	case unverified:
		// A forged or stale event must not make a person do what the
		// responder refused to do: no "action needed", no key to delete.
		r.Tone, r.Status = ToneWarning, "UNVERIFIED: for the security team and on-call only"
		r.Notice = "UNVERIFIED: " + UnverifiedNotice + "."
		r.Title = fmt.Sprintf("Unverified signal for %s: nothing was changed", app)
		r.Subject = fmt.Sprintf("[spresponder] UNVERIFIED signal for %s (%s): nothing was changed", app, kind)
		r.CredentialsHeading = "Which credential the event names (not confirmed by Graph)"
		r.NextStepsHeading = "What the security team should do"
	case o.removed > 0 && o.open == 0:
		r.Tone, r.Status = ToneWarning, "Action taken: your app needs a new credential"
		r.Title = fmt.Sprintf("%s removed from %s", capitalize(noun), app)
		r.Subject = fmt.Sprintf("[spresponder] Action taken: %s removed from %s (%s)", noun, app, kind)
	case o.credentials == 0:
		r.Tone, r.Status = ToneWarning, "For your attention"
		r.Title = fmt.Sprintf("%s: %s", capitalize(riskHeadline(sig)), app)
		r.Subject = fmt.Sprintf("[spresponder] %s: %s (%s)", capitalize(riskHeadline(sig)), app, kind)
	case o.unknown > 0:
		r.Tone, r.Status = ToneAttention, "Action needed: removal not confirmed"
		r.Title = fmt.Sprintf("%s of %s at risk: removal not confirmed", capitalize(noun), app)
		r.Subject = fmt.Sprintf("[spresponder] ACTION NEEDED: %s of %s at risk, removal not confirmed", noun, app)
	case o.failed > 0:
		r.Tone, r.Status = ToneAttention, "Action needed: removal failed"
		r.Title = fmt.Sprintf("%s of %s at risk: removal failed", capitalize(noun), app)
		r.Subject = fmt.Sprintf("[spresponder] ACTION NEEDED: %s of %s at risk, removal failed", noun, app)
	default:
		r.Tone, r.Status = ToneAttention, "Action needed: the credential still works"
		r.Title = fmt.Sprintf("%s of %s at risk: not removed", capitalize(noun), app)
		r.Subject = fmt.Sprintf("[spresponder] ACTION NEEDED: %s of %s at risk, not removed", noun, app)
	}
	r.Subject = clean(r.Subject, 200)

	detected := cmp.Or(sig.DetectedTime, sig.Time)
	r.Subtitle = fmt.Sprintf("%s · risk %s · detected %s · incident %s",
		c(cmp.Or(sig.RiskEventType, string(sig.Kind), "signal")), c(cmp.Or(sig.RiskLevel, "unknown")), fmtTime(detected), in.ID)

	// Lead: what happened, what it means, what was done, in three sentences.
	var lead string
	switch {
	case closed:
		lead = detectionSentence(sig, app, noun) + " Detected " + fmtTime(detected) + "."
		lead += fmt.Sprintf(" Microsoft Graph shows this detection as already closed (%s), so the responder changed nothing. No action needed.", c(in.Verification.Closed))
	case unverified:
		// The event's claim is quoted, not told as fact.
		lead = "An event that reached the responder says: “" + detectionSentence(sig, app, noun) + "” Microsoft Graph did not confirm it"
		if d := c(in.Verification.Detail); d != "" {
			lead += " (" + d + ")"
		}
		lead += ". The responder changed nothing in the tenant and did not tell the app's owners: a forged or stale event must not make anyone change credentials."
	default:
		lead = detectionSentence(sig, app, noun) + " Detected " + fmtTime(detected) + "."
		if o.credentials > 0 {
			lead += fmt.Sprintf(" Anyone who holds the %s can sign in as the app and use its permissions.", noun)
		}
		switch {
		case o.removed > 0 && o.open == 0:
			lead += fmt.Sprintf(" The responder removed the %s at %s, so nobody can use it any more: anything of yours still configured with it will fail to sign in until you give it a new credential.", noun, fmtTime(o.lastRemoval.Finished))
		case o.credentials == 0:
			lead += " No credential was named, so the responder did not remove anything."
		case in.NotifyOnly != "" || isWithheld(mode):
			lead += fmt.Sprintf(" The responder did not remove it: %s. Until it is removed, it still works.", withheldPhrase(mode, in.NotifyOnly))
		case o.unknown > 0:
			lead += " The responder sent the removal but could not confirm it; on-call has been paged to check. Treat the credential as still working."
		case o.failed > 0:
			lead += " The responder tried to remove it and failed; on-call has been paged. Until it is removed, it still works."
		default:
			lead += " It has not been removed yet. Until it is removed, it still works."
		}
	}
	if in.Verification.Unlicensed {
		lead += " " + unlicensedSentence
	}
	r.Lead = lead

	r.Detection = detectionFacts(in, sig, app, c)
	r.Credentials = credentialViews(in, c)
	r.SignIns = signIns(in, c)
	r.Done, r.NotDone = actionsDone(in, o, c)
	r.Verdict = verdictView(in.Verdict, c)
	r.NextSteps = nextSteps(in, sig, o, app, noun, c)
	r.Told, r.NotTold = recipientsTold(in, c)
	r.Orphaned = in.Orphaned

	r.OnCall = []Fact{
		{"Incident", in.ID},
		{"State", c(string(in.State))},
		{"Mode", c(r.ModeLabel)},
		{"Opened", fmtTime(in.Created)},
		{"Tenant", c(in.Key.TenantID)},
	}
	r.Commands = []Fact{
		{"Inspect", ShowCommand(in.ID)},
		{"Replay (dry-run unless told otherwise)", ReplayCommand(in.ID)},
	}
	var hist []string
	for _, e := range in.History {
		line := fmt.Sprintf("%s %s: %s", fmtTime(e.At), c(e.Step), c(e.What))
		if e.Detail != "" {
			line += " (" + c(e.Detail) + ")"
		}
		if e.Actor != "" && e.Actor != "responder" {
			line += " by " + c(e.Actor)
		}
		hist = append(hist, line)
	}
	r.History = List[string]{Items: hist, Noun: "history lines", KeepLast: true}
	r.Links = portalLinks(in)
	return r
}

// limit shortens every list of the report for a layout.
func (r Report) limit(l limits) Report {
	out := r
	out.Credentials = r.Credentials.Limit(max(l.items, 1))
	out.SignIns = r.SignIns.Limit(l.items)
	out.Done = r.Done.Limit(max(l.items, 3))
	out.NotDone = r.NotDone.Limit(max(l.items, 3))
	out.Verdict.Policies = r.Verdict.Policies.Limit(l.items)
	out.Verdict.Proof = r.Verdict.Proof.Limit(l.items)
	out.Told = r.Told.Limit(max(l.items, 1))
	out.NotTold = r.NotTold.Limit(l.items)
	out.History = r.History.Limit(l.items)
	return out
}

// primarySignal is the signal that opened the incident.
func primarySignal(in *incident.Incident) detect.Signal {
	if len(in.Signals) == 0 {
		return detect.Signal{AppID: in.App.AppID, ServicePrincipalID: in.App.ServicePrincipalID, DisplayName: in.App.DisplayName}
	}
	return in.Signals[0]
}

// outcome summarises the credential actions.
type outcome struct {
	credentials int // credentials the incident names
	removed     int // credential removals done for real
	failed      int
	unknown     int // started, outcome unknown
	open        int // failed + unknown + withheld/dry-run/pending removals
	lastRemoval incident.Action
}

func isRemoval(kind string) bool {
	switch kind {
	case "removePassword", "patchKeyCredentials", "removeKey":
		return true
	}
	return false
}

func assess(in *incident.Incident) outcome {
	var o outcome
	keys := map[string]bool{}
	for _, cr := range in.Credentials {
		keys[strings.ToLower(cr.KeyID)] = true
	}
	for _, s := range in.Signals {
		for _, k := range s.KeyIDs {
			keys[strings.ToLower(k)] = true
		}
	}
	o.credentials = len(keys)
	for _, a := range in.Actions {
		if !isRemoval(a.Kind) {
			continue
		}
		switch {
		case a.DryRun:
			o.open++
		case a.State == incident.Done:
			o.removed++
			if a.Finished.After(o.lastRemoval.Finished) {
				o.lastRemoval = a
			}
		case a.State == incident.Failed:
			o.failed++
			o.open++
		case a.State == incident.Started:
			o.unknown++
			o.open++
		default:
			o.open++
		}
	}
	// A credential that is no longer in the directory is not a live risk,
	// even if the responder did not remove it itself.
	if o.removed == 0 && o.open == 0 && len(in.Credentials) > 0 {
		allGone := true
		for _, cr := range in.Credentials {
			allGone = allGone && !cr.Found
		}
		if allGone {
			o.removed = len(in.Credentials)
		}
	}
	if (in.NotifyOnly != "" || isWithheld(ModeOf(in))) && o.removed == 0 && o.credentials > 0 {
		o.open = max(o.open, 1)
	}
	return o
}

// withArticle puts "a" before a singular noun ("a client secret"); a
// counted noun ("2 client secrets") stays as it is.
func withArticle(noun string) string {
	if noun == "" || (noun[0] >= '0' && noun[0] <= '9') {
		return noun
	}
	return "a " + noun
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func credentialNoun(in *incident.Incident, sig detect.Signal) string {
	types := map[string]int{}
	n := 0
	for _, cr := range in.Credentials {
		types[cr.Type]++
		n++
	}
	if n == 0 {
		n = len(sig.KeyIDs)
		if sig.CredentialType != "" {
			types[normalizeCredType(sig.CredentialType)] += n
		}
		if n == 0 && sig.Thumbprint != "" {
			n, types["certificate"] = 1, 1
		}
	}
	switch {
	case n == 0:
		return "credential"
	case len(types) == 1 && types["password"] > 0:
		return plural(n, "client secret", fmt.Sprintf("%d client secrets", n))
	case len(types) == 1 && types["certificate"] > 0:
		return plural(n, "certificate", fmt.Sprintf("%d certificates", n))
	}
	return plural(n, "credential", fmt.Sprintf("%d credentials", n))
}

func normalizeCredType(t string) string {
	switch strings.ToLower(t) {
	case "password", "clientsecret", "secret":
		return "password"
	case "certificate", "clientassertion", "asymmetric":
		return "certificate"
	}
	return t
}

// detectionSentence explains a detection for someone who does not know the
// risk event types.
func detectionSentence(sig detect.Signal, app, noun string) string {
	idp := "Microsoft Entra ID Protection"
	switch sig.RiskEventType {
	case "leakedCredentials":
		return fmt.Sprintf("%s found %s of the app %s in a public place, such as a public code repository or a paste site.", idp, withArticle(noun), app)
	case "suspiciousSignins":
		return fmt.Sprintf("%s saw sign-ins by the app %s that do not match its usual pattern.", idp, app)
	case "investigationsThreatIntelligence":
		return fmt.Sprintf("%s matched activity of the app %s to known attacker activity (Microsoft threat intelligence).", idp, app)
	case "adminConfirmedServicePrincipalCompromised":
		return fmt.Sprintf("An administrator confirmed in %s that the app %s is compromised.", idp, app)
	case "maliciousApplication":
		return fmt.Sprintf("%s flagged the app %s as malicious.", idp, app)
	case "suspiciousApplication":
		return fmt.Sprintf("%s flagged the app %s as suspicious.", idp, app)
	case "anomalousServicePrincipalActivity":
		return fmt.Sprintf("%s saw unusual activity by the app %s.", idp, app)
	case "suspiciousAPITraffic":
		return fmt.Sprintf("%s saw unusual API traffic from the app %s.", idp, app)
	}
	switch sig.Kind {
	case detect.RiskySignIn:
		return fmt.Sprintf("The Microsoft Entra sign-in logs show a risky sign-in by the app %s.", app)
	case detect.BlockedSignIn:
		return fmt.Sprintf("The Microsoft Entra sign-in logs show a sign-in by the app %s that Conditional Access refused.", app)
	case detect.FailedSecretSignIns:
		return fmt.Sprintf("The Microsoft Entra sign-in logs show repeated sign-ins as the app %s with an invalid client secret: someone may be trying a leaked one.", app)
	case detect.ExpiredSecretSignIns:
		return fmt.Sprintf("The Microsoft Entra sign-in logs show repeated sign-ins as the app %s with an expired client secret: usually a job that still holds an old secret, not an attack.", app)
	case detect.CredentialChange:
		what := "a credential change"
		if sig.Operation != "" {
			what = "\"" + clean(sig.Operation, 80) + "\""
		}
		by := ""
		if sig.InitiatedBy != "" {
			by = " by " + clean(sig.InitiatedBy, 80)
		}
		return fmt.Sprintf("The Microsoft Entra audit log shows %s on the app %s%s (keys added %d, removed %d).", what, app, by, len(sig.KeysAdded), len(sig.KeysRemoved))
	case detect.RiskyServicePrincipal:
		return fmt.Sprintf("%s marked the app %s as %s.", idp, app, clean(cmp.Or(sig.RiskState, "at risk"), 40))
	}
	return fmt.Sprintf("%s reported %q for the app %s.", idp, clean(cmp.Or(sig.RiskEventType, string(sig.Kind), "a risk"), 60), app)
}

func riskHeadline(sig detect.Signal) string {
	if sig.RiskEventType != "" {
		return "risk detected (" + clean(sig.RiskEventType, 60) + ")"
	}
	return "risk detected"
}

// UnverifiedNotice is what every card, mail and page of an incident that
// Graph did not confirm says, word for word.
const UnverifiedNotice = "Graph did not confirm this signal; nothing was changed; do not rotate or delete credentials on the strength of this message"

// unlicensedSentence explains a tenant that cannot verify risk.
const unlicensedSentence = "This tenant cannot verify risk: it has no Microsoft Entra Workload Identities Premium licence, so nothing was removed automatically."

// SecurityOnly reports whether only the security contacts and on-call may
// hear of the incident: Graph did not verify the signal, or already closed
// the detection. The app's owners (application and service-principal
// owners, per-app overrides and tags, the owners' Teams channel) act on
// what they are told, so they hear only of verified, open incidents.
func SecurityOnly(in *incident.Incident) bool {
	return !in.Verification.Verified || in.Verification.Closed != ""
}

// ModeOf is the incident's mode by name (incident.Mode*). Records written
// before modes were named carry "dry-run" (or even "enforce") for every
// withheld write, with the reason in NotifyOnly; reading that reason here
// keeps a protected app in an enforce run from being shown as a dry run.
func ModeOf(in *incident.Incident) string {
	switch in.Mode {
	case incident.ModeProtected, incident.ModeHeld, incident.ModeKillSwitch, incident.ModeUnverified:
		return in.Mode
	}
	switch v := strings.ToLower(strings.TrimSpace(in.NotifyOnly)); {
	case strings.HasPrefix(v, "protected"):
		return incident.ModeProtected
	case strings.HasPrefix(v, "breaker"):
		return incident.ModeHeld
	case strings.HasPrefix(v, "kill"):
		return incident.ModeKillSwitch
	case strings.HasPrefix(v, "dry"):
		return incident.ModeDryRun
	}
	if in.State == incident.StateHeld {
		return incident.ModeHeld
	}
	return in.Mode
}

// isWithheld reports whether the mode means no write was made.
func isWithheld(mode string) bool {
	switch mode {
	case incident.ModeDryRun, incident.ModeProtected, incident.ModeHeld, incident.ModeKillSwitch, incident.ModeUnverified:
		return true
	}
	return false
}

// withheldPhrase says why containment was withheld, from the mode first and
// from the free-text reason for anything the mode does not explain.
func withheldPhrase(mode, notifyOnly string) string {
	switch mode {
	case incident.ModeProtected:
		return "the app is on the protected list, so the responder only tells you and changes nothing"
	case incident.ModeHeld:
		return "the safety breaker tripped (too many removals in a short time), so the responder stopped changing anything and paged on-call"
	case incident.ModeKillSwitch:
		return "the responder's kill switch is on, so it changes nothing"
	case incident.ModeUnverified:
		return "Graph did not confirm the signal, so the responder changes nothing"
	}
	v := strings.ToLower(strings.TrimSpace(notifyOnly))
	switch {
	case strings.HasPrefix(v, "rule"):
		return "the response rule for this kind of detection only notifies"
	case mode == incident.ModeDryRun, strings.HasPrefix(v, "dry"):
		return "the responder runs in dry-run mode: it reports what it would do and changes nothing"
	}
	return "containment was withheld (" + clean(notifyOnly, 120) + ")"
}

func detectionFacts(in *incident.Incident, sig detect.Signal, app string, c func(string) string) []Fact {
	facts := []Fact{
		{"App", app},
		{"Application (client) ID", c(cmp.Or(in.App.AppID, sig.AppID))},
		{"Service principal object ID", c(cmp.Or(in.App.ServicePrincipalID, sig.ServicePrincipalID))},
		{"Detection", c(cmp.Or(sig.RiskEventType, string(sig.Kind)))},
		{"Risk level", c(cmp.Or(sig.RiskLevel, "unknown"))},
	}
	if sig.DetectionID != "" {
		facts = append(facts, Fact{"Detection ID", c(sig.DetectionID)})
	}
	facts = append(facts, Fact{"Detected", fmtTime(cmp.Or(sig.DetectedTime, sig.Time))})
	if !sig.Time.IsZero() && !sig.DetectedTime.IsZero() && !sig.Time.Equal(sig.DetectedTime) {
		facts = append(facts, Fact{"Reported by Entra", fmtTime(sig.Time)})
	}
	if !sig.Source.EnqueuedTime.IsZero() {
		facts = append(facts, Fact{"Reached the responder", fmtTime(sig.Source.EnqueuedTime)})
	}
	v := in.Verification
	switch {
	case v.Closed != "":
		facts = append(facts, Fact{"Verified", "already closed in Graph as " + c(v.Closed)})
	case v.Verified:
		facts = append(facts, Fact{"Verified", "yes, re-read from Microsoft Graph (" + c(cmp.Or(v.Method, "detection")) + ")"})
	case v.Detail != "":
		facts = append(facts, Fact{"Verified", "NO (UNVERIFIED): " + c(v.Detail)})
	default:
		facts = append(facts, Fact{"Verified", "NO (UNVERIFIED): Graph did not confirm the signal"})
	}
	if v.Unlicensed {
		facts = append(facts, Fact{"Licence", "no Workload Identities Premium licence: Graph cannot verify risk in this tenant"})
	}
	if n := len(in.Signals); n > 1 {
		kinds := map[detect.Kind]int{}
		var order []detect.Kind
		for _, s := range in.Signals {
			if kinds[s.Kind] == 0 {
				order = append(order, s.Kind)
			}
			kinds[s.Kind]++
		}
		var parts []string
		for _, k := range order {
			parts = append(parts, fmt.Sprintf("%s ×%d", c(string(k)), kinds[k]))
		}
		facts = append(facts, Fact{"Signals", fmt.Sprintf("%d (%s)", n, strings.Join(parts, ", "))})
	}
	return facts
}

func credentialViews(in *incident.Incident, c func(string) string) List[CredentialView] {
	var views []CredentialView
	seen := map[string]bool{}
	for _, cr := range in.Credentials {
		seen[strings.ToLower(cr.KeyID)] = true
		kind := "Credential"
		switch cr.Type {
		case "password":
			kind = "Client secret"
		case "certificate":
			kind = "Certificate"
		}
		heading := kind
		if cr.DisplayName != "" {
			heading += " “" + c(cr.DisplayName) + "”"
		}
		facts := []Fact{{"Key ID", c(cr.KeyID)}}
		if cr.DisplayName != "" {
			facts = append(facts, Fact{"Name", c(cr.DisplayName)})
		}
		if cr.Hint != "" {
			// The hint is the first characters Entra shows for a secret; it
			// helps the owner find the secret in their stores, and is far
			// too short to be used.
			facts = append(facts, Fact{"Starts with", c(cr.Hint) + "… (the secret itself is never shown)"})
		}
		if cr.Thumbprint != "" {
			facts = append(facts, Fact{"Thumbprint", c(cr.Thumbprint)})
		}
		switch cr.Location {
		case "application":
			facts = append(facts, Fact{"Stored on", "the app registration (application)"})
		case "servicePrincipal":
			facts = append(facts, Fact{"Stored on", "the enterprise app (service principal)"})
		}
		if !cr.Start.IsZero() || !cr.End.IsZero() {
			facts = append(facts, Fact{"Valid", fmtDate(cr.Start) + " to " + fmtDate(cr.End)})
		}
		facts = append(facts, Fact{"Now", credentialState(in, cr)})
		views = append(views, CredentialView{Heading: heading, Facts: facts})
	}
	// Key ids named by signals but not (yet) looked up.
	for _, s := range in.Signals {
		for _, k := range s.KeyIDs {
			if seen[strings.ToLower(k)] {
				continue
			}
			seen[strings.ToLower(k)] = true
			views = append(views, CredentialView{Heading: "Credential", Facts: []Fact{
				{"Key ID", c(k)},
				{"Now", "not looked up in the directory yet"},
			}})
		}
	}
	return List[CredentialView]{Items: views, Noun: "credentials"}
}

func credentialState(in *incident.Incident, cr incident.Credential) string {
	mode := ModeOf(in)
	for _, a := range in.Actions {
		if !isRemoval(a.Kind) || !strings.EqualFold(a.KeyID, cr.KeyID) {
			continue
		}
		switch {
		case a.DryRun && (mode == incident.ModeDryRun || !isWithheld(mode)):
			return "still valid (dry run: not removed)"
		case a.DryRun:
			return "still valid (not removed: " + incident.ModeLabel(mode) + ")"
		case a.State == incident.Done:
			return "removed " + fmtTime(a.Finished)
		case a.State == incident.Started:
			return "removal sent, not confirmed: treat as still valid"
		case a.State == incident.Failed:
			return "still valid: removal failed"
		case a.State == incident.Skipped:
			return "still valid: removal skipped"
		}
	}
	if !cr.Found {
		return "not in the directory (already removed or expired)"
	}
	if SecurityOnly(in) {
		return "unchanged: the responder does not act on a signal Graph did not confirm"
	}
	return "still valid"
}

func signIns(in *incident.Incident, c func(string) string) List[string] {
	type row struct{ s detect.Signal }
	var rows []row
	seen := map[string]bool{}
	for _, s := range in.Signals {
		if s.IPAddress == "" && s.Location == "" {
			continue
		}
		key := s.Time.UTC().Format("20060102150405.000000000") + "|" + s.IPAddress + "|" + string(s.Kind)
		if seen[key] {
			continue
		}
		seen[key] = true
		rows = append(rows, row{s})
	}
	slices.SortStableFunc(rows, func(a, b row) int { return b.s.Time.Compare(a.s.Time) })
	var items []string
	for _, r := range rows {
		s := r.s
		parts := []string{fmtTime(s.Time)}
		if s.IPAddress != "" {
			parts = append(parts, c(s.IPAddress))
		}
		if s.Location != "" {
			parts = append(parts, c(s.Location))
		}
		what := signInPhrase(s)
		if s.Count > 1 {
			what += fmt.Sprintf(" ×%d", s.Count)
		}
		parts = append(parts, what)
		items = append(items, strings.Join(parts, " · "))
	}
	return List[string]{Items: items, Noun: "sign-ins"}
}

func signInPhrase(s detect.Signal) string {
	switch s.Kind {
	case detect.RiskySignIn:
		return "risky sign-in (risk " + clean(cmp.Or(s.RiskLevel, "unknown"), 20) + ")"
	case detect.BlockedSignIn:
		return "refused by Conditional Access"
	case detect.FailedSecretSignIns:
		return "sign-in with an invalid secret"
	case detect.ExpiredSecretSignIns:
		return "sign-in with an expired secret"
	case detect.CredentialChange:
		return "credential change: " + clean(cmp.Or(s.Operation, s.Activity), 80)
	}
	if s.ErrorCode != 0 {
		return fmt.Sprintf("sign-in, error %d", s.ErrorCode)
	}
	return "seen in " + clean(cmp.Or(s.RiskEventType, string(s.Kind)), 60)
}

func actionPhrase(a incident.Action, c func(string) string) string {
	key := c(a.KeyID)
	where := ""
	switch {
	case strings.HasPrefix(a.Target, "application"):
		where = " from the app registration"
	case strings.HasPrefix(a.Target, "servicePrincipal"):
		where = " from the enterprise app (service principal)"
	}
	switch a.Kind {
	case "removePassword":
		return fmt.Sprintf("remove client secret %s%s", key, where)
	case "patchKeyCredentials", "removeKey":
		return fmt.Sprintf("remove certificate %s%s", key, where)
	case "confirmCompromised":
		return "mark the service principal as compromised in ID Protection (risk high), so that risk-based Conditional Access refuses its new sign-ins"
	case "disableServicePrincipal":
		return "disable the service principal, so that all its sign-ins are refused"
	}
	return fmt.Sprintf("%s on %s", c(a.Kind), c(a.Target))
}

func actionsDone(in *incident.Incident, o outcome, c func(string) string) (done, notDone List[string]) {
	done.Noun, notDone.Noun = "actions", "items"
	mode := ModeOf(in)
	closed := in.Verification.Closed != ""
	switch {
	case closed:
		done.Items = append(done.Items, "Checked the detection in Microsoft Graph: it is already closed ("+c(in.Verification.Closed)+").")
	case in.Verification.Verified:
		done.Items = append(done.Items, "Checked the detection against Microsoft Graph before changing anything.")
	default:
		done.Items = append(done.Items, "Checked the signal against Microsoft Graph: Graph did not confirm it.")
	}
	for _, a := range in.Actions {
		p := actionPhrase(a, c)
		why := c(a.Reason)
		switch {
		case a.DryRun && (mode == incident.ModeDryRun || !isWithheld(mode)):
			notDone.Items = append(notDone.Items, fmt.Sprintf("Did not %s. Why: dry run, the responder only reports what it would do%s.", p, prefixed("; ", why)))
		case a.DryRun:
			notDone.Items = append(notDone.Items, fmt.Sprintf("Did not %s. Why: %s%s.", p, incident.ModeLabel(mode), prefixed("; ", why)))
		case a.State == incident.Done:
			done.Items = append(done.Items, fmt.Sprintf("%s at %s.", capitalize(pastTense(p)), fmtTime(a.Finished)))
		case a.State == incident.Skipped:
			notDone.Items = append(notDone.Items, fmt.Sprintf("Did not %s. Why: %s.", p, cmp.Or(why, "skipped by the response rule")))
		case a.State == incident.Failed:
			n := max(a.Attempts, 1)
			notDone.Items = append(notDone.Items, fmt.Sprintf("Tried to %s, and it failed after %d %s. Why: %s.", p, n, plural(n, "attempt", "attempts"), cmp.Or(why, "unknown")))
		case a.State == incident.Started:
			notDone.Items = append(notDone.Items, fmt.Sprintf("Sent the request to %s but could not confirm it happened; on-call is checking%s.", p, prefixed(". Detail: ", why)))
		default:
			notDone.Items = append(notDone.Items, fmt.Sprintf("Has not yet tried to %s%s.", p, prefixed(". Detail: ", why)))
		}
	}
	if in.Verdict != nil {
		done.Items = append(done.Items, "Checked which Conditional Access policies cover this service principal (see below).")
	}
	switch {
	case closed:
		notDone.Items = append(notDone.Items, "Changed nothing in the tenant: the detection is already closed.")
	case !in.Verification.Verified:
		notDone.Items = append(notDone.Items,
			"Changed nothing in the tenant: the responder writes only when Graph confirms the signal.",
			"Did not tell the app's owners: a signal Graph did not confirm goes to the security team and on-call only.")
	case (in.NotifyOnly != "" || isWithheld(mode)) && o.removed == 0:
		notDone.Items = append(notDone.Items, "Containment was withheld: "+withheldPhrase(mode, in.NotifyOnly)+".")
	}
	if in.Verification.Unlicensed {
		notDone.Items = append(notDone.Items, unlicensedSentence)
	}
	if in.Verification.Limited != "" {
		notDone.Items = append(notDone.Items, "Some details could not be checked: "+c(in.Verification.Limited)+".")
	}
	if o.removed > 0 {
		notDone.Items = append(notDone.Items, "It cannot cancel access tokens already issued with the credential: they stay valid until they expire, typically 60 to 90 minutes after they were issued.")
	}
	disabled := false
	for _, a := range in.Actions {
		disabled = disabled || (a.Kind == "disableServicePrincipal" && a.State == incident.Done && !a.DryRun)
	}
	if !disabled {
		notDone.Items = append(notDone.Items, "It did not delete or disable the app, and did not touch the app's other credentials.")
	}
	return done, notDone
}

// prefixed returns prefix+s, or "" for an empty s.
func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func pastTense(p string) string {
	for _, v := range []struct{ from, to string }{
		{"remove ", "removed "}, {"mark ", "marked "}, {"disable ", "disabled "},
	} {
		if strings.HasPrefix(p, v.from) {
			return v.to + strings.TrimPrefix(p, v.from)
		}
	}
	return "did: " + p
}

func verdictView(v *incident.Verdict, c func(string) string) VerdictView {
	if v == nil {
		return VerdictView{Tone: ToneWarning, Headline: "Not checked yet."}
	}
	var vv VerdictView
	switch v.Outcome {
	case incident.VerdictBlocked:
		vv.Tone, vv.Headline = ToneGood, "Blocked: Conditional Access refuses new sign-ins by this service principal while it is at risk."
	case incident.VerdictReportOnly:
		vv.Tone, vv.Headline = ToneAttention, "Not blocked: the block policy is in report-only mode, so it only logs."
	case incident.VerdictExcluded:
		vv.Tone, vv.Headline = ToneAttention, "Not blocked: this service principal is excluded from the block policy."
	case incident.VerdictNoPolicy:
		vv.Tone, vv.Headline = ToneAttention, "Not blocked: no Conditional Access policy blocks this service principal."
	case incident.VerdictCannotEvaluate:
		vv.Tone, vv.Headline = ToneWarning, "Unknown: Conditional Access could not be checked."
	default:
		vv.Tone, vv.Headline = ToneWarning, "Verdict: "+c(v.Outcome)+"."
	}
	vv.Summary = c(v.Summary)
	var pol []string
	// Policies that apply first: they are the ones that matter.
	ps := slices.Clone(v.Policies)
	slices.SortStableFunc(ps, func(a, b incident.PolicyEval) int {
		switch {
		case a.Applies == b.Applies:
			return 0
		case a.Applies:
			return -1
		}
		return 1
	})
	for _, p := range ps {
		applies := "does not apply"
		if p.Applies {
			applies = "applies"
		}
		line := fmt.Sprintf("%s (%s, %s): %s", c(p.DisplayName), c(policyState(p.State)), c(policyKind(p.Kind)), applies)
		if len(p.Reasons) > 0 {
			var rs []string
			for _, r := range p.Reasons {
				rs = append(rs, c(r))
			}
			line += ": " + strings.Join(rs, "; ")
		}
		pol = append(pol, line)
	}
	vv.Policies = List[string]{Items: pol, Noun: "policies"}
	var proof []string
	for _, p := range v.Proof {
		parts := []string{fmtTime(p.Time)}
		if p.IPAddress != "" {
			parts = append(parts, c(p.IPAddress))
		}
		if p.Location != "" {
			parts = append(parts, c(p.Location))
		}
		parts = append(parts, fmt.Sprintf("refused (error %d)", cmp.Or(p.ErrorCode, 53003)))
		proof = append(proof, strings.Join(parts, " · "))
	}
	vv.Proof = List[string]{Items: proof, Noun: "refused sign-ins"}
	return vv
}

func policyKind(k string) string {
	switch k {
	case "risk", "location":
		return k + "-based"
	case "":
		return "other"
	}
	return k
}

func policyState(s string) string {
	switch s {
	case "enabledForReportingButNotEnforced":
		return "report-only"
	}
	return s
}

func nextSteps(in *incident.Incident, sig detect.Signal, o outcome, app, noun string, c func(string) string) []string {
	switch {
	case in.Verification.Closed != "":
		return []string{fmt.Sprintf("No action needed. If you think the detection was closed by mistake, tell the security team and quote incident %s.", in.ID)}
	case !in.Verification.Verified:
		return unverifiedSteps(in)
	}
	var steps []string
	hint := ""
	for _, cr := range in.Credentials {
		if cr.Hint != "" {
			hint = " (it starts with " + c(cr.Hint) + ")"
			break
		}
	}
	if o.credentials > 0 {
		steps = append(steps,
			fmt.Sprintf("Create a new credential for %s (Entra admin center > App registrations > %s > Certificates & secrets). Prefer a certificate, or better a federated credential (workload identity federation), which has no secret that can leak.", app, app),
			fmt.Sprintf("Put the new credential where your deployments read it, for example Azure Key Vault, and update every pipeline, deployment and configuration that used the old %s%s.", noun, hint),
		)
		if o.removed == 0 || o.open > 0 {
			keys := credentialKeys(in, c)
			steps = append(steps, fmt.Sprintf("Today, as soon as your deployments use the new credential, delete the old one (key ID %s) on the same page, or ask the security team to do it, quoting incident %s.", keys, in.ID))
		} else {
			steps[1] += " Anything still using it fails to sign in from now on."
		}
	}
	where := ""
	if ips := signInIPs(in, c); ips != "" {
		where = ", especially from " + ips
	}
	steps = append(steps, fmt.Sprintf("Check the app's recent activity: its sign-ins (Entra admin center > Sign-in logs > Service principal sign-ins)%s, and what it changed with its permissions. If you see anything you do not recognise, tell the security team and quote incident %s.", where, in.ID))
	if sig.RiskEventType == "leakedCredentials" {
		steps = append(steps, "Find where the credential leaked (a repository and its history, a pipeline log, a paste or a chat) and remove it there: even a removed secret shows attackers where to look.")
	}
	if in.Orphaned {
		steps = append(steps, fmt.Sprintf("Add at least one owner with a mailbox to %s, so that the next alert reaches the people who run it.", app))
	}
	return steps
}

// unverifiedSteps are for the security team and on-call: how to check the
// signal themselves. They never ask anyone to rotate or delete a key.
func unverifiedSteps(in *incident.Incident) []string {
	steps := []string{
		"Check the signal yourself before anyone touches a credential: look for this detection and this app in the Entra admin center (ID Protection > Risky workload identities). Do not rotate or delete credentials on the strength of this message.",
	}
	if in.Verification.Unlicensed {
		steps = append(steps, "This tenant has no Workload Identities Premium licence, so Graph cannot confirm risk for workload identities and the responder will not act on its own. If other evidence shows the app is compromised, decide with its owners what to do.")
	} else {
		steps = append(steps, fmt.Sprintf("If Graph does show the detection as genuine, re-drive the incident with %s (it shows the plan before it changes anything).", ReplayCommand(in.ID)))
	}
	steps = append(steps, fmt.Sprintf("If Graph does not know the detection, the event may be forged: check who can send to the Event Hub (connection strings, SAS policies, producers), quoting incident %s.", in.ID))
	return steps
}

func credentialKeys(in *incident.Incident, c func(string) string) string {
	var keys []string
	seen := map[string]bool{}
	add := func(k string) {
		if k != "" && !seen[strings.ToLower(k)] {
			seen[strings.ToLower(k)] = true
			keys = append(keys, c(k))
		}
	}
	for _, cr := range in.Credentials {
		add(cr.KeyID)
	}
	for _, s := range in.Signals {
		for _, k := range s.KeyIDs {
			add(k)
		}
	}
	if len(keys) > 3 {
		return strings.Join(keys[:3], ", ") + fmt.Sprintf(" and %d more", len(keys)-3)
	}
	return strings.Join(keys, ", ")
}

func signInIPs(in *incident.Incident, c func(string) string) string {
	var ips []string
	seen := map[string]bool{}
	for _, s := range in.Signals {
		if s.IPAddress != "" && !seen[s.IPAddress] && len(ips) < 3 {
			seen[s.IPAddress] = true
			ips = append(ips, c(s.IPAddress))
		}
	}
	return strings.Join(ips, ", ")
}

func recipientsTold(in *incident.Incident, c func(string) string) (told, notTold List[string]) {
	told.Noun, notTold.Noun = "people", "owners"
	for _, rc := range in.Recipients {
		if rc.Address == "" {
			name := c(cmp.Or(rc.Name, "an owner"))
			if rc.Name == "" && strings.Contains(rc.Reason, "could not be read") {
				notTold.Items = append(notTold.Items, capitalize(c(rc.Reason)))
				continue
			}
			notTold.Items = append(notTold.Items, fmt.Sprintf("%s: %s", name, c(rc.Reason)))
			continue
		}
		who := c(rc.Address)
		if rc.Name != "" {
			who = c(rc.Name) + " (" + who + ")"
		}
		told.Items = append(told.Items, fmt.Sprintf("%s: %s", who, c(rc.Reason)))
	}
	return told, notTold
}

// portalLinks point at the Entra admin center. The deep-link formats come
// from the reference card (reference/entra/teams-workflows-adaptive-card.json)
// and are not guaranteed by Microsoft; they degrade to the portal's home
// page if the blade moves.
func portalLinks(in *incident.Incident) []Link {
	var links []Link
	if in.App.AppID != "" {
		links = append(links, Link{"Open the app's credentials", "https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/" + url.PathEscape(strings.ToLower(in.App.AppID))})
	}
	links = append(links, Link{"Open risky workload identities", "https://entra.microsoft.com/#view/Microsoft_AAD_IAM/SecurityMenuBlade/~/RiskyServicePrincipals"})
	return links
}
