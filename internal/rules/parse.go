package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/netip"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/ids"
)

// Error is one problem in a rules file. Parse returns all it finds, joined
// (errors.Join); errors.As finds the first.
type Error struct {
	File   string
	Line   int
	Column int
	// Path locates the value in the document, e.g. rules[2].do[1] or
	// apps["6131d760-..."].allowedNetworks[0]; "" for the top level.
	Path string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Parse parses a rules file's content; name is used in messages (the path).
// Parsing walks the YAML node tree itself rather than decoding into structs,
// so that every error can name the key, its line and its path in words, and
// all problems are reported at once.
func Parse(data []byte, name string) (*Set, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Msg: "the file is empty; it needs at least one rule"}
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return nil, &Error{File: name, Msg: "the file is empty; it needs at least one rule"}
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, &Error{File: name, Line: more.Line, Column: more.Column, Msg: "more than one YAML document; a rules file holds one"}
	}
	p := &parser{file: name}
	s := p.set(doc.Content[0])
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	s.source = name
	return s, nil
}

type parser struct {
	file string
	errs []error
}

func (p *parser) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &Error{File: p.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

func (p *parser) set(root *yaml.Node) *Set {
	s := &Set{apps: map[string]AppRule{}, protectedTag: DefaultProtectedTag}
	f := p.fields(root, "", "rules", "apps", "protectedTag", "tiers", "reach")
	if f == nil {
		return s
	}
	if n, ok := f["rules"]; ok {
		s.rules = p.rules(n.value)
	} else {
		p.errorf(root, "", `missing key "rules"; the file needs at least one rule`)
	}
	if n, ok := f["apps"]; ok && !isNull(n.value) {
		s.apps = p.apps(n.value)
	}
	if n, ok := f["tiers"]; ok && !isNull(n.value) {
		s.tiers = p.tiers(n.value)
	}
	if n, ok := f["reach"]; ok && !isNull(n.value) {
		s.reach = p.reachRules(n.value)
	}
	if n, ok := f["protectedTag"]; ok {
		if tag, ok := p.str(n.value, "protectedTag"); ok {
			if tag != strings.TrimSpace(tag) {
				p.errorf(n.value, "protectedTag", "%q has leading or trailing spaces", tag)
			}
			s.protectedTag = tag
		}
	}
	return s
}

func (p *parser) rules(n *yaml.Node) []Rule {
	items, ok := p.list(n, "rules")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.errorf(n, "rules", "no rules; the file needs at least one")
		return nil
	}
	var rs []Rule
	names := map[string]int{}
	for i, item := range items {
		path := fmt.Sprintf("rules[%d]", i)
		r, ok := p.rule(item, path)
		if !ok {
			continue
		}
		if j, dup := names[r.Name]; dup {
			p.errorf(item, path, "name %q is already used by rules[%d]", r.Name, j)
		}
		names[r.Name] = i
		for j, earlier := range rs {
			if shadows(earlier.When, r.When) {
				p.errorf(item, path, "rule %q can never match: rule %q (rules[%d]) comes first and matches every signal it would (the first matching rule wins); move it up or narrow the earlier rule",
					r.Name, earlier.Name, j)
				break
			}
		}
		rs = append(rs, r)
	}
	return rs
}

// shadows reports whether every signal b matches is matched by a.
func shadows(a, b When) bool {
	covers := func(x, y []string) bool {
		return len(x) == 0 || (len(y) > 0 && !slices.ContainsFunc(y, func(v string) bool {
			return !slices.ContainsFunc(x, func(w string) bool { return strings.EqualFold(v, w) })
		}))
	}
	for _, k := range b.Kinds {
		if !slices.Contains(a.Kinds, k) {
			return false
		}
	}
	return covers(a.RiskLevels, b.RiskLevels) && covers(a.RiskEventTypes, b.RiskEventTypes)
}

