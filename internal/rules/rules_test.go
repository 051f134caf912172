package rules_test

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/rules"
)

const (
	datadogApp = "6131d760-7fda-4db5-8bb1-b771898e9f15"
	legacyApp  = "9c1e3a5b-7d9f-4b2d-8e0a-6c3f5b7d9e46"
	billingApp = "e2b7d4f1-8c3a-4b69-a0d5-7f1e9c2b6a38"
	exampleRel = "../../testdata/rules/example.yaml"
)

func acts(as ...rules.Action) []rules.Action { return as }

func TestDefaultParses(t *testing.T) {
	s := rules.Default()
	var names []string
	for _, r := range s.Rules() {
		names = append(names, r.Name)
	}
	want := []string{"leaked-credential", "unexpected-network", "risky-sign-in", "risk-detection-high", "risky-service-principal", "failed-secret-sign-ins"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("default rules %v, want %v", names, want)
	}
	if s.ProtectedTag() != rules.DefaultProtectedTag {
		t.Errorf("protected tag %q", s.ProtectedTag())
	}
	if !bytes.Contains(rules.DefaultYAML(), []byte("# do: [confirmCompromised")) && !bytes.Contains(rules.DefaultYAML(), []byte("#   do: [confirmCompromised")) {
		t.Error("the default no longer shows confirmCompromised as the opt-in")
	}
	if _, err := rules.Parse(rules.DefaultYAML(), "copy"); err != nil {
		t.Errorf("DefaultYAML does not parse: %v", err)
	}
}

func TestDefaultMatches(t *testing.T) {
	s := rules.Default()
	tests := []struct {
		name          string
		sig           detect.Signal
		rule          string // "" = no rule
		do            []rules.Action
		requireAtRisk bool
	}{
		{"leaked credential", detect.Signal{Kind: detect.LeakedCredential, RiskEventType: "leakedCredentials", RiskLevel: "high"},
			"leaked-credential", acts(rules.RemoveCredential, rules.CheckPolicy, rules.Notify), false},
		{"leaked credential, level hidden", detect.Signal{Kind: detect.LeakedCredential, RiskLevel: "hidden"},
			"leaked-credential", acts(rules.RemoveCredential, rules.CheckPolicy, rules.Notify), false},
		{"risk detection at high", detect.Signal{Kind: detect.RiskDetection, RiskEventType: "suspiciousSignins", RiskLevel: "high"},
			"risk-detection-high", acts(rules.CheckPolicy, rules.Notify), false},
		{"risk detection at high, level in capitals", detect.Signal{Kind: detect.RiskDetection, RiskLevel: "HIGH"},
			"risk-detection-high", acts(rules.CheckPolicy, rules.Notify), false},
		{"risk detection, level hidden (no licence)", detect.Signal{Kind: detect.RiskDetection, RiskLevel: "hidden"},
			"risk-detection-high", acts(rules.CheckPolicy, rules.Notify), false},
		{"risk detection without a level counts as hidden", detect.Signal{Kind: detect.RiskDetection},
			"risk-detection-high", acts(rules.CheckPolicy, rules.Notify), false},
		{"risk detection at medium: no incident", detect.Signal{Kind: detect.RiskDetection, RiskLevel: "medium"}, "", nil, false},
		{"risk detection at low: no incident", detect.Signal{Kind: detect.RiskDetection, RiskLevel: "low"}, "", nil, false},
		{"risky sign-in", detect.Signal{Kind: detect.RiskySignIn, RiskLevel: "medium", RiskState: "atRisk"},
			"risky-sign-in", acts(rules.CheckPolicy, rules.Notify), false},
		{"sign-in from an unexpected network", detect.Signal{Kind: detect.RiskySignIn, RiskEventType: detect.UnexpectedNetwork, RiskLevel: "medium"},
			"unexpected-network", acts(rules.CheckPolicy, rules.Notify), false},
		{"risky service principal", detect.Signal{Kind: detect.RiskyServicePrincipal, RiskState: "confirmedCompromised", RiskLevel: "high"},
			"risky-service-principal", acts(rules.CheckPolicy, rules.Notify), false},
		{"failed secret sign-ins", detect.Signal{Kind: detect.FailedSecretSignIns, Count: 5},
			"failed-secret-sign-ins", acts(rules.Notify), false},
		{"failed secret sign-ins Entra rated high", detect.Signal{Kind: detect.FailedSecretSignIns, Count: 1, RiskLevel: "high"},
			"failed-secret-sign-ins", acts(rules.Notify), false},
		{"expired secret sign-ins (a job with an old secret): no incident", detect.Signal{Kind: detect.ExpiredSecretSignIns, Count: 40}, "", nil, false},
		{"blocked sign-in is evidence", detect.Signal{Kind: detect.BlockedSignIn, ErrorCode: 53003}, "", nil, false},
		{"credential change is evidence", detect.Signal{Kind: detect.CredentialChange}, "", nil, false},
		{"unknown kind", detect.Signal{Kind: "somethingNew"}, "", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := s.Match(tc.sig)
			if tc.rule == "" {
				if ok {
					t.Fatalf("matched rule %q, want none", r.Name)
				}
				return
			}
			if !ok || r.Name != tc.rule {
				t.Fatalf("matched %q (ok=%v), want %q", r.Name, ok, tc.rule)
			}
			if !reflect.DeepEqual(r.Do, tc.do) || r.RequireAtRisk != tc.requireAtRisk || r.DryRun {
				t.Errorf("rule %+v, want do %v requireAtRisk %v", r, tc.do, tc.requireAtRisk)
			}
		})
	}
}

