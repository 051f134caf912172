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

	"github.com/spresponder/spresponder/internal/intake"
	"github.com/spresponder/spresponder/internal/quarantine"
	"github.com/spresponder/spresponder/internal/replay"
)

// The directory tenant of every corpus file (the Log Analytics exports
// name it only in AuditLogs; replay gets it from --tenant).
const tenant = "4bbb79f7-5724-4c9e-95f3-de075f6ec090"

type discard struct{}

func (discard) Keep(context.Context, quarantine.Item) error { return nil }

type want struct {
	format      string         // a part of the detected format
	signals     []string       // kinds, in order
	skipped     map[string]int // by reason
	quarantined map[string]int // by reason
	unreadable  bool
}

// TestCorpus runs every file of testdata/corpus (and the contract samples
// in testdata/entra) through replay's reader and intake, and holds each
// to the signals, skips and quarantines it must give. A file added to the
// corpus without an entry here fails the test.
func TestCorpus(t *testing.T) {
	cases := map[string]want{
		"corpus/la-aadserviceprincipalsigninlogs.az.json": {format: "JSON array: 3 Log Analytics rows",
			signals: []string{"blockedSignIn"}, skipped: map[string]int{"signInWithoutRisk": 1, "expiredSecretBelowThreshold": 1}},
		"corpus/la-aadserviceprincipalsigninlogs.portal.csv": {format: "CSV (Log Analytics export): 4 Log Analytics rows",
			signals: []string{"failedSecretSignIns", "failedSecretSignIns"}},
		"corpus/la-aadserviceprincipalriskevents.json": {format: "JSON array: 2 Log Analytics rows",
			signals: []string{"leakedCredential"}, skipped: map[string]int{"riskNotActive": 1}},
		"corpus/la-aadriskyserviceprincipals.portal.csv": {format: "CSV",
			signals: []string{"riskyServicePrincipal"}, skipped: map[string]int{"servicePrincipalNotAtRisk": 1}},
		"corpus/la-auditlogs.json": {format: "JSON array: 2 Log Analytics rows",
			signals: []string{"credentialChange"}, skipped: map[string]int{"auditNotCredentialChange": 1}},
		"corpus/la-user-tables.json": {format: "4 Log Analytics rows",
			skipped: map[string]int{"userSignIn": 2, "userRisk": 1, "managedIdentitySignIn": 1}},
		"corpus/la-ambiguous.ndjson": {format: "one item per line: 4 Log Analytics rows",
			quarantined: map[string]int{"ambiguousRecord": 3, "unknownShape": 1}, unreadable: true},
		"corpus/storage-PT1H.json": {format: "one item per line, as in a storage-account archive (PT1H.json): 4 diagnostic records",
			signals: []string{"riskySignIn", "leakedCredential"}, skipped: map[string]int{"signInWithoutRisk": 1, "userSignIn": 1}},
		"corpus/records-array.json": {format: "JSON array: 1 diagnostic record",
			signals: []string{"credentialChange"}},
		"corpus/la-query-api.json": {format: "Log Analytics query API result",
			signals: []string{"riskyServicePrincipal"}},
		"entra/sample-ServicePrincipalSignInLogs.json": {format: "one JSON document: 1 event body",
			// The REAL 7000222 record's tenant is the fixture's anonymised
			// "1111111111-902d-...": kept, not acted on.
			signals: []string{"blockedSignIn"}, skipped: map[string]int{"signInWithoutRisk": 1}, quarantined: map[string]int{"invalidId": 1}},
		"entra/sample-ServicePrincipalRiskEvents.json":              {format: "1 event body", signals: []string{"leakedCredential", "riskDetection"}},
		"entra/sample-RiskyServicePrincipals.json":                  {format: "1 event body", signals: []string{"riskyServicePrincipal"}},
		"entra/sample-AuditLogs.json":                               {format: "1 event body", skipped: map[string]int{"auditNotCredentialChange": 1}},
		"entra/sample-SignInLogs.json":                              {format: "1 event body", skipped: map[string]int{"userSignIn": 1}},
		"entra/sample-NonInteractiveUserSignInLogs.json":            {format: "1 event body", skipped: map[string]int{"userSignIn": 1}},
		"entra/sample-ManagedIdentitySignInLogs.json":               {format: "1 event body", skipped: map[string]int{"managedIdentitySignIn": 1}},
		"entra/sample-UserRiskEvents-and-RiskyUsers.reference.json": {format: "1 event body", skipped: map[string]int{"userRisk": 2}},
	}
	root := filepath.Join("..", "..", "testdata")
	corpus, _ := filepath.Glob(filepath.Join(root, "corpus", "*"))
	for _, p := range corpus {
		name := "corpus/" + filepath.Base(p)
		if _, ok := cases[name]; !ok && !strings.HasSuffix(p, ".md") {
			t.Errorf("%s has no expectations in TestCorpus", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		w := cases[name]
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
			if err != nil {
				t.Fatal(err)
			}
			f, err := replay.Read(data, "events", replay.Options{Tenant: tenant})
			if err != nil {
				t.Fatal(err)
			}
			in := intake.New(intake.Config{Notes: true}, discard{}, zap.NewNop(), func() time.Time { return time.Unix(0, 0) })
			res, err := in.Process(context.Background(), f.Events)
			if err != nil {
				t.Fatal(err)
			}
			rep := replay.NewReport(name, f, res)
			var kinds []string
			for _, s := range res.Signals {
				kinds = append(kinds, string(s.Kind))
				if err := s.CheckIDs(); err != nil {
					t.Errorf("signal %s: %v", s.Kind, err)
				}
			}
			if !strings.Contains(rep.Format, w.format) {
				t.Errorf("format %q, want it to contain %q", rep.Format, w.format)
			}
			if !slices.Equal(kinds, w.signals) {
				t.Errorf("signals %v, want %v", kinds, w.signals)
			}
			if got := nonZero(res.Stats.SkippedBy); !maps.Equal(got, nonZero(w.skipped)) {
				t.Errorf("skipped %v, want %v", got, w.skipped)
			}
			if got := nonZero(res.Stats.ByReason); !maps.Equal(got, nonZero(w.quarantined)) {
				t.Errorf("quarantined %v, want %v", got, w.quarantined)
				for _, e := range rep.Entries {
					t.Logf("  %s %s %s %s", e.Where, e.Outcome, e.Reason, e.Detail)
				}
			}
			if rep.Unreadable() != w.unreadable {
				t.Errorf("unreadable = %v, want %v", rep.Unreadable(), w.unreadable)
			}
			// Every skipped and quarantined record is in the report, with a reason.
			if n := len(rep.Entries); n != res.Stats.Skipped+res.Stats.Quarantined {
				t.Errorf("report lists %d entries, stats count %d skipped and %d quarantined", n, res.Stats.Skipped, res.Stats.Quarantined)
			}
			for _, e := range rep.Entries {
				if e.Reason == "" || e.Where == "" {
					t.Errorf("entry without a reason or place: %+v", e)
				}
			}
		})
	}
}

func nonZero(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}
