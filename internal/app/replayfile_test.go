package app

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// replay says what it read from each file, and exits 1 when nothing in a
// file could be read, after showing what the others gave.
func TestReplayReportsWhatItRead(t *testing.T) {
	env, out, errb := testEnv(t, map[string]string{"SPRESPONDER_TENANTS": "4bbb79f7-5724-4c9e-95f3-de075f6ec090"})
	corpus := filepath.Join("..", "..", "testdata", "corpus")
	code := Main(context.Background(), []string{"replay", "--detect-only",
		"--file", filepath.Join(corpus, "la-aadserviceprincipalriskevents.json"),
		"--file", filepath.Join(corpus, "la-ambiguous.ndjson"),
		filepath.Join(corpus, "storage-PT1H.json")}, env)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (la-ambiguous.ndjson has nothing readable): %s", code, errb)
	}
	o := out.String()
	for _, want := range []string{
		"format: JSON array: 2 Log Analytics rows",
		"ServicePrincipalRiskEvents=2",
		"skipped  riskNotActive",
		"bad values tolerated (fields no decision reads, read as empty): properties.lastUpdatedDateTime=1",
		"format: one item per line: 4 Log Analytics rows",
		"line 1  -  quarantined  ambiguousRecord: line 1: ambiguous record: Log Analytics row: columns \"AppId\" and \"appId\" differ only in case",
		"line 3  -  quarantined  unknownShape: line 3: Log Analytics row without a Type column",
		"as in a storage-account archive (PT1H.json): 4 diagnostic records",
		"leakedCredential",
	} {
		if !strings.Contains(o, want) {
			t.Errorf("output lacks %q:\n%s", want, o)
		}
	}
	if !strings.Contains(errb.String(), "nothing could be read from "+filepath.Join(corpus, "la-ambiguous.ndjson")) {
		t.Errorf("stderr: %s", errb)
	}
}