func TestFirstMatchWins(t *testing.T) {
	const src = `
rules:
  - name: specific
    when: {kinds: [riskySignIn], riskEventTypes: [unexpectedNetwork]}
    do: [notify]
  - name: general
    when: {kinds: [riskySignIn, leakedCredential]}
    do: [confirmCompromised, notify]
`
	s, err := rules.Parse([]byte(src), "order.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Match(detect.Signal{Kind: detect.RiskySignIn, RiskEventType: "unexpectednetwork"})
	if r.Name != "specific" {
		t.Errorf("unexpected network matched %q, want specific", r.Name)
	}
	r, _ = s.Match(detect.Signal{Kind: detect.RiskySignIn, RiskEventType: "suspiciousSignins"})
	if r.Name != "general" {
		t.Errorf("other risky sign-in matched %q, want general", r.Name)
	}
	if r.Line != 6 {
		t.Errorf("general starts on line %d, want 6", r.Line)
	}

	// The same two rules the other way round: the specific one could never
	// match, which is an error rather than a silent no-op.
	swapped := `
rules:
  - name: general
    when: {kinds: [riskySignIn, leakedCredential]}
    do: [confirmCompromised, notify]
  - name: specific
    when: {kinds: [riskySignIn], riskEventTypes: [unexpectedNetwork]}
    do: [notify]
`
	_, err = rules.Parse([]byte(swapped), "order.yaml")
	want := `order.yaml:6:5: rules[1]: rule "specific" can never match: rule "general" (rules[0]) comes first and matches every signal it would`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v\nwant it to contain %s", err, want)
	}
}

func TestMatchReturnsACopy(t *testing.T) {
	s := rules.Default()
	r, _ := s.Match(detect.Signal{Kind: detect.LeakedCredential})
	r.Do[0] = rules.DisableServicePrincipal
	r.When.Kinds[0] = detect.RiskDetection
	r2, _ := s.Match(detect.Signal{Kind: detect.LeakedCredential})
	if r2.Do[0] != rules.RemoveCredential || r2.When.Kinds[0] != detect.LeakedCredential {
		t.Errorf("changing a matched rule changed the set: %+v", r2)
	}
}

