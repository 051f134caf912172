package rules

import (
	"strings"
	"testing"
)

const reachBase = `rules:
  - name: leaked
    when: {kinds: [leakedCredential]}
    do: [removeCredential, checkPolicy, notify]
`

func TestReachSectionsParse(t *testing.T) {
	s, err := Parse([]byte(reachBase+`tiers:
  Mail.Send: critical
  fc780465-2017-40d4-a0c5-307022471b92/Machine.Scan: high
  Global Reader: critical
reach:
  critical:
    do: [confirmCompromised]
    page: true
  normal: {}
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Tiers(); len(got) != 3 || got["Mail.Send"] != "critical" || got["fc780465-2017-40d4-a0c5-307022471b92/Machine.Scan"] != "high" {
		t.Errorf("tiers: %v", got)
	}
	r, ok := s.Reach("critical")
	if !ok || !r.Page || len(r.Do) != 1 || r.Do[0] != ConfirmCompromised {
		t.Errorf("reach critical: %+v %v", r, ok)
	}
	if r, ok := s.Reach("normal"); !ok || r.Page || len(r.Do) != 0 {
		t.Errorf("reach normal: %+v %v", r, ok)
	}
	if _, ok := s.Reach("high"); ok {
		t.Error("high has no section")
	}
	if a := s.ReachActions(); len(a) != 1 || a[0] != ConfirmCompromised {
		t.Errorf("reach actions: %v", a)
	}
}

func TestReachSectionsAreStrict(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"tiers:\n  Mail.Send: severe\n", `unknown tier "severe"`},
		{"tiers:\n  not-a-guid/Machine.Scan: high\n", "a qualified permission is <resource appId>/<permission>"},
		{"tiers:\n  Mail.Send: high\n  mail.send: normal\n", "appears twice"},
		{"tiers: [Mail.Send]\n", "want a mapping"},
		{"reach:\n  severe: {page: true}\n", `"severe"`},
		{"reach:\n  critical: {do: [removeCredential]}\n", "cannot follow from the reach"},
		{"reach:\n  critical: {do: [confirmCompromised], pager: true}\n", `"pager"`},
		{"reach:\n  high: {page: yes please}\n", "reach.high.page"},
		{"reach:\n  normal: {notify: nobody}\n", `unknown value "nobody"`},
		{"reach:\n  critical: {phone: 1}\n", "reach.critical.phone"},
	} {
		_, err := Parse([]byte(reachBase+tc.yaml), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to say %q", tc.yaml, err, tc.want)
		}
	}
}

func TestDefaultRulesHaveNoReachSections(t *testing.T) {
	s := Default()
	if len(s.Tiers()) != 0 || len(s.ReachActions()) != 0 {
		t.Error("the shipped default changes no behaviour from the reach: it only says it")
	}
}

// TestEachTierAsTheIssueAsks: critical also confirms the compromise, pages
// at once and copies the security contact by phone; high pages; normal
// tells the owners only.
func TestEachTierAsTheIssueAsks(t *testing.T) {
	s, err := Parse([]byte(reachBase+`reach:
  critical:
    do: [confirmCompromised]
    page: true
    phone: true
  high:
    page: true
  normal:
    notify: owners
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := s.Reach("critical")
	h, _ := s.Reach("high")
	n, _ := s.Reach("normal")
	if len(c.Do) != 1 || c.Do[0] != ConfirmCompromised || !c.Page || !c.Phone || c.OwnersOnly {
		t.Errorf("critical: %+v", c)
	}
	if len(h.Do) != 0 || !h.Page || h.Phone || h.OwnersOnly {
		t.Errorf("high: %+v", h)
	}
	if len(n.Do) != 0 || n.Page || n.Phone || !n.OwnersOnly {
		t.Errorf("normal: %+v", n)
	}
	if !s.ReachPhone() {
		t.Error("ReachPhone: the critical section asks for the phone")
	}
	if Default().ReachPhone() {
		t.Error("the default asks for no phone")
	}
}
