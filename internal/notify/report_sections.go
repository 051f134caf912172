package notify

// The sections of the report (detection facts, credentials, sign-ins, what
// was and was not done, the verdict), each a pure function of the incident.

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
)

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
		// Activity: where signals stored by the previous version kept the
		// operation type.
		return "credential change: " + clean(cmp.Or(s.Operation, s.OpType, s.Activity), 80)
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
