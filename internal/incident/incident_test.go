package incident_test

import (
	"strings"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
)

// Variants of one signal are one incident: a detection is keyed on its id
// in any case, whatever key ids the event lists; other signals on their key
// ids, sorted and lower-cased.
func TestKeyIsCanonical(t *testing.T) {
	base := detect.Signal{Kind: detect.LeakedCredential, TenantID: "T", AppID: "A", ServicePrincipalID: "S",
		DetectionID: "2856d6e87c5c3a74021ff70291fa68107570c150d8dc145bdea5", KeyIDs: []string{"k1"}}
	variant := base
	variant.AppID, variant.ServicePrincipalID, variant.TenantID = "a", "s", "t"
	variant.DetectionID = strings.ToUpper(base.DetectionID)
	variant.KeyIDs = []string{"K1", "00000000-dead-4bad-8bad-000000000000"}
	if incident.KeyOf(base).ID() != incident.KeyOf(variant).ID() {
		t.Fatal("a variant of a detection is another incident")
	}
	other := base
	other.DetectionID = "ffff"
	if incident.KeyOf(base).ID() == incident.KeyOf(other).ID() {
		t.Fatal("two detections are one incident")
	}
	sig := detect.Signal{Kind: detect.RiskySignIn, TenantID: "T", AppID: "A", ServicePrincipalID: "S", KeyIDs: []string{"B", "a", "b"}}
	sig2 := sig
	sig2.KeyIDs = []string{"A", "b"}
	if incident.KeyOf(sig).ID() != incident.KeyOf(sig2).ID() {
		t.Fatal("key order or case makes another incident")
	}
	if id := incident.KeyOf(sig).ID(); !strings.HasPrefix(id, "inc-") || len(id) != 28 {
		t.Fatalf("id %q", id)
	}
}

// A person reads a mode in words; no withheld mode reads "dry-run".
func TestModeLabels(t *testing.T) {
	for mode, want := range map[string]string{
		incident.ModeProtected:  "protected (notify only)",
		incident.ModeHeld:       "held by the breaker (notify only)",
		incident.ModeKillSwitch: "kill switch on (notify only)",
		incident.ModeUnverified: "unverified (no write)",
		incident.ModeDryRun:     "dry-run",
		"":                      "not decided yet",
	} {
		if got := incident.ModeLabel(mode); got != want {
			t.Errorf("ModeLabel(%q) = %q, want %q", mode, got, want)
		}
	}
}

func TestStepsAndActions(t *testing.T) {
	in := incident.New(detect.Signal{Kind: detect.LeakedCredential, AppID: "a"}, time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC))
	if len(in.Steps) != 4 || in.State != incident.StateOpen || len(in.History) != 1 {
		t.Fatalf("new incident %+v", in)
	}
	in.Step("extra").State = incident.Done
	if in.Step("extra").State != incident.Done || len(in.Steps) != 5 {
		t.Fatal("Step does not add and keep a missing step")
	}
	if in.Action("nope") != nil {
		t.Fatal("Action found a missing action")
	}
}

// A risky service principal's incident is keyed on its risk state, which
// has a field of its own; a signal read back from a ledger written before
// (the state copied into DetectionID as "state:atRisk") is the same
// incident and still passes the id checks.
func TestRiskStateIsNotADetectionID(t *testing.T) {
	now := detect.Signal{Kind: detect.RiskyServicePrincipal, TenantID: "4bbb79f7-5724-4c9e-95f3-de075f6ec090",
		AppID: "0b8f6f3e-0000-4000-8000-000000000001", ServicePrincipalID: "6b1f5f3e-5e2a-4c55-9a0e-2f1a1c7f0b11", RiskState: "atRisk"}
	old := now
	old.DetectionID = "state:atRisk"
	k := incident.KeyOf(now)
	if k.DetectionID != "" || k.RiskState != "atrisk" {
		t.Fatalf("key %+v: want the risk state in RiskState only", k)
	}
	if incident.KeyOf(old).ID() != k.ID() {
		t.Fatal("a signal stored by the previous version is another incident")
	}
	if err := old.CheckIDs(); err != nil {
		t.Fatalf("a signal stored by the previous version fails the id checks: %v", err)
	}
	forged := now
	forged.DetectionID = "state:confirmedCompromised/../x"
	if forged.CheckIDs() == nil {
		t.Fatal("a detection id that is neither a detection id nor the legacy state passes")
	}
	other := now
	other.RiskState = "confirmedCompromised"
	if incident.KeyOf(other).ID() == k.ID() {
		t.Fatal("atRisk and confirmedCompromised are one incident")
	}
}
