package rules

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/spresponder/spresponder/internal/ids"
)

// The reach of a leaked credential (internal/reach) is assessed after
// containment and put in a tier: critical, high or normal. Two optional
// sections of the rules file use it:
//
//	tiers:            # change the shipped tier of a permission or role
//	  Mail.Send: critical                                       # a Microsoft Graph permission
//	  fc780465-2017-40d4-a0c5-307022471b92/Machine.Scan: high   # resource appId / permission
//	  Global Reader: critical                                   # a directory role (name or template id)
//	reach:            # what a tier adds to the matching rule, once the reach is known
//	  critical:
//	    do: [confirmCompromised]   # containment beyond the credential
//	    page: true                 # page on-call at once, with the reach
//	    phone: true                # and copy the security contact by the phone webhook
//	  normal:
//	    notify: owners             # tell the owners only (the security contact is
//	                               # copied anyway when no owner can be reached)
//
// A reach section can only add containment beyond the credential
// (confirmCompromised, disableServicePrincipal), pages, and narrow the
// notice to the owners: the rule that matched the signal already decided
// the removal, which never waits for the reach. Both sections are strict
// like the rest of the file. (The issue sketched `when: {reach: ...}` on a
// rule; a section per tier says the same without making every rule repeat
// its signal conditions per tier, and keeps the removal's rule independent
// of a read that comes after it.)

// ReachRule is what a tier adds to the matching rule.
type ReachRule struct {
	Tier string
	// Do lists the containment actions added (confirmCompromised,
	// disableServicePrincipal), run after the reach is known.
	Do []Action
	// Page pages on-call at once, with the reach.
	Page bool
	// Phone copies the security contact by the phone webhook
	// (SPRESPONDER_SECURITY_PHONE_WEBHOOK), with the reach.
	Phone bool
	// OwnersOnly tells the app's owners only: the security contact is not
	// copied (unless no owner can be reached, when it is told instead).
	OwnersOnly bool
	Line       int
}

// Notify values of a reach section.
const (
	NotifyOwners   = "owners"   // the owners only
	NotifyEveryone = "everyone" // the owners and the security contact (the default)
)

// ReachPhone reports whether some reach section asks for the phone
// webhook (the configuration must then name one).
func (s *Set) ReachPhone() bool {
	for _, r := range s.reach {
		if r.Phone {
			return true
		}
	}
	return false
}

// reachTiers are the tiers a reach section may name.
func reachTiers() []string { return []string{"critical", "high", "normal"} }

// Tiers returns the tier overrides (permission or role -> tier), keys as
// written; nil when the file has none.
func (s *Set) Tiers() map[string]string { return maps.Clone(s.tiers) }

// Reach returns what the tier adds to the matching rule, and whether the
// file says anything for it.
func (s *Set) Reach(tier string) (ReachRule, bool) {
	r, ok := s.reach[strings.ToLower(tier)]
	r.Do = slices.Clone(r.Do)
	return r, ok
}

// ReachActions lists every action some reach section adds (for the
// permissions setup derives).
func (s *Set) ReachActions() []Action {
	var out []Action
	for _, t := range reachTiers() {
		for _, a := range s.reach[t].Do {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

func (p *parser) tiers(n *yaml.Node) map[string]string {
	out := map[string]string{}
	permission := func(k *yaml.Node) (string, bool) {
		key := strings.TrimSpace(k.Value)
		if k.Kind != yaml.ScalarNode || key == "" || key != k.Value {
			p.errorf(k, "tiers", "key %s is not a permission or role name (such as Mail.Send, <resource appId>/Machine.Isolate or Global Reader)", describe(k))
			return "", false
		}
		return key, true
	}
	p.entries(n, "tiers", "a mapping from a permission or role to a tier (critical, high, normal)", "", permission, func(key string, k, v *yaml.Node, path string) {
		if res, name, ok := strings.Cut(key, "/"); ok && (!ids.IsGUID(strings.ToLower(res)) || name == "") {
			p.errorf(k, path, "%q: a qualified permission is <resource appId>/<permission>, such as fc780465-2017-40d4-a0c5-307022471b92/Machine.Isolate", key)
			return
		}
		t, ok := p.str(v, path)
		if !ok {
			return
		}
		if !slices.Contains(reachTiers(), t) {
			p.errorf(v, path, "unknown tier %q; known tiers: %s", t, strings.Join(reachTiers(), ", "))
			return
		}
		out[key] = t
	})
	return out
}

func (p *parser) reachRules(n *yaml.Node) map[string]ReachRule {
	out := map[string]ReachRule{}
	f := p.fields(n, "reach", reachTiers()...)
	for _, t := range reachTiers() {
		v, ok := f[t]
		if !ok {
			continue
		}
		path := "reach." + t
		rf := p.fields(v.value, path, "do", "page", "phone", "notify")
		if rf == nil {
			continue
		}
		r := ReachRule{Tier: t, Line: v.key.Line}
		if x, ok := rf["do"]; ok {
			for i, a := range p.actions(x.value, path+".do") {
				if a != ConfirmCompromised && a != DisableServicePrincipal {
					p.errorf(x.value, fmt.Sprintf("%s.do[%d]", path, i), "%s cannot follow from the reach: only %s and %s can (the matching rule already decided the credential's removal and the notice)",
						a, ConfirmCompromised, DisableServicePrincipal)
					continue
				}
				r.Do = append(r.Do, a)
			}
		}
		if x, ok := rf["page"]; ok {
			r.Page = p.boolean(x.value, path+".page")
		}
		if x, ok := rf["phone"]; ok {
			r.Phone = p.boolean(x.value, path+".phone")
		}
		if x, ok := rf["notify"]; ok {
			if v, ok := p.str(x.value, path+".notify"); ok {
				switch v {
				case NotifyOwners:
					r.OwnersOnly = true
				case NotifyEveryone:
				default:
					p.errorf(x.value, path+".notify", "unknown value %q; want %s (the owners only) or %s (the owners and the security contact)", v, NotifyOwners, NotifyEveryone)
				}
			}
		}
		out[t] = r
	}
	return out
}
