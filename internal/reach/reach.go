// Package reach says what a leaked credential could do: the application
// permissions of its service principal (app role assignments, resolved to
// names through each resource service principal's appRoles), its active
// Entra directory roles and its delegated permission grants, each put in a
// tier (critical, high, normal) by a shipped table (table.go) that a
// tenant overrides in its rules file.
//
// The model. Assess runs after containment, bounded by its caller's
// deadline: it only reads, and a read that fails is not an error but a
// line in Reach.Unknown ("reach unknown: permission X missing"), because
// what the responder could not learn must be said, not hidden, and must
// never hold back the notice. The package declares the four reads it makes
// (Reader); internal/graph implements them.
package reach

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/incident"
)

// Tier is a severity of reach.
type Tier = string

// Tiers as the rules file and the incident name them.
const (
	Critical Tier = incident.TierCritical
	High     Tier = incident.TierHigh
	Normal   Tier = incident.TierNormal
)

// ParseTier accepts critical, high or normal (any case).
func ParseTier(s string) (Tier, error) {
	switch t := strings.ToLower(strings.TrimSpace(s)); t {
	case Critical, High, Normal:
		return t, nil
	}
	return "", fmt.Errorf("tier %q is not critical, high or normal", s)
}

// Reader is what Assess reads from the tenant.
type Reader interface {
	AppRoleAssignments(ctx context.Context, spID string) ([]directory.AppRoleAssignment, error)
	PrincipalByID(ctx context.Context, id string) (directory.Principal, error)
	DirectoryRoleAssignments(ctx context.Context, principalID string) ([]directory.RoleAssignment, error)
	DelegatedGrants(ctx context.Context, spID string) ([]directory.DelegatedGrant, error)
}

// The permission each read needs (least privilege, Graph v1.0 API pages),
// named in Unknown when Graph refuses it.
const (
	PermAppRoles  = "Application.Read.All"
	PermRoles     = "RoleManagement.Read.Directory"
	PermDelegated = "Directory.Read.All"
)

// Assessor assesses reach with one table and one set of overrides.
type Assessor struct {
	r         Reader
	byRole    map[string]Entry // resource appId + "/" + app role id, or role template id
	byName    map[string]Entry // resource appId + "/" + lower-case name (delegated scopes)
	overrides map[string]Tier
	log       *zap.Logger
	now       func() time.Time
}

// New builds an assessor. overrides map a permission or role to a tier;
// keys are compared without regard to case and are one of: a permission
// name qualified by its resource appId ("fc780465-.../Machine.Isolate"),
// a bare name (a Microsoft Graph permission, or a directory role's
// display name), or a role template id.
func New(r Reader, overrides map[string]Tier, log *zap.Logger, now func() time.Time) *Assessor {
	a := &Assessor{r: r, byRole: map[string]Entry{}, byName: map[string]Entry{}, overrides: map[string]Tier{}, log: log, now: now}
	for _, e := range Table() {
		a.byRole[strings.ToLower(e.Resource+"/"+e.ID)] = e
		if e.Resource != "" {
			a.byName[strings.ToLower(e.Resource+"/"+e.Name)] = e
		}
	}
	for k, t := range overrides {
		a.overrides[strings.ToLower(strings.TrimSpace(k))] = t
	}
	return a
}

// counter counts the Graph requests of one assessment.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) add() { c.mu.Lock(); c.n++; c.mu.Unlock() }

