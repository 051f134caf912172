// Package setup prepares a tenant for the responder and checks that it is
// ready.
//
// The model. What the responder needs from Microsoft Graph follows from
// the rules file: each action a rule can take needs one application
// permission (removeCredential needs Application.ReadWrite.All, and so on),
// and every rule that acts at all needs the read permissions of the verify
// stage. Needs derives that list, with why and for which action, once; both
// commands use it:
//
//   - setup (Plan, Apply) runs once, as an administrator with their own
//     sign-in: it grants the responder's managed identity exactly those
//     permissions (app role assignments on Microsoft Graph's service
//     principal) and creates the Conditional Access policy that blocks
//     high-risk workload identities, report-only unless asked to enforce.
//     It reads before it writes, so running it again changes nothing.
//   - check (Check) runs as the responder itself, from the CLI and at serve
//     start-up: it reads what is actually granted and configured and says,
//     line by line, what is fine, what is missing and how to fix it.
//
// Neither imports msgraph-sdk-go: they declare the few directory calls they
// make (Directory, CheckDirectory); internal/graph implements them.
package setup

import (
	"slices"
	"strings"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/rules"
)

// Permission names (Microsoft Graph application permissions).
const (
	ApplicationRead        = "Application.Read.All"
	ApplicationReadWrite   = "Application.ReadWrite.All"
	RiskEventRead          = "IdentityRiskEvent.Read.All"
	RiskyServicePrincipalR = "IdentityRiskyServicePrincipal.Read.All"
	RiskyServicePrincipalW = "IdentityRiskyServicePrincipal.ReadWrite.All"
	PolicyRead             = "Policy.Read.All"
	MailSend               = "Mail.Send"
	UserRead               = "User.Read.All"
	OrganizationRead       = "Organization.Read.All"
	// The act page (internal/act): who the approver is, and the group.
	GroupMemberRead = "GroupMember.Read.All"
	// The reach of a credential (internal/reach), read after containment.
	RoleManagementRead = "RoleManagement.Read.Directory"
	DirectoryRead      = "Directory.Read.All"
)

// KnownRoleIDs are Microsoft Graph's app role ids for the permissions the
// responder uses (sources: reference/entra/permission-tiers.md; public
// permission lists for IdentityRiskEvent.Read.All,
// IdentityRiskyServicePrincipal.Read.All and Organization.Read.All). Setup
// and check look the ids up in the tenant's own Microsoft Graph service
// principal (appRoles); this table is the fallback when that cannot be
// read, and documentation.
var KnownRoleIDs = map[string]string{
	ApplicationRead:        "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
	ApplicationReadWrite:   "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
	RiskEventRead:          "6e472fd1-ad78-48da-a0f0-97ab2c6b769e",
	RiskyServicePrincipalR: "607c7344-0eed-41e5-823a-9695ebe1b7b0",
	RiskyServicePrincipalW: "cb8d6980-6bcb-4507-afec-ed6de3a2d798",
	PolicyRead:             "246dd0d5-5bd0-4def-940b-0421030a5b68",
	MailSend:               "b633e1c5-b582-4048-a93e-9f11b44c7e96",
	UserRead:               "df021288-bdef-4463-88db-98f22de89214",
	OrganizationRead:       "498476ce-e0fe-48b0-b801-37ba7e2685c6",
	GroupMemberRead:        "98830695-27a2-44f7-8c18-0c3ebc9698f6",
	DirectoryRead:          "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
	RoleManagementRead:     "483bed4a-2ad3-4361-a73b-c83ccdbdc53c",
}

