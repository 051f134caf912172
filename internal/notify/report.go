package notify

import (
	"cmp"
	"fmt"
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
	// App is the app's display name, AppID its application (client) id.
	App, AppID string
	// Summary is what the responder did, in a line or two (the card's
	// "Done").
	Summary string
	// Notice, when set, is the first thing a reader must see, above the
	// story: an unverified signal, a detection already closed.
	Notice string
	// Reach leads the story: what the credential could do (empty when
	// the reach was not assessed).
	Reach ReachView
	// Use follows: was the credential used since the leak (report_usage.go).
	Use  UseView
	Lead string
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
	r.App, r.AppID = app, c(cmp.Or(in.App.AppID, sig.AppID, "unknown"))
	r.Summary = doneSummary(in, o, mode, noun)
	r.Reach = reachView(in, noun, c)
	r.Use = useView(in, c)

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
	// Only the keys Graph named (verify's credentials, still present) are
	// credentials at risk: a key the event alone names may be forged, and
	// the owners must not be told to act on it.
	keys := map[string]bool{}
	for _, cr := range in.Credentials {
		if cr.Found {
			keys[strings.ToLower(cr.KeyID)] = true
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

// UnverifiedNotice is what every card, mail and page of an incident that
// Graph did not confirm says, word for word.
const UnverifiedNotice = "Graph did not confirm this signal; nothing was changed; do not rotate or delete credentials on the strength of this message"

// unlicensedSentence explains a tenant that cannot verify risk.
const unlicensedSentence = "This tenant cannot verify risk: it has no Microsoft Entra Workload Identities Premium licence, so nothing was removed automatically."

// doneSummary is what the responder did, for the card: the outcome of the
// credential, any other write made, and what the tenant could not verify.
func doneSummary(in *incident.Incident, o outcome, mode, noun string) string {
	var s string
	switch {
	case in.Verification.Closed != "":
		s = "Nothing: the detection is already closed in Graph."
	case !in.Verification.Verified:
		s = "Nothing was changed in the tenant, and the app's owners were not told."
	case o.removed > 0 && o.open == 0 && o.lastRemoval.Finished.IsZero():
		s = fmt.Sprintf("Nothing to remove: the %s is no longer in the directory.", noun)
	case o.removed > 0 && o.open == 0:
		s = fmt.Sprintf("Removed the %s at %s.", noun, fmtTime(o.lastRemoval.Finished))
	case o.credentials == 0:
		s = "No credential was named, so nothing was removed."
	case in.NotifyOnly != "" || isWithheld(mode):
		s = fmt.Sprintf("Not removed, %s: %s. It still works.", incident.ModeLabel(mode), withheldPhrase(mode, in.NotifyOnly))
	case o.unknown > 0:
		s = fmt.Sprintf("Removal sent but not confirmed; on-call is paged. Treat the %s as still working.", noun)
	case o.failed > 0:
		s = fmt.Sprintf("Removal failed; on-call is paged. The %s still works.", noun)
	default:
		s = fmt.Sprintf("Not removed yet. The %s still works.", noun)
	}
	for _, a := range in.Actions {
		if a.DryRun || a.State != incident.Done {
			continue
		}
		switch a.Kind {
		case "confirmCompromised":
			s += " Marked the service principal compromised (risk high)."
		case "disableServicePrincipal":
			s += " Disabled the service principal."
		}
	}
	if in.Verification.Unlicensed {
		s += " " + unlicensedSentence
	}
	return s
}
