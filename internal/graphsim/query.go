package graphsim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// toMap renders a value in its JSON shape, so that $select and $filter
// work on exactly what the client would receive.
func toMap(v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		panic("graphsim: model does not marshal: " + err.Error()) // our own types always do
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// checkQuery rejects OData system query options a route does not support,
// so that a client relying on one (say $expand) fails loudly in tests
// instead of silently getting less than real Graph would return.
func checkQuery(c *call, allowed ...string) *reply {
	for k := range c.r.URL.Query() {
		if strings.HasPrefix(k, "$") && !containsFold(allowed, k) {
			rep := gerr(http.StatusBadRequest, "Request_UnsupportedQuery", "The query option '%s' is not supported by the simulated tenant on %s.", k, c.route.name)
			return &rep
		}
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// selection parses $select; nil means "all properties".
func selection(c *call) []string {
	v := c.r.URL.Query().Get("$select")
	if v == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// selected reports whether prop is in the $select list.
func selected(sel []string, prop string) bool { return containsFold(sel, prop) }

// project keeps id, @odata.type and the selected properties of m. Graph
// rejects a property the type does not have; known lists the valid ones
// (for owner lists, the union over users, service principals and groups,
// and a property a given object lacks comes back null).
func project(m map[string]any, sel []string, known map[string]bool) (map[string]any, *reply) {
	if sel == nil {
		return m, nil
	}
	out := map[string]any{}
	for k, v := range m {
		if k == "id" || k == "@odata.type" {
			out[k] = v
		}
	}
	for _, p := range sel {
		name, ok := lookupFold(known, p)
		if !ok {
			rep := gerr(http.StatusBadRequest, "Request_UnsupportedQuery", "Property '%s' does not exist as a declared property or extension property.", p)
			return nil, &rep
		}
		out[name] = m[name]
	}
	return out, nil
}

func lookupFold(known map[string]bool, p string) (string, bool) {
	for k := range known {
		if strings.EqualFold(k, p) {
			return k, true
		}
	}
	return "", false
}

func keysOf(ms ...map[string]any) map[string]bool {
	known := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			known[k] = true
		}
	}
	return known
}

// single answers one object with its @odata.context.
func single(c *call, entitySet string, m map[string]any) reply {
	m["@odata.context"] = metadataURL(c.r) + "#" + entitySet + "/$entity"
	return reply{status: http.StatusOK, body: m}
}

func metadataURL(r *http.Request) string {
	return "http://" + r.Host + "/v1.0/$metadata"
}

// list answers a collection: $filter (when the route allows it), then
// paging with $top and $skiptoken (the client follows @odata.nextLink as
// with real Graph), then $select. known is the property set of the type.
func list(c *call, entitySet string, items []map[string]any, known map[string]bool) reply {
	q := c.r.URL.Query()
	if f := q.Get("$filter"); f != "" {
		pred, err := parseFilter(f, known)
		if err != nil {
			return gerr(http.StatusBadRequest, "BadRequest", "Invalid filter clause: %s", err.Error())
		}
		var kept []map[string]any
		for _, m := range items {
			if pred(m) {
				kept = append(kept, m)
			}
		}
		items = kept
	}
	skip, _ := strconv.Atoi(q.Get("$skiptoken"))
	skip = min(max(skip, 0), len(items))
	end := len(items)
	if top := q.Get("$top"); top != "" {
		n, err := strconv.Atoi(top)
		if err != nil || n < 1 {
			return gerr(http.StatusBadRequest, "BadRequest", "Invalid $top value '%s'.", top)
		}
		end = min(skip+n, len(items))
	} else if c.pageSize > 0 {
		end = min(skip+c.pageSize, len(items))
	}
	page := []map[string]any{}
	for _, m := range items[skip:end] {
		p, rep := project(m, selection(c), known)
		if rep != nil {
			return *rep
		}
		page = append(page, p)
	}
	body := map[string]any{"@odata.context": metadataURL(c.r) + "#" + entitySet, "value": page}
	if end < len(items) {
		next := *c.r.URL
		nq := next.Query()
		nq.Set("$skiptoken", strconv.Itoa(end))
		next.RawQuery = nq.Encode()
		body["@odata.nextLink"] = "http://" + c.r.Host + (&url.URL{Path: next.Path, RawQuery: next.RawQuery}).String()
	}
	return reply{status: http.StatusOK, body: body}
}

// parseFilter compiles the subset of OData $filter the responder uses:
// comparisons "prop eq 'value'" (or true/false) combined with and, or and
// parentheses. String comparison ignores case, as Graph does for ids.
func parseFilter(s string, known map[string]bool) (func(map[string]any) bool, error) {
	p := &filterParser{toks: tokenize(s), known: known}
	f, err := p.or()
	if err == nil && p.i < len(p.toks) {
		err = errFilter("unexpected '" + p.toks[p.i] + "'")
	}
	return f, err
}

type errFilter string

func (e errFilter) Error() string { return string(e) }

type filterParser struct {
	toks  []string
	i     int
	known map[string]bool
}

func (p *filterParser) next() string {
	if p.i >= len(p.toks) {
		return ""
	}
	p.i++
	return p.toks[p.i-1]
}

func (p *filterParser) peekWord(w string) bool {
	return p.i < len(p.toks) && strings.EqualFold(p.toks[p.i], w)
}

func (p *filterParser) or() (func(map[string]any) bool, error) {
	return p.chain("or", p.and, func(a, b bool) bool { return a || b })
}

func (p *filterParser) and() (func(map[string]any) bool, error) {
	return p.chain("and", p.cmp, func(a, b bool) bool { return a && b })
}

func (p *filterParser) chain(op string, sub func() (func(map[string]any) bool, error), join func(a, b bool) bool) (func(map[string]any) bool, error) {
	f, err := sub()
	for err == nil && p.peekWord(op) {
		p.i++
		var g func(map[string]any) bool
		if g, err = sub(); err == nil {
			left := f
			f = func(m map[string]any) bool { return join(left(m), g(m)) }
		}
	}
	return f, err
}

func (p *filterParser) cmp() (func(map[string]any) bool, error) {
	if p.peekWord("(") {
		p.i++
		f, err := p.or()
		if err == nil && p.next() != ")" {
			err = errFilter("missing ')'")
		}
		return f, err
	}
	prop := p.next()
	name, ok := lookupFold(p.known, prop)
	if !ok {
		return nil, errFilter("could not find a property named '" + prop + "'")
	}
	op := p.next()
	if strings.EqualFold(op, "ge") && rangeProps[name] {
		return geTime(name, p.next())
	}
	if !strings.EqualFold(op, "eq") {
		return nil, errFilter("only 'eq' is supported, got '" + op + "'")
	}
	lit := p.next()
	switch {
	case len(lit) >= 2 && lit[0] == '\'' && lit[len(lit)-1] == '\'':
		want := strings.ReplaceAll(lit[1:len(lit)-1], "''", "'")
		return func(m map[string]any) bool { s, ok := m[name].(string); return ok && strings.EqualFold(s, want) }, nil
	case lit == "true" || lit == "false":
		want := lit == "true"
		return func(m map[string]any) bool { b, ok := m[name].(bool); return ok && b == want }, nil
	}
	return nil, errFilter("'" + lit + "' is not a quoted string, true or false")
}

// rangeProps are the date fields a reconcile round filters on with ge
// (lastUpdatedDateTime of a detection, riskLastUpdatedDateTime of a risky
// service principal); no other field and no other range operator is
// accepted, so a client that relies on more fails here as it might in
// Graph.
var rangeProps = map[string]bool{"lastUpdatedDateTime": true, "riskLastUpdatedDateTime": true}

// geTime compiles "prop ge <DateTimeOffset>": an unquoted RFC 3339 literal,
// as OData writes it. An object without the field does not match.
func geTime(name, lit string) (func(map[string]any) bool, error) {
	want, err := time.Parse(time.RFC3339Nano, lit)
	if err != nil {
		return nil, errFilter("'" + lit + "' is not a DateTimeOffset literal (unquoted, RFC 3339)")
	}
	return func(m map[string]any) bool {
		s, ok := m[name].(string)
		if !ok {
			return false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return err == nil && !t.Before(want)
	}, nil
}

func tokenize(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ':
			i++
		case c == '(' || c == ')':
			toks = append(toks, string(c))
			i++
		case c == '\'':
			j := i + 1
			for j < len(s) && (s[j] != '\'' || j+1 < len(s) && s[j+1] == '\'') {
				if s[j] == '\'' {
					j++ // doubled quote
				}
				j++
			}
			toks = append(toks, s[i:min(j+1, len(s))])
			i = j + 1
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '(' && s[j] != ')' {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks
}