// Assess reads and tiers the reach of the service principal spID. It
// never fails: reads that fail are reported in Unknown.
func (a *Assessor) Assess(ctx context.Context, spID string) incident.Reach {
	var (
		n                counter
		wg               sync.WaitGroup
		assigns          []directory.AppRoleAssignment
		roles            []directory.RoleAssignment
		grants           []directory.DelegatedGrant
		aErr, rErr, gErr error
	)
	// Resource service principals, read once each (app role assignments
	// and delegated grants name them by object id), shared by the two
	// readers that need them.
	type lookup struct {
		once sync.Once
		p    directory.Principal
		err  error
	}
	var cacheMu sync.Mutex
	cache := map[string]*lookup{}
	resource := func(id string) (*directory.Principal, error) {
		cacheMu.Lock()
		l, ok := cache[strings.ToLower(id)]
		if !ok {
			l = &lookup{}
			cache[strings.ToLower(id)] = l
		}
		cacheMu.Unlock()
		l.once.Do(func() {
			if l.err = ctx.Err(); l.err != nil {
				return // past the deadline: do not start a read that cannot finish
			}
			n.add()
			l.p, l.err = a.r.PrincipalByID(ctx, id)
		})
		return &l.p, l.err
	}
	// The three lists are independent: read them at once, and resolve the
	// resources as soon as each list is in, so a slow list does not cost
	// the others their names.
	wg.Add(3)
	go func() {
		defer wg.Done()
		n.add()
		if assigns, aErr = a.r.AppRoleAssignments(ctx, spID); aErr == nil {
			for _, as := range assigns {
				_, _ = resource(as.ResourceID)
			}
		}
	}()
	go func() { defer wg.Done(); n.add(); roles, rErr = a.r.DirectoryRoleAssignments(ctx, spID) }()
	go func() {
		defer wg.Done()
		n.add()
		if grants, gErr = a.r.DelegatedGrants(ctx, spID); gErr == nil {
			for _, g := range grants {
				_, _ = resource(g.ResourceID)
			}
		}
	}()
	wg.Wait()

	var out incident.Reach
	if aErr != nil {
		out.Unknown = append(out.Unknown, a.unknown(ctx, aErr, PermAppRoles, "application permissions"))
	}
	for _, as := range assigns {
		res, err := resource(as.ResourceID)
		if err != nil {
			out.Unknown = append(out.Unknown, a.unknown(ctx, err, PermAppRoles, "the permissions "+as.ResourceDisplayName+" offers"))
			continue
		}
		out.Items = append(out.Items, a.appRole(*res, as))
	}
	if rErr != nil {
		out.Unknown = append(out.Unknown, a.unknown(ctx, rErr, PermRoles, "directory roles"))
	}
	for _, ra := range roles {
		out.Items = append(out.Items, a.dirRole(ra))
	}
	if gErr != nil {
		out.Unknown = append(out.Unknown, a.unknown(ctx, gErr, PermDelegated, "delegated grants"))
	}
	for _, g := range grants {
		res, err := resource(g.ResourceID)
		if err != nil {
			out.Unknown = append(out.Unknown, a.unknown(ctx, err, PermAppRoles, "the resource of a delegated grant"))
			continue
		}
		for _, scope := range strings.Fields(g.Scope) {
			out.Items = append(out.Items, a.delegated(*res, g, scope))
		}
	}
	out.Unknown = dedup(out.Unknown)
	out.Tier = incident.TierUnknown
	if aErr == nil || rErr == nil || gErr == nil {
		out.Tier = Normal
	}
	for _, it := range out.Items {
		if incident.TierRank(it.Tier) > incident.TierRank(out.Tier) {
			out.Tier = it.Tier
		}
	}
	out.Requests, out.At = n.n, a.now()
	a.log.Info("reach assessed", zap.String("sp_id", spID), zap.String("tier", out.Tier), zap.Int("items", len(out.Items)),
		zap.Strings("unknown", out.Unknown), zap.Int("graph_requests", out.Requests))
	return out
}

// unknown words a failed read for a person. A refusal names the
// permission to grant; a read cut by the deadline says so. The error's own
// text (which may carry a URL) goes to the log only.
func (a *Assessor) unknown(ctx context.Context, err error, perm, what string) string {
	a.log.Warn("reach: read failed", zap.String("read", what), zap.Error(err))
	switch {
	case errors.Is(err, directory.ErrForbidden):
		return fmt.Sprintf("reach unknown: permission %s missing (%s)", perm, what)
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("reach unknown: %s not read in time", what)
	case errors.Is(err, directory.ErrNotFound):
		return fmt.Sprintf("reach unknown: %s not found in Graph", what)
	case errors.Is(err, directory.ErrTransient):
		return fmt.Sprintf("reach unknown: %s not read (Graph throttled or unavailable)", what)
	}
	return fmt.Sprintf("reach unknown: %s not read (Graph refused the request)", what)
}

