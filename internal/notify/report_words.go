package notify

// The report's words: sentences and phrases built from a signal and an
// incident, shared by every section.

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
)

func singular(noun string) string {
	switch noun {
	case "history lines":
		return "history line"
	case "people":
		return "person"
	}
	return strings.TrimSuffix(noun, "s")
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