// satisfiedBy lists, for a permission, the broader ones Graph also accepts
// for the same calls (the "higher privileged permissions" of Graph's API
// pages). Setup never grants those; check accepts them, so a tenant that
// granted more than needed is not told something is missing.
var satisfiedBy = map[string][]string{
	ApplicationRead:        {ApplicationReadWrite, "Directory.Read.All", "Directory.ReadWrite.All"},
	RiskyServicePrincipalR: {RiskyServicePrincipalW},
	OrganizationRead:       {"Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "LicenseAssignment.Read.All"},
	UserRead:               {"User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	PolicyRead:             {},
	RiskEventRead:          {"IdentityRiskEvent.ReadWrite.All"},
	ApplicationReadWrite:   {},
	RiskyServicePrincipalW: {},
	MailSend:               {},
	RoleManagementRead:     {"RoleManagement.Read.All", DirectoryRead, "RoleManagement.ReadWrite.Directory", "Directory.ReadWrite.All"},
	DirectoryRead:          {"Directory.ReadWrite.All"},
	GroupMemberRead:        {"Group.Read.All", "Group.ReadWrite.All", DirectoryRead, "Directory.ReadWrite.All"},
}

// Satisfies reports whether holding granted covers the need for want.
func Satisfies(granted, want string) bool {
	return strings.EqualFold(granted, want) || slices.ContainsFunc(satisfiedBy[want], func(s string) bool { return strings.EqualFold(s, granted) })
}

// Need is one permission the enabled rules need, why, and which actions
// or stages need it.
type Need struct {
	Permission string
	Why        string
	Actions    []string
}

// Features are the parts of the configuration that change what Graph
// permissions are needed besides the rules.
type Features struct {
	// Mail: owner email through Graph sendMail (SPRESPONDER_MAIL_FROM).
	Mail bool
	// Act: action links and the act page (SPRESPONDER_ACT_URL); ActGroup:
	// with a security group that may decide (SPRESPONDER_ACT_GROUP).
	Act, ActGroup bool
}

// Needs derives the Graph application permissions the rule set needs, in
// a fixed order. A rule set whose rules do nothing needs none.
func Needs(rs *rules.Set, f Features) []Need {
	acts := map[rules.Action]bool{}
	kinds := map[detect.Kind]bool{}
	// A reach: section adds containment once the reach is known; it needs
	// the same permissions as the action in a rule.
	reachActs := rs.ReachActions()
	for _, r := range rs.Rules() {
		for _, a := range r.Do {
			acts[a] = true
		}
		if len(r.Do) > 0 {
			for _, k := range r.When.Kinds {
				kinds[k] = true
			}
		}
	}
	if len(acts) == 0 {
		return nil
	}
	var out []Need
	add := func(perm, why, action string) {
		for i := range out {
			if out[i].Permission == perm {
				if !slices.Contains(out[i].Actions, action) {
					out[i].Actions = append(out[i].Actions, action)
				}
				if !strings.Contains(out[i].Why, why) {
					out[i].Why += "; " + why
				}
				return
			}
		}
		out = append(out, Need{Permission: perm, Why: why, Actions: []string{action}})
	}
	// The verify stage runs for every incident, whatever the rule does:
	// nothing is acted on, and no owner is told, before Graph confirms it.
	add(RiskEventRead, "re-read the risk detection from Graph before acting on an event", "verify")
	add(RiskyServicePrincipalR, "re-read the service principal's risk state", "verify")
	add(ApplicationRead, "read the application and service principal, their credentials and owners", "verify")
	add(OrganizationRead, "read the subscribed SKUs: is there Workload Identities Premium", "verify")
	for _, a := range reachActs {
		acts[a] = true
	}
	if acts[rules.RemoveCredential] {
		add(ApplicationReadWrite, "remove exactly the leaked secret or certificate (removePassword, PATCH keyCredentials)", string(rules.RemoveCredential))
	}
	if acts[rules.DisableServicePrincipal] {
		add(ApplicationReadWrite, "disable the service principal (PATCH accountEnabled)", string(rules.DisableServicePrincipal))
	}
	if acts[rules.ConfirmCompromised] {
		add(RiskyServicePrincipalW, "confirm the service principal compromised (risk high, so risk-based Conditional Access blocks it)", string(rules.ConfirmCompromised))
	}
	if acts[rules.CheckPolicy] {
		add(PolicyRead, "read Conditional Access policies and named locations", string(rules.CheckPolicy))
	}
	if kinds[detect.RiskySignIn] {
		// serve reads the allowed networks of location-based block
		// policies for its own unexpected-network detection.
		add(PolicyRead, "read Conditional Access policies and named locations", "detect unexpectedNetwork")
	}
	if acts[rules.Notify] && f.Mail {
		add(MailSend, "send the owner email as SPRESPONDER_MAIL_FROM (Graph sendMail)", string(rules.Notify)+" (email)")
		add(UserRead, "read the owners' mail addresses", string(rules.Notify)+" (email)")
	}
	if f.Act {
		add(UserRead, "read the signed-in approver's mail and UPN (a mailed action link is its addressee's only)", "act")
		if f.ActGroup {
			add(GroupMemberRead, "check the approver's membership of SPRESPONDER_ACT_GROUP (checkMemberGroups)", "act")
		}
	}
	// Last, so that a read an earlier permission covers is shown covered
	// by that one (Application.Read.All via Application.ReadWrite.All).
	// The reach of the credential is read for every verified incident,
	// after containment; without these it says "reach unknown: permission
	// X missing" and nothing else changes (Graph v1.0 API pages: list
	// roleAssignments, list a service principal's oauth2PermissionGrants).
	add(RoleManagementRead, "read the directory roles of the incident's service principal (its reach)", "reach")
	add(DirectoryRead, "read the delegated grants of the incident's service principal (its reach; no narrower permission reads them)", "reach")
	return out
}

// Grants reduces needs to the permissions to grant: a need another needed
// permission already covers (Application.Read.All when
// Application.ReadWrite.All is needed) is not granted separately. The
// result maps each granted permission to the needs it serves.
func Grants(needs []Need) []string {
	var out []string
	for _, n := range needs {
		covered := slices.ContainsFunc(needs, func(o Need) bool {
			return o.Permission != n.Permission && Satisfies(o.Permission, n.Permission)
		})
		if !covered {
			out = append(out, n.Permission)
		}
	}
	return out
}

// coveredBy names the needed permission that covers n, if any.
func coveredBy(needs []Need, n Need) string {
	for _, o := range needs {
		if o.Permission != n.Permission && Satisfies(o.Permission, n.Permission) {
			return o.Permission
		}
	}
	return ""
}

// Categories are the diagnostic-log categories the rules need streamed to
// the event hub: those of the signal kinds the acting rules match, and the
// service-principal sign-ins whenever policies are checked (they carry the
// proof that a block works).
func Categories(rs *rules.Set) []string {
	var out []string
	add := func(c string) {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	for _, r := range rs.Rules() {
		if len(r.Do) == 0 {
			continue
		}
		for _, k := range r.When.Kinds {
			switch k {
			case detect.LeakedCredential, detect.RiskDetection:
				add("ServicePrincipalRiskEvents")
			case detect.RiskyServicePrincipal:
				add("RiskyServicePrincipals")
			case detect.RiskySignIn, detect.FailedSecretSignIns:
				add("ServicePrincipalSignInLogs")
			}
		}
		if r.Has(rules.CheckPolicy) {
			add("ServicePrincipalSignInLogs")
		}
	}
	return out
}

// Acts reports whether some rule asks for the action.
func Acts(rs *rules.Set, a rules.Action) bool {
	return slices.ContainsFunc(rs.Rules(), func(r rules.Rule) bool { return r.Has(a) })
}