func dedup(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// defaultAccess is the app role id of "default access": an assignment
// that names no permission (Graph: appRoleAssignment).
const defaultAccess = "00000000-0000-0000-0000-000000000000"

func (a *Assessor) appRole(res directory.Principal, as directory.AppRoleAssignment) incident.ReachItem {
	resName := firstNonEmpty(res.DisplayName, as.ResourceDisplayName, res.AppID)
	it := incident.ReachItem{Kind: incident.ReachApplication, Resource: resName}
	name, ok := res.RoleName(as.AppRoleID)
	switch {
	case strings.EqualFold(as.AppRoleID, defaultAccess):
		it.Name, it.Tier, it.Could, it.Why = "default access", Normal, "sign in to "+resName+" (no named permission)", "default access names no permission"
		return it
	case !ok:
		// The resource no longer offers the role (or hides it): name it by
		// id, and let a person look.
		name = as.AppRoleID
	}
	it.Name = name
	if e, ok := a.byRole[strings.ToLower(res.AppID+"/"+as.AppRoleID)]; ok {
		it.Tier, it.Could, it.Why = e.Tier, e.Could, "table: "+e.Src
	} else {
		it.Tier, it.Could, it.Why = Normal, "use "+name+" on "+resName, "unclassified: not in the tier table, a person should look"
	}
	keys := []string{res.AppID + "/" + name}
	if strings.EqualFold(res.AppID, GraphAppID) {
		keys = append(keys, name)
	}
	a.override(&it, keys...)
	return it
}

func (a *Assessor) dirRole(ra directory.RoleAssignment) incident.ReachItem {
	it := incident.ReachItem{Kind: incident.ReachDirectoryRole, Resource: "Microsoft Entra ID", Name: firstNonEmpty(ra.RoleName, ra.RoleDefinitionID)}
	if e, ok := a.byRole["/"+strings.ToLower(ra.RoleDefinitionID)]; ok {
		it.Name, it.Tier, it.Could, it.Why = e.Name, e.Tier, e.Could, "table: "+e.Src
	} else {
		it.Tier, it.Could, it.Why = Normal, "act as "+it.Name+" (a role not in the tier table)", "unclassified: custom or untiered role, a person should look"
	}
	// A role limited to an administrative unit reaches less: one tier
	// lower (project call, reference/entra/permission-tiers.md rule 2).
	if s := ra.DirectoryScopeID; s != "" && s != "/" {
		it.Tier = lower(it.Tier)
		it.Could += " within " + s
		it.Why += "; scoped to " + s + ": one tier lower"
	}
	a.override(&it, ra.RoleDefinitionID, it.Name)
	return it
}

// delegated tiers a delegated scope one tier below the application
// permission of the same name: it acts only with a user who signs in to
// the app (a thief with the secret can phish that consent, hence not
// lower than that).
func (a *Assessor) delegated(res directory.Principal, g directory.DelegatedGrant, scope string) incident.ReachItem {
	resName := firstNonEmpty(res.DisplayName, res.AppID)
	who := "a user who signs in"
	if strings.EqualFold(g.ConsentType, "AllPrincipals") {
		who = "any user who signs in"
	}
	it := incident.ReachItem{Kind: incident.ReachDelegated, Resource: resName, Name: scope, Tier: Normal,
		Could: "act as " + who + " with " + scope, Why: "delegated: not in the tier table"}
	if e, ok := a.byName[strings.ToLower(res.AppID+"/"+scope)]; ok {
		it.Tier, it.Could = lower(e.Tier), "as "+who+": "+e.Could
		it.Why = "delegated: one tier below the application permission (" + e.Src + ")"
	}
	keys := []string{res.AppID + "/" + scope}
	if strings.EqualFold(res.AppID, GraphAppID) {
		keys = append(keys, scope)
	}
	a.override(&it, keys...)
	return it
}

func (a *Assessor) override(it *incident.ReachItem, keys ...string) {
	for _, k := range keys {
		if t, ok := a.overrides[strings.ToLower(k)]; ok {
			it.Tier, it.Why = t, "rules file tiers: "+k+" is "+t
			return
		}
	}
}

func lower(t Tier) Tier {
	switch t {
	case Critical:
		return High
	case High:
		return Normal
	}
	return t
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