func (p *parser) rule(n *yaml.Node, path string) (Rule, bool) {
	f := p.fields(n, path, "name", "when", "do", "dryRun", "requireAtRisk")
	if f == nil {
		return Rule{}, false
	}
	nerr := len(p.errs)
	r := Rule{Line: n.Line}
	if v, ok := f["name"]; ok {
		if name, ok := p.str(v.value, path+".name"); ok {
			if strings.TrimSpace(name) == "" || name != strings.TrimSpace(name) {
				p.errorf(v.value, path+".name", "%q: a name must not be empty or start or end with spaces", name)
			}
			r.Name = name
		}
	} else {
		p.errorf(n, path, `missing key "name"`)
	}
	if v, ok := f["when"]; ok {
		r.When = p.when(v.value, path+".when")
	} else {
		p.errorf(n, path, `missing key "when"; say which signals the rule is for, e.g. when: {kinds: [leakedCredential]}`)
	}
	doOK := false
	if v, ok := f["do"]; ok {
		before := len(p.errs)
		r.Do = p.actions(v.value, path+".do")
		doOK = len(p.errs) == before
	} else {
		p.errorf(n, path, `missing key "do"; list the actions, or write do: [] for a rule that matches and does nothing`)
	}
	if v, ok := f["dryRun"]; ok {
		r.DryRun = p.boolean(v.value, path+".dryRun")
	}
	if v, ok := f["requireAtRisk"]; ok {
		r.RequireAtRisk = p.boolean(v.value, path+".requireAtRisk")
		if r.RequireAtRisk && r.Do != nil && !r.Has(RemoveCredential) {
			p.errorf(v.key, path+".requireAtRisk", "has no effect: it gates %s, which the rule does not do", RemoveCredential)
		}
	}
	// Only a Graph risk detection, re-read, names a key; any other signal's
	// key comes from the event alone, and an event never decides which key
	// goes.
	if doOK && r.Has(RemoveCredential) {
		for _, k := range r.When.Kinds {
			if k != detect.LeakedCredential && k != detect.RiskDetection {
				p.errorf(f["do"].value, path+".do", "%s on %s signals: only a risk detection (leakedCredential, riskDetection) names a key that Graph confirms; a %s names a key only the event vouches for. Use confirmCompromised or disableServicePrincipal (done only when Graph shows the service principal at risk), or split the rule", RemoveCredential, k, k)
				break
			}
		}
	}
	// Only judged on a clean list: a misspelt notify is already reported.
	if doOK && r.Contains() && !r.Has(Notify) {
		p.errorf(f["do"].value, path+".do", "changes the tenant without %s: the owners must learn that their app was changed; add %s", Notify, Notify)
	}
	return r, len(p.errs) == nerr
}

func (p *parser) when(n *yaml.Node, path string) When {
	var w When
	f := p.fields(n, path, "kinds", "riskLevels", "riskEventTypes")
	if f == nil {
		return w
	}
	if v, ok := f["kinds"]; ok {
		items, _ := p.stringList(v.value, path+".kinds")
		if items != nil && len(items) == 0 {
			p.errorf(v.value, path+".kinds", "empty; name at least one kind (%s)", joinKinds(ruleKinds()))
		}
		for i, it := range items {
			k := detect.Kind(it.s)
			ipath := fmt.Sprintf("%s.kinds[%d]", path, i)
			switch {
			case evidenceKind(k):
				p.errorf(it.n, ipath, "%s signals are evidence attached to incidents, not incidents; they cannot have a rule", k)
			case !slices.Contains(ruleKinds(), k):
				p.errorf(it.n, ipath, "unknown kind %q%s; known kinds: %s", it.s, suggest(it.s, kindStrings()), joinKinds(ruleKinds()))
			case slices.Contains(w.Kinds, k):
				p.errorf(it.n, ipath, "kind %s is listed twice", k)
			default:
				w.Kinds = append(w.Kinds, k)
			}
		}
	} else {
		p.errorf(n, path, `missing key "kinds"; name the signal kinds the rule is for (%s)`, joinKinds(ruleKinds()))
	}
	if v, ok := f["riskLevels"]; ok {
		items, _ := p.stringList(v.value, path+".riskLevels")
		for i, it := range items {
			l := strings.ToLower(it.s)
			ipath := fmt.Sprintf("%s.riskLevels[%d]", path, i)
			switch {
			case !slices.Contains(riskLevels(), l):
				p.errorf(it.n, ipath, "unknown risk level %q; known levels: %s", it.s, strings.Join(riskLevels(), ", "))
			case slices.Contains(w.RiskLevels, l):
				p.errorf(it.n, ipath, "risk level %s is listed twice", l)
			default:
				w.RiskLevels = append(w.RiskLevels, l)
			}
		}
	}
	if v, ok := f["riskEventTypes"]; ok {
		items, _ := p.stringList(v.value, path+".riskEventTypes")
		for i, it := range items {
			ipath := fmt.Sprintf("%s.riskEventTypes[%d]", path, i)
			switch {
			case strings.TrimSpace(it.s) == "" || strings.ContainsAny(it.s, " \t"):
				p.errorf(it.n, ipath, "%q is not a risk event type (a single word such as leakedCredentials)", it.s)
			case slices.ContainsFunc(w.RiskEventTypes, func(t string) bool { return strings.EqualFold(t, it.s) }):
				p.errorf(it.n, ipath, "risk event type %s is listed twice", it.s)
			default:
				w.RiskEventTypes = append(w.RiskEventTypes, it.s)
			}
		}
	}
	return w
}