func TestRuleOptions(t *testing.T) {
	const src = `
rules:
  - name: quiet
    when:
      kinds: [riskDetection]
      riskLevels: [low, MEDIUM]
    do: []
  - name: shadow-mode
    when:
      kinds: [leakedCredential]
    do: [removeCredential, disableServicePrincipal, checkPolicy, notify]
    dryRun: true
`
	s, err := rules.Parse([]byte(src), "opts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, ok := s.Match(detect.Signal{Kind: detect.RiskDetection, RiskLevel: "medium"})
	if !ok || r.Name != "quiet" || r.Do == nil || len(r.Do) != 0 || r.Contains() {
		t.Errorf("do: [] rule = %+v, ok %v", r, ok)
	}
	r, _ = s.Match(detect.Signal{Kind: detect.LeakedCredential})
	if !r.DryRun || !r.Has(rules.DisableServicePrincipal) || r.Has(rules.ConfirmCompromised) || !r.Contains() {
		t.Errorf("shadow-mode rule = %+v", r)
	}
	if s.Source() != "opts.yaml" || s.ProtectedTag() != rules.DefaultProtectedTag {
		t.Errorf("source %q, tag %q", s.Source(), s.ProtectedTag())
	}
	if _, ok := s.Match(detect.Signal{Kind: detect.RiskDetection, RiskLevel: "high"}); ok {
		t.Error("high risk detection matched a rule for low and medium")
	}
}

func TestLoadExample(t *testing.T) {
	s, err := rules.Load(exampleRel)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.AllowedNetworks(datadogApp); !reflect.DeepEqual(got, []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8:1200::/48")}) {
		t.Errorf("datadog networks %v", got)
	}
	if got := s.AllowedNetworks(strings.ToUpper(billingApp)); !reflect.DeepEqual(got, []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")}) {
		t.Errorf("a single address is a /32: %v", got)
	}
	if got := s.AllowedNetworks(legacyApp); got != nil {
		t.Errorf("app without networks: %v", got)
	}
	if got := s.AllowedNetworks("00000000-0000-0000-0000-000000000000"); got != nil {
		t.Errorf("unknown app: %v", got)
	}
	// The byte form detection uses, in either case.
	if len(s.AllowedNetworksOf([]byte(datadogApp))) != 2 || len(s.AllowedNetworksOf([]byte(strings.ToUpper(datadogApp)))) != 2 {
		t.Error("AllowedNetworksOf")
	}

	a := s.App(strings.ToUpper(datadogApp))
	want := rules.AppRule{
		AppID:           datadogApp,
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8:1200::/48")},
		Notify:          []string{"platform-team@contoso.com"},
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("App = %+v, want %+v", a, want)
	}
	a.AllowedNetworks[0] = netip.MustParsePrefix("0.0.0.0/0")
	if s.AllowedNetworks(datadogApp)[0].Bits() != 24 {
		t.Error("App hands out the set's own slice")
	}
	if a := s.App("nope"); !reflect.DeepEqual(a, rules.AppRule{}) {
		t.Errorf("unknown app: %+v", a)
	}

	r, _ := s.Match(detect.Signal{Kind: detect.RiskDetection, RiskLevel: "high"})
	if r.Name != "risk-detection-high" || !r.Has(rules.ConfirmCompromised) {
		t.Errorf("example's opt-in rule: %+v", r)
	}
	r, _ = s.Match(detect.Signal{Kind: detect.RiskySignIn, RiskEventType: detect.UnexpectedNetwork})
	if r.Name != "unexpected-network" || !r.DryRun {
		t.Errorf("example's dry-run rule: %+v", r)
	}

	if _, err := rules.Load("testdata/does-not-exist.yaml"); err == nil || !strings.Contains(err.Error(), "read rules file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestProtected(t *testing.T) {
	s, err := rules.Load(exampleRel)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		set    *rules.Set
		appID  string
		tags   []string
		want   bool
		reason string
	}{
		{"listed app", s, legacyApp, nil, true, "protected: app " + legacyApp + " is marked protected in " + exampleRel},
		{"listed app in another case", s, strings.ToUpper(legacyApp), nil, true, "protected: app " + legacyApp},
		{"tagged service principal", s, datadogApp, []string{"WindowsAzureActiveDirectoryIntegratedApp", "spresponder:protected"}, true,
			`protected: the service principal has the tag "spresponder:protected"`},
		{"tag in another case", s, datadogApp, []string{"SPResponder:Protected"}, true, "protected: the service principal has the tag"},
		{"neither", s, datadogApp, []string{"WindowsAzureActiveDirectoryIntegratedApp"}, false, ""},
		{"unknown app, no tags", s, "00000000-0000-0000-0000-000000000000", nil, false, ""},
		{"default set honours the tag", rules.Default(), datadogApp, []string{"spresponder:protected"}, true, "protected: the service principal has the tag"},
		{"default set lists no app", rules.Default(), legacyApp, nil, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := tc.set.Protected(tc.appID, tc.tags)
			if got != tc.want || !strings.HasPrefix(reason, tc.reason) || (tc.reason == "" && reason != "") {
				t.Errorf("Protected = %v, %q; want %v, %q...", got, reason, tc.want, tc.reason)
			}
		})
	}

	const base = "rules:\n  - name: r\n    when: {kinds: [leakedCredential]}\n    do: [notify]\n"
	custom, err := rules.Parse([]byte(base+"protectedTag: hands-off\napps:\n  \""+datadogApp+"\": {protected: false}\n"), "custom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := custom.Protected(datadogApp, []string{"spresponder:protected"}); ok {
		t.Error("the default tag protects although the file names another")
	}
	if ok, _ := custom.Protected(datadogApp, []string{"hands-off"}); !ok {
		t.Error("protected: false in the app list took the tag's protection away")
	}
	off, err := rules.Parse([]byte(base+"protectedTag: \"\"\n"), "off.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := off.Protected(datadogApp, []string{"spresponder:protected", ""}); ok || off.ProtectedTag() != "" {
		t.Error(`protectedTag: "" does not turn tag protection off`)
	}
}

