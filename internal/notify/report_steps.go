package notify

// What the reader is asked to do next, who was told, and the links for it.

import (
	"cmp"
	"fmt"
	"net/url"
	"strings"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
)

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
	// Graph's keys only: see assess.
	for _, cr := range in.Credentials {
		if cr.Found {
			add(cr.KeyID)
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
		links = append(links, Link{"App credentials (Entra)", "https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/" + url.PathEscape(strings.ToLower(in.App.AppID))})
	}
	links = append(links, Link{"Risky workload identities", "https://entra.microsoft.com/#view/Microsoft_AAD_IAM/SecurityMenuBlade/~/RiskyServicePrincipals"})
	return links
}