func (p *parser) actions(n *yaml.Node, path string) []Action {
	items, ok := p.stringList(n, path)
	if !ok {
		return nil
	}
	do := []Action{} // empty, not nil: "do: []" was written
	for i, it := range items {
		a := Action(it.s)
		ipath := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case !slices.Contains(actions(), a):
			p.errorf(it.n, ipath, "unknown action %q%s; known actions: %s", it.s, suggest(it.s, actionStrings()), strings.Join(actionStrings(), ", "))
		case slices.Contains(do, a):
			p.errorf(it.n, ipath, "action %s is listed twice", a)
		default:
			do = append(do, a)
		}
	}
	return do
}

func (p *parser) apps(n *yaml.Node) map[string]AppRule {
	apps := map[string]AppRule{}
	appID := func(k *yaml.Node) (string, bool) {
		id := strings.ToLower(strings.TrimSpace(k.Value))
		if k.Kind != yaml.ScalarNode || !ids.IsGUID(id) {
			p.errorf(k, "apps", "key %s is not an appId (the application's client id, a GUID such as 6131d760-7fda-4db5-8bb1-b771898e9f15)", describe(k))
			return "", false
		}
		return id, true
	}
	p.entries(n, "apps", "a mapping from appId to settings", "appId ", appID, func(id string, _, v *yaml.Node, path string) {
		a := AppRule{AppID: id}
		f := p.fields(v, path, "protected", "allowedNetworks", "notify", "unlicensedFallback")
		if f == nil {
			return
		}
		if x, ok := f["protected"]; ok {
			a.Protected = p.boolean(x.value, path+".protected")
		}
		if x, ok := f["allowedNetworks"]; ok {
			a.AllowedNetworks = p.networks(x.value, path+".allowedNetworks")
		}
		if x, ok := f["notify"]; ok {
			a.Notify = p.addresses(x.value, path+".notify")
		}
		if x, ok := f["unlicensedFallback"]; ok {
			a.UnlicensedFallback = p.boolean(x.value, path+".unlicensedFallback")
		}
		apps[id] = a
	})
	return apps
}

// entries walks the key/value pairs of the mapping name (aliases
// resolved), want saying what it should be. key reads a key (reporting a
// bad one itself); a key seen before, in any case, is reported as a
// duplicate (named with dupName before it); fn gets every other pair with
// its path.
func (p *parser) entries(n *yaml.Node, name, want, dupName string, key func(k *yaml.Node) (string, bool), fn func(key string, k, v *yaml.Node, path string)) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, name, "want %s, got %s", want, describe(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		id, ok := key(k)
		if !ok {
			continue
		}
		if line, dup := seen[strings.ToLower(id)]; dup {
			p.errorf(k, name, "%s%s appears twice (first on line %d)", dupName, id, line)
			continue
		}
		seen[strings.ToLower(id)] = k.Line
		fn(id, k, v, fmt.Sprintf("%s[%q]", name, k.Value))
	}
}

// networks parses CIDR prefixes and single addresses (a /32 or /128).
func (p *parser) networks(n *yaml.Node, path string) []netip.Prefix {
	items, _ := p.stringList(n, path)
	var out []netip.Prefix
	for i, it := range items {
		ipath := fmt.Sprintf("%s[%d]", path, i)
		s := strings.TrimSpace(it.s)
		var pfx netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			if pfx, err = netip.ParsePrefix(s); err != nil {
				p.errorf(it.n, ipath, "%q is not a network in CIDR form such as 10.0.0.0/8", it.s)
				continue
			}
			if pfx != pfx.Masked() {
				// Almost always a typo, and silently masking would widen
				// or shift what the operator meant.
				p.errorf(it.n, ipath, "%q has address bits set beyond /%d; the network is %s", it.s, pfx.Bits(), pfx.Masked())
				continue
			}
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				p.errorf(it.n, ipath, "%q is neither an IP address nor a network in CIDR form such as 10.0.0.0/8", it.s)
				continue
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		if pfx.Addr().Is4In6() {
			// Sign-in addresses are compared in their IPv4 form.
			p.errorf(it.n, ipath, "%q is an IPv4 network written as IPv6; write it in IPv4 form", it.s)
			continue
		}
		if slices.Contains(out, pfx) {
			p.errorf(it.n, ipath, "%s is listed twice", pfx)
			continue
		}
		out = append(out, pfx)
	}
	return out
}

func (p *parser) addresses(n *yaml.Node, path string) []string {
	items, _ := p.stringList(n, path)
	var out []string
	for i, it := range items {
		ipath := fmt.Sprintf("%s[%d]", path, i)
		a, err := mail.ParseAddress(it.s)
		if err != nil || a.Name != "" || a.Address != it.s {
			p.errorf(it.n, ipath, "%q is not a plain email address such as team@contoso.com", it.s)
			continue
		}
		if slices.ContainsFunc(out, func(x string) bool { return strings.EqualFold(x, a.Address) }) {
			p.errorf(it.n, ipath, "%s is listed twice", a.Address)
			continue
		}
		out = append(out, a.Address)
	}
	return out
}
