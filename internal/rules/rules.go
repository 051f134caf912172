// Package rules decides which signals lead to which actions, from a small
// declarative YAML file.
//
// The model. A rule set is an ordered list of rules and a table of per-app
// settings. Each rule has a condition (when: signal kinds, and optionally
// risk levels and risk event types) and a list of actions (do:). A signal is
// matched against the rules from top to bottom and the first rule that
// matches decides; a signal no rule matches opens no incident. First match
// wins so that a specific rule placed above a general one (unexpected-network
// sign-ins above all risky sign-ins) can be tuned without touching the
// general one; a rule that an earlier rule hides completely is an error, not
// a silent no-op.
//
// The actions name what to do, not how: the playbook runs containment
// (removeCredential, confirmCompromised, disableServicePrincipal), then the
// Conditional Access check, then notification, whatever the order in the
// file, and it applies the global safety switches (kill switch, dry run,
// breaker) on top of the rule's own dryRun and requireAtRisk. The playbook
// declares its own small interface; an adapter over Match and Rule.Has
// fills it.
//
// Per-app settings say which apps are protected (notify only), which networks
// an app signs in from (for the responder's own unexpected-network
// detection) and who else to notify. A service principal carrying the
// protected tag is protected too.
//
// Parsing is strict, because a typo in a responder's rules either does
// nothing or removes credentials it should not: unknown keys, unknown
// actions or kinds, malformed networks, appIds or addresses are errors that
// name the file, line, path and key. The shipped default is embedded
// (default.yaml) and is what runs when no file is configured.
package rules

import (
	"bytes"
	_ "embed"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"unicode"

	"github.com/spresponder/spresponder/internal/detect"
)

// defaultYAML is the shipped rule set. It lives next to the code because
// The embed directive cannot reach outside the package directory; DefaultYAML hands it
// out for printing or copying.
//
//go:embed default.yaml
var defaultYAML []byte

// DefaultProtectedTag is the service-principal tag that makes an app
// notify-only when the rules file does not name another.
const DefaultProtectedTag = "spresponder:protected"

// Action is one thing a rule can ask for.
type Action string

const (
	// RemoveCredential removes exactly the credential(s) the signal names.
	RemoveCredential Action = "removeCredential"
	// ConfirmCompromised marks the service principal compromised: its risk
	// becomes high, so risk-based Conditional Access blocks new tokens.
	ConfirmCompromised Action = "confirmCompromised"
	// DisableServicePrincipal disables the service principal.
	DisableServicePrincipal Action = "disableServicePrincipal"
	// CheckPolicy checks that Conditional Access blocks the service principal.
	CheckPolicy Action = "checkPolicy"
	// Notify tells the owners.
	Notify Action = "notify"
)

// actions lists every action in the order the playbook runs them.
func actions() []Action {
	return []Action{RemoveCredential, ConfirmCompromised, DisableServicePrincipal, CheckPolicy, Notify}
}

// Containment reports whether the action changes the tenant.
func (a Action) Containment() bool {
	return a == RemoveCredential || a == ConfirmCompromised || a == DisableServicePrincipal
}

// ruleKinds are the signal kinds a rule may name. BlockedSignIn and
// CredentialChange are evidence for incidents, not incidents: a rule that
// removed credentials on a credential change would react to the responder's
// own removals.
func ruleKinds() []detect.Kind {
	return []detect.Kind{detect.LeakedCredential, detect.RiskDetection, detect.RiskySignIn, detect.RiskyServicePrincipal, detect.FailedSecretSignIns, detect.ExpiredSecretSignIns}
}

func evidenceKind(k detect.Kind) bool {
	return k == detect.BlockedSignIn || k == detect.CredentialChange
}

// riskLevels are the values a rule may match. "hidden" is what tenants
// without Workload Identities Premium see for every detection.
func riskLevels() []string { return []string{"low", "medium", "high", "none", "hidden"} }

// When is a rule's condition. Every condition given must hold; an empty
// list does not constrain.
type When struct {
	Kinds          []detect.Kind
	RiskLevels     []string // lower case; a signal without a level counts as "hidden"
	RiskEventTypes []string // compared without regard to case
}

// Matches reports whether the signal meets the condition.
func (w When) Matches(s detect.Signal) bool {
	if !slices.Contains(w.Kinds, s.Kind) {
		return false
	}
	if len(w.RiskLevels) > 0 {
		level := strings.ToLower(strings.TrimSpace(s.RiskLevel))
		if level == "" {
			level = "hidden"
		}
		if !slices.Contains(w.RiskLevels, level) {
			return false
		}
	}
	if len(w.RiskEventTypes) > 0 && !slices.ContainsFunc(w.RiskEventTypes, func(t string) bool { return strings.EqualFold(t, s.RiskEventType) }) {
		return false
	}
	return true
}

// Rule is one rule of the set.
type Rule struct {
	Name string
	When When
	// Do lists the actions. An empty list matches and does nothing.
	Do []Action
	// DryRun makes the rule plan and report its containment without making
	// it.
	DryRun bool
	// RequireAtRisk makes removeCredential wait for Graph to show the
	// service principal atRisk or confirmedCompromised (its risky sign-ins
	// alone are weaker evidence than a leak); without that the credential
	// is kept and the owners are told. Other actions are not gated.
	RequireAtRisk bool
	// Line is where the rule starts in its file, for messages.
	Line int
}

