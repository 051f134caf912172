package detect

import (
	"testing"

	"github.com/spresponder/spresponder/internal/entra"
	"github.com/spresponder/spresponder/internal/jsonscan"
)

// TestWatchedKeySignIn: the sample's successful, riskless sign-in is
// skipped until its key is watched; then it is a KeySignIn signal with the
// resource and the Conditional Access status, and nothing else.
func TestWatchedKeySignIn(t *testing.T) {
	rec := records(t, "sample-ServicePrincipalSignInLogs.json")[0]
	const tenant = "4bbb79f7-5724-4c9e-95f3-de075f6ec090"
	run := func(watch func(sp, key []byte) bool) (Outcome, []Signal) {
		b := NewBatch(Options{WatchedKey: watch})
		sc, err := entra.ScanRecord(rec, jsonscan.SkipWS(rec, 0))
		if err != nil {
			t.Fatal(err)
		}
		out, err := b.SignIn(rec[:sc.End], sc.Properties, tenant, Source{Partition: "0"})
		if err != nil {
			t.Fatal(err)
		}
		return out, b.Signals()
	}
	if out, sigs := run(nil); out != SignInWithoutRisk || len(sigs) != 0 {
		t.Fatalf("unwatched: %s %+v", out, sigs)
	}
	if out, sigs := run(func(_, key []byte) bool { return string(key) == "00000000-0000-0000-0000-000000000000" }); out != SignInWithoutRisk || len(sigs) != 0 {
		t.Fatalf("another key watched: %s %+v", out, sigs)
	}
	out, sigs := run(func(sp, key []byte) bool {
		return string(sp) == "b029d485-a308-4311-8720-fb3192e5284e" && string(key) == "dbcd79c0-c3ea-46b9-9604-ff40d43b8618"
	})
	if out != Signalled || len(sigs) != 1 {
		t.Fatalf("watched: %s %+v", out, sigs)
	}
	s := sigs[0]
	if s.Kind != KeySignIn || s.ErrorCode != 0 || s.Resource != "Windows Azure Service Management API" || s.CAStatus != "notApplied" ||
		s.IPAddress != "1.128.3.4" || s.DetectionID != "d5935dca-86f2-4ac9-a42c-3593b00af801" || s.KeyIDs[0] != "dbcd79c0-c3ea-46b9-9604-ff40d43b8618" {
		t.Fatalf("signal: %+v", s)
	}
}
