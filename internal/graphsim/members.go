package graphsim

import (
	"net/http"
	"slices"
	"strings"
)

// Group membership, for the act page's approver check: checkMemberGroups
// answers which of up to 20 given groups a user is a member of,
// transitively (Graph: directoryobject-checkmembergroups). Members are a
// seed-only field of Group (Graph has no such property: membership is a
// navigation), never rendered.

func memberRoutes(r func(method, path string, h func(*Tenant, *call) reply) route) []route {
	return []route{
		r("POST", "/users/{id}/checkMemberGroups", (*Tenant).checkMemberGroups),
		r("POST", "/directoryObjects/{id}/checkMemberGroups", (*Tenant).checkMemberGroups),
	}
}

func (t *Tenant) checkMemberGroups(c *call) reply {
	if rep := checkQuery(c); rep != nil {
		return *rep
	}
	var in struct {
		GroupIDs *[]string `json:"groupIds"`
	}
	if rep := decodeStrict(c.body, &in); rep != nil {
		return *rep
	}
	if in.GroupIDs == nil {
		return schemaMismatch("groupIds")
	}
	// Graph's limit: at most 20 groups per request.
	if len(*in.GroupIDs) > 20 {
		return gerr(http.StatusBadRequest, "Request_BadRequest", "Too many groupIds: the maximum is 20.")
	}
	for _, g := range *in.GroupIDs {
		if !isGUID(g) {
			return gerr(http.StatusBadRequest, "Request_BadRequest", "Invalid GUID %q in groupIds.", g)
		}
	}
	member := c.params[0]
	if u := t.findUser(member); u != nil {
		member = u.ID
	} else if !slices.ContainsFunc(t.groups, func(g *Group) bool { return strings.EqualFold(g.ID, member) }) {
		return notFound(c.params[0])
	}
	out := []string{}
	for _, g := range *in.GroupIDs {
		if t.inGroup(member, g, map[string]bool{}) {
			out = append(out, g)
		}
	}
	return reply{status: http.StatusOK, body: map[string]any{
		"@odata.context": metadataURL(c.r) + "#Collection(Edm.String)",
		"value":          out,
	}}
}

// inGroup: is id a member of group, directly or through nested groups.
func (t *Tenant) inGroup(id, group string, seen map[string]bool) bool {
	key := strings.ToLower(group)
	if seen[key] {
		return false
	}
	seen[key] = true
	i := slices.IndexFunc(t.groups, func(g *Group) bool { return strings.EqualFold(g.ID, group) })
	if i < 0 {
		return false
	}
	for _, m := range t.groups[i].Members {
		if strings.EqualFold(m, id) || t.inGroup(id, m, seen) {
			return true
		}
	}
	return false
}