// Has reports whether the rule asks for the action.
func (r Rule) Has(a Action) bool { return slices.Contains(r.Do, a) }

// Contains reports whether the rule asks for any containment action.
func (r Rule) Contains() bool { return slices.ContainsFunc(r.Do, Action.Containment) }

func (r Rule) clone() Rule {
	r.When.Kinds = slices.Clone(r.When.Kinds)
	r.When.RiskLevels = slices.Clone(r.When.RiskLevels)
	r.When.RiskEventTypes = slices.Clone(r.When.RiskEventTypes)
	r.Do = slices.Clone(r.Do)
	return r
}

// AppRule holds the settings for one app. The zero value means no settings.
type AppRule struct {
	AppID string // lower case
	// Protected makes the app notify-only.
	Protected bool
	// AllowedNetworks are the networks the app signs in from; a successful
	// sign-in from elsewhere is an unexpected-network risky sign-in.
	AllowedNetworks []netip.Prefix
	// Notify lists addresses told about every incident of the app, besides
	// its owners.
	Notify []string
	// UnlicensedFallback: when the tenant has no Workload Identities
	// Premium licence (so Graph cannot verify a detection), act on the
	// credential the detection names existing on this app. An explicit,
	// per-app opt-in; the incident says it was used.
	UnlicensedFallback bool
}

// Set is a parsed rule set. It is read-only after Parse, so one Set may be
// shared by concurrent invocations.
type Set struct {
	source       string
	rules        []Rule
	apps         map[string]AppRule // by lower-case appId
	protectedTag string
	tiers        map[string]string    // reach.go: permission or role -> tier
	reach        map[string]ReachRule // reach.go: by tier
}

// Load reads and parses a rules file.
func Load(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read rules file: %w", err)
	}
	return Parse(data, path)
}

// Default returns the shipped rule set. It panics if the embedded file does
// not parse, which the package's tests rule out.
func Default() *Set {
	s, err := Parse(defaultYAML, "default rules (built in)")
	if err != nil {
		panic(fmt.Sprintf("rules: the embedded default does not parse: %v", err))
	}
	return s
}

// DefaultYAML returns the text of the shipped rule set, comments included:
// the starting point for a tenant's own file.
func DefaultYAML() []byte { return slices.Clone(defaultYAML) }

// Source names where the set came from (the file name given to Parse).
func (s *Set) Source() string { return s.source }

// Rules returns the rules in matching order.
func (s *Set) Rules() []Rule {
	out := make([]Rule, len(s.rules))
	for i, r := range s.rules {
		out[i] = r.clone()
	}
	return out
}

// ProtectedTag is the service-principal tag that makes an app protected; ""
// when tag-based protection is off.
func (s *Set) ProtectedTag() string { return s.protectedTag }

// Match returns the first rule, in file order, whose condition the signal
// meets. ok is false when no rule matches: the signal opens no incident.
func (s *Set) Match(sig detect.Signal) (Rule, bool) {
	for _, r := range s.rules {
		if r.When.Matches(sig) {
			return r.clone(), true
		}
	}
	return Rule{}, false
}

// App returns the settings for an app (by appId, in any case); the zero
// AppRule when the file has none.
func (s *Set) App(appID string) AppRule {
	a, ok := s.apps[strings.ToLower(strings.TrimSpace(appID))]
	if !ok {
		return AppRule{}
	}
	a.AllowedNetworks = slices.Clone(a.AllowedNetworks)
	a.Notify = slices.Clone(a.Notify)
	return a
}

// NotifyOverrides maps each appId with extra notification addresses to
// them (the notifier's per-app override).
func (s *Set) NotifyOverrides() map[string][]string {
	out := map[string][]string{}
	for id, a := range s.apps {
		if len(a.Notify) > 0 {
			out[id] = slices.Clone(a.Notify)
		}
	}
	return out
}

// AllowedNetworks returns the networks an app is expected to sign in from,
// nil when the file names none. Its signature fits
// detect.Options.AllowedNetworks. Detection calls it for every successful
// sign-in, so it does not copy: callers must not modify the result.
func (s *Set) AllowedNetworks(appID string) []netip.Prefix {
	return s.apps[strings.ToLower(appID)].AllowedNetworks
}

// AllowedNetworksOf is AllowedNetworks for an appId as record bytes: the
// detection hot path's form, which allocates nothing for a lower-case id.
func (s *Set) AllowedNetworksOf(appID []byte) []netip.Prefix {
	if a, ok := s.apps[string(appID)]; ok {
		return a.AllowedNetworks
	}
	if bytes.ContainsFunc(appID, unicode.IsUpper) {
		return s.apps[strings.ToLower(string(appID))].AllowedNetworks
	}
	return nil
}

// Protected reports whether the app must only be notified about, never
// changed, and why. The app list and the tag both protect; neither can take
// the other's protection away. The reason starts with "protected", which
// the notifier recognises.
func (s *Set) Protected(appID string, spTags []string) (bool, string) {
	if a, ok := s.apps[strings.ToLower(strings.TrimSpace(appID))]; ok && a.Protected {
		return true, fmt.Sprintf("protected: app %s is marked protected in %s", a.AppID, s.source)
	}
	if s.protectedTag != "" {
		for _, t := range spTags {
			if strings.EqualFold(strings.TrimSpace(t), s.protectedTag) {
				return true, fmt.Sprintf("protected: the service principal has the tag %q", s.protectedTag)
			}
		}
	}
	return false, ""
}
