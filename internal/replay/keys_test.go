package replay_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/directory"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/intake"
	"github.com/spresponder/spresponder/internal/reconcile"
	"github.com/spresponder/spresponder/internal/replay"
)

// TestIncidentKeysArePinned holds the incident id of every signal the
// corpus and the contract samples give, and of reconcile's signals, to the
// ids the ledgers already written hold: an id that changes for the same
// input makes a duplicate a new incident (a second removal, a second round
// of mails). The ids were recorded from the code before the signal fields
// were given one meaning each (a risk state is not a detection id).
func TestIncidentKeysArePinned(t *testing.T) {
	pinned := map[string][]string{
		"corpus/la-aadriskyserviceprincipals.portal.csv":     {"riskyServicePrincipal inc-4ee0e110d8a70ff838d9c78c"},
		"corpus/la-aadserviceprincipalriskevents.json":       {"leakedCredential inc-0ae3d06633f8d29a1e6fd734"},
		"corpus/la-aadserviceprincipalsigninlogs.az.json":    {"blockedSignIn inc-3183b6960109ef4384b7eb74"},
		"corpus/la-aadserviceprincipalsigninlogs.portal.csv": {"failedSecretSignIns inc-62dc7a625c9759a6b499cc0f", "failedSecretSignIns inc-ee2b6c6abc05f8efd4e84b6f"},
		"corpus/la-auditlogs.json":                           {"credentialChange inc-1c37f6fdd5b5ac8de374c29b"},
		"corpus/la-query-api.json":                           {"riskyServicePrincipal inc-526e772004e48755f846328c"},
		"corpus/storage-PT1H.json":                           {"riskySignIn inc-6efe20727d449ca75398a939", "leakedCredential inc-63765c0522201634b1749b34"},
		"demo/batch.ndjson":                                  {"blockedSignIn inc-98559201512165bd9990b42f", "leakedCredential inc-8f4743a833553aaa171f4555", "riskDetection inc-e5c836464c5e86f67ca909c1", "riskyServicePrincipal inc-8c314f92dcc9eff08a29d4cd"},
		"entra/sample-RiskyServicePrincipals.json":           {"riskyServicePrincipal inc-8c314f92dcc9eff08a29d4cd"},
		"entra/sample-ServicePrincipalRiskEvents.json":       {"leakedCredential inc-8f4743a833553aaa171f4555", "riskDetection inc-e5c836464c5e86f67ca909c1"},
		"reconcile atRisk":                                   {"riskyServicePrincipal inc-5ba0bc0c670f755595b6c5f6"},
		"reconcile confirmedCompromised":                     {"riskyServicePrincipal inc-1012450c6e5b851cf3eb92b7"},
	}
	root := filepath.Join("..", "..", "testdata")
	got := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(pinned)) {
		if strings.HasPrefix(name, "reconcile ") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		f, err := replay.Read(data, "events", replay.Options{Tenant: tenant})
		if err != nil {
			t.Fatal(err)
		}
		in := intake.New(intake.Config{}, discard{}, zap.NewNop(), func() time.Time { return time.Unix(0, 0) })
		res, err := in.Process(context.Background(), f.Events)
		if err != nil {
			t.Fatal(err)
		}
		got[name] = []string{}
		for _, s := range res.Signals {
			got[name] = append(got[name], string(s.Kind)+" "+incident.KeyOf(s).ID())
		}
	}
	for _, state := range []string{"atRisk", "confirmedCompromised"} {
		s, _ := reconcile.RiskySignal(tenant, directory.ListedRiskyServicePrincipal{RiskyServicePrincipal: directory.RiskyServicePrincipal{
			ID: "6b1f5f3e-5e2a-4c55-9a0e-2f1a1c7f0b11", AppID: "0b8f6f3e-0000-4000-8000-000000000001", RiskState: state, RiskLevel: "high"}})
		got["reconcile "+state] = []string{string(s.Kind) + " " + incident.KeyOf(s).ID()}
	}
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(got)) {
		b.WriteString(name + ": " + strings.Join(got[name], ", ") + "\n")
	}
	for name, want := range pinned {
		if !slices.Equal(got[name], want) {
			t.Errorf("%s: incident ids %q, want %q", name, got[name], want)
		}
	}
	if t.Failed() {
		t.Logf("ids now:\n%s", b.String())
	}
}