func TestParseErrors(t *testing.T) {
	const rule = "  - name: r\n    when: {kinds: [leakedCredential]}\n    do: [notify]\n"
	tests := []struct {
		name string
		src  string
		want []string // each must appear in the error text
	}{
		{"unknown top-level key", "rule:\n" + rule, []string{`t.yaml:1:1: unknown key "rule" (did you mean "rules"?); known keys here: rules, apps, protectedTag`, `t.yaml:1:1: missing key "rules"`}},
		{"unknown key in when, with line", "rules:\n  - name: r\n    when:\n      kinds: [leakedCredential]\n      riskLevel: [high]\n    do: [notify]\n",
			[]string{`t.yaml:5:7: rules[0].when: unknown key "riskLevel" (did you mean "riskLevels"?)`}},
		{"unknown key in a rule", "rules:\n" + rule + "    dryrun: true\n",
			[]string{`t.yaml:5:5: rules[0]: unknown key "dryrun" (did you mean "dryRun"?)`}},
		{"unknown key in an app", "rules:\n" + rule + "apps:\n  \"" + datadogApp + "\":\n    allowedNetwork: [10.0.0.0/8]\n",
			[]string{`t.yaml:7:5: apps["` + datadogApp + `"]: unknown key "allowedNetwork" (did you mean "allowedNetworks"?)`}},
		{"unknown action, with path", "rules:\n" + rule + "  - name: r2\n    when: {kinds: [riskySignIn]}\n    do: [notify]\n" +
			"  - name: r3\n    when: {kinds: [riskyServicePrincipal]}\n    do: [notify, disableSP]\n",
			[]string{`t.yaml:10:18: rules[2].do[1]: unknown action "disableSP"; known actions: removeCredential, confirmCompromised, disableServicePrincipal, checkPolicy, notify`}},
		{"misspelt action", "rules:\n  - name: r\n    when: {kinds: [leakedCredential]}\n    do: [removeCredentials, notify]\n",
			[]string{`rules[0].do[0]: unknown action "removeCredentials" (did you mean "removeCredential"?)`}},
		{"unknown kind", "rules:\n  - name: r\n    when: {kinds: [leakedCredentials]}\n    do: [notify]\n",
			[]string{`t.yaml:3:20: rules[0].when.kinds[0]: unknown kind "leakedCredentials" (did you mean "leakedCredential"?); known kinds: leakedCredential, riskDetection, riskySignIn, riskyServicePrincipal, failedSecretSignIns, expiredSecretSignIns`}},
		{"evidence kind", "rules:\n  - name: r\n    when: {kinds: [credentialChange]}\n    do: [notify]\n",
			[]string{`rules[0].when.kinds[0]: credentialChange signals are evidence attached to incidents, not incidents; they cannot have a rule`}},
		{"unknown risk level", "rules:\n  - name: r\n    when: {kinds: [riskDetection], riskLevels: [severe]}\n    do: [notify]\n",
			[]string{`rules[0].when.riskLevels[0]: unknown risk level "severe"`}},
		{"bad CIDR", "rules:\n" + rule + "apps:\n  \"" + datadogApp + "\":\n    allowedNetworks: [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n",
			[]string{`t.yaml:7:37: apps["` + datadogApp + `"].allowedNetworks[1]: "10.0.0.0/33" is not a network in CIDR form`}},
		{"not an address", "rules:\n" + rule + "apps:\n  \"" + datadogApp + "\":\n    allowedNetworks: [corp-nat]\n",
			[]string{`allowedNetworks[0]: "corp-nat" is neither an IP address nor a network in CIDR form`}},
		{"host bits set", "rules:\n" + rule + "apps:\n  \"" + datadogApp + "\":\n    allowedNetworks: [10.1.2.3/8]\n",
			[]string{`"10.1.2.3/8" has address bits set beyond /8; the network is 10.0.0.0/8`}},
		{"IPv4 written as IPv6", "rules:\n" + rule + "apps:\n  \"" + datadogApp + "\":\n    allowedNetworks: [\"::ffff:10.0.0.0/104\"]\n",
			[]string{`is an IPv4 network written as IPv6`}},
		{"duplicate network", "rules:\n" + rule + "apps:\n  \"" + datadogApp + "\":\n    allowedNetworks: [203.0.113.7, 203.0.113.7/32]\n",
			[]string{`allowedNetworks[1]: 203.0.113.7/32 is listed twice`}},
		{"bad appId", "rules:\n" + rule + "apps:\n  Terraform-Datadog-CLI:\n    protected: true\n",
			[]string{`t.yaml:6:3: apps: key "Terraform-Datadog-CLI" is not an appId`}},
		{"appId twice in different case", "rules:\n" + rule + "apps:\n  \"" + datadogApp + "\": {protected: true}\n  \"" + strings.ToUpper(datadogApp) + "\": {protected: false}\n",
			[]string{`t.yaml:7:3: apps: appId ` + datadogApp + ` appears twice (first on line 6)`}},
		{"bad email", "rules:\n" + rule + "apps:\n  \"" + datadogApp + "\":\n    notify: [\"Platform <platform@contoso.com>\", nobody]\n",
			[]string{`notify[0]: "Platform <platform@contoso.com>" is not a plain email address`, `notify[1]: "nobody" is not a plain email address`}},
		{"not a boolean", "rules:\n" + rule + "    dryRun: yes\n", []string{`t.yaml:5:13: rules[0].dryRun: want true or false, got "yes"`}},
		{"missing do", "rules:\n  - name: r\n    when: {kinds: [leakedCredential]}\n",
			[]string{`t.yaml:2:5: rules[0]: missing key "do"; list the actions, or write do: [] for a rule that matches and does nothing`}},
		{"do without value", "rules:\n  - name: r\n    when: {kinds: [leakedCredential]}\n    do:\n", []string{`rules[0].do: want a list, got nothing`}},
		{"missing when", "rules:\n  - name: r\n    do: [notify]\n", []string{`rules[0]: missing key "when"`}},
		{"missing name", "rules:\n  - when: {kinds: [leakedCredential]}\n    do: [notify]\n", []string{`rules[0]: missing key "name"`}},
		{"missing kinds", "rules:\n  - name: r\n    when: {riskLevels: [high]}\n    do: [notify]\n", []string{`rules[0].when: missing key "kinds"`}},
		{"empty kinds", "rules:\n  - name: r\n    when: {kinds: []}\n    do: [notify]\n", []string{`rules[0].when.kinds: empty; name at least one kind`}},
		{"kinds not a list", "rules:\n  - name: r\n    when: {kinds: leakedCredential}\n    do: [notify]\n", []string{`rules[0].when.kinds: want a list, got "leakedCredential"`}},
		{"duplicate name", "rules:\n" + rule + "  - name: r\n    when: {kinds: [riskySignIn]}\n    do: [notify]\n", []string{`rules[1]: name "r" is already used by rules[0]`}},
		{"duplicate action", "rules:\n  - name: r\n    when: {kinds: [leakedCredential]}\n    do: [notify, notify]\n", []string{`rules[0].do[1]: action notify is listed twice`}},
		{"duplicate key", "rules:\n  - name: r\n    name: s\n    when: {kinds: [leakedCredential]}\n    do: [notify]\n", []string{`t.yaml:3:5: rules[0]: key "name" appears twice (first on line 2)`}},
		{"requireAtRisk without containment", "rules:\n" + rule + "    requireAtRisk: true\n",
			[]string{`t.yaml:5:5: rules[0].requireAtRisk: has no effect: it gates removeCredential, which the rule does not do`}},
		{"requireAtRisk with other containment only", "rules:\n  - name: r\n    when: {kinds: [riskyServicePrincipal]}\n    do: [confirmCompromised, notify]\n    requireAtRisk: true\n",
			[]string{`rules[0].requireAtRisk: has no effect: it gates removeCredential`}},
		{"containment without notify", "rules:\n  - name: r\n    when: {kinds: [leakedCredential]}\n    do: [removeCredential]\n",
			[]string{`rules[0].do: changes the tenant without notify`}},
		{"empty name", "rules:\n  - name: \"\"\n    when: {kinds: [leakedCredential]}\n    do: [notify]\n", []string{`rules[0].name: "": a name must not be empty`}},
		{"protectedTag with spaces", "rules:\n" + rule + "protectedTag: \" x \"\n", []string{`protectedTag: " x " has leading or trailing spaces`}},
		{"no rules key", "apps: {}\n", []string{`t.yaml:1:1: missing key "rules"`}},
		{"no rules", "rules: []\n", []string{`rules: no rules; the file needs at least one`}},
		{"rules not a list", "rules:\n  name: r\n", []string{`rules: want a list, got a mapping`}},
		{"top level not a mapping", "- a\n", []string{`t.yaml:1:1: want a mapping with the keys rules, apps, protectedTag, tiers, reach, got a list`}},
		{"empty file", "", []string{`t.yaml: the file is empty; it needs at least one rule`}},
		{"comments only", "# nothing yet\n", []string{`t.yaml: the file is empty`}},
		{"two documents", "rules:\n" + rule + "---\nrules: []\n", []string{`t.yaml:5:1: more than one YAML document`}},
		{"YAML syntax", "rules:\n  - name: r\n   when: x\n", []string{`t.yaml: yaml: line `}},
		{"a misspelt notify is reported once", "rules:\n  - name: r\n    when: {kinds: [leakedCredential]}\n    do: [removeCredential, notfy]\n",
			[]string{`t.yaml:4:28: rules[0].do[1]: unknown action "notfy" (did you mean "notify"?)`}},
		{"every problem at once", "rules:\n  - name: r\n    when: {kinds: [leakedCredential, nope]}\n    do: [notify, shout]\nprotected: x\n",
			[]string{`rules[0].when.kinds[1]: unknown kind "nope"`, `rules[0].do[1]: unknown action "shout"`, `unknown key "protected"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := rules.Parse([]byte(tc.src), "t.yaml")
			if err == nil {
				t.Fatalf("parsed: %+v", s.Rules())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nwant it to contain:\n%s", err, w)
				}
			}
			if got := strings.Count(err.Error(), "\n") + 1; got != max(len(tc.want), 1) {
				t.Errorf("%d errors reported, want %d:\n%v", got, len(tc.want), err)
			}
		})
	}
}

func TestErrorType(t *testing.T) {
	_, err := rules.Parse([]byte("rules:\n  - name: r\n    when: {kinds: [leakedCredential]}\n    do: [notify, bogus]\n"), "x.yaml")
	var e *rules.Error
	if !errors.As(err, &e) {
		t.Fatalf("err %T %v is not a *rules.Error", err, err)
	}
	if e.File != "x.yaml" || e.Line != 4 || e.Column != 18 || e.Path != "rules[0].do[1]" || !strings.HasPrefix(e.Msg, `unknown action "bogus"`) {
		t.Errorf("error = %+v", e)
	}
}

func TestAnchorsAndFlowStyle(t *testing.T) {
	const src = `
rules:
  - name: leaked
    when: &leak {kinds: [leakedCredential]}
    do: &contain [removeCredential, checkPolicy, notify]
  - name: risky
    when: {kinds: [riskDetection]}
    do: *contain
    requireAtRisk: true
`
	s, err := rules.Parse([]byte(src), "anchors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Match(detect.Signal{Kind: detect.RiskDetection})
	if !slices.Equal(r.Do, acts(rules.RemoveCredential, rules.CheckPolicy, rules.Notify)) {
		t.Errorf("alias not followed: %+v", r)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(rules.DefaultYAML())
	if data, err := os.ReadFile(exampleRel); err == nil {
		f.Add(data)
	}
	f.Add([]byte("rules:\n  - name: r\n    when: {kinds: [leakedCredential], riskLevels: [high]}\n    do: []\napps: {\"" + datadogApp + "\": {allowedNetworks: [1.2.3.4]}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := rules.Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		rs := s.Rules()
		if len(rs) == 0 {
			t.Fatal("parsed a set without rules")
		}
		for _, r := range rs {
			if r.Name == "" || len(r.When.Kinds) == 0 || r.Do == nil {
				t.Fatalf("incomplete rule %+v", r)
			}
			if r.Contains() && !r.Has(rules.Notify) {
				t.Fatalf("rule contains without notify: %+v", r)
			}
		}
	})
}

// Only a risk detection names a key Graph confirms: a rule that removes a
// credential on any other signal is refused, with the way out named.
func TestRemoveCredentialOnlyOnDetections(t *testing.T) {
	for _, kind := range []string{"riskySignIn", "riskyServicePrincipal", "failedSecretSignIns", "expiredSecretSignIns"} {
		src := "rules:\n  - name: r\n    when: {kinds: [leakedCredential, " + kind + "]}\n    do: [removeCredential, notify]\n"
		_, err := rules.Parse([]byte(src), "x.yaml")
		if err == nil || !strings.Contains(err.Error(), "only a risk detection") || !strings.Contains(err.Error(), "confirmCompromised") {
			t.Errorf("%s: %v", kind, err)
		}
	}
	if _, err := rules.Parse([]byte("rules:\n  - name: r\n    when: {kinds: [riskDetection]}\n    do: [removeCredential, notify]\n"), "x.yaml"); err != nil {
		t.Errorf("riskDetection: %v", err)
	}
}
