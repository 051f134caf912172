package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/redact"
)

// The ledger's errors name storage URLs through the one redaction rule: a
// SAS in the query, user info or a path never reaches a log.
func TestErrorsRedactStorageURLs(t *testing.T) {
	cases := map[string]string{
		`Put "https://acct.blob.core.windows.net/c/x.json?sv=2024&sig=SECRET": dial tcp: refused`: `Put "https://acct.blob.core.windows.net/…redacted": dial tcp: refused`,
		`Get http://user:pw@127.0.0.1:10000/devstoreaccount1/c#frag failed`:                       `Get http://127.0.0.1:10000/…redacted failed`,
		`Get https://acct.blob.core.windows.net?sig=SECRET`:                                       `Get https://acct.blob.core.windows.net/…redacted`,
		`Get https://acct.blob.core.windows.net: EOF`:                                             `Get https://acct.blob.core.windows.net: EOF`,
		`no url here`: `no url here`,
	}
	for in, want := range cases {
		if got := redact.URLsIn(in); got != want {
			t.Errorf("URLsIn(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}

func TestETagRoundTrip(t *testing.T) {
	in := incident.New(incidentSignal(), time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600)))
	in.Record(time.Now(), "verify", "verified", "<html> & \xff invalid utf-8")
	m, err := markOf(in.History)
	if err != nil {
		t.Fatal(err)
	}
	s := joinETag(`"0x8DC1234"`, m)
	etag, back, ok := splitETag(s)
	if !ok || etag != `"0x8DC1234"` || back != m {
		t.Fatalf("splitETag(%q) = %q, %v, %v", s, etag, back, ok)
	}
	for _, bad := range []string{"", `"0x1"`, `"0x1";h=`, `"0x1";h=x.abc`, `;h=1.` + strings.Repeat("a", 32), `"0x1";h=-1.` + strings.Repeat("a", 32)} {
		if _, _, ok := splitETag(bad); ok {
			t.Errorf("splitETag(%q) accepted", bad)
		}
	}
	// The mark of a history read back from JSON equals the mark of the
	// history as written, whatever zones and monotonic readings it had.
	data, mark, err := encodeBlob(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeBlob(in.ID, data, `"0x1"`)
	if err != nil {
		t.Fatal(err)
	}
	if _, m2, _ := splitETag(got.ETag); m2 != mark {
		t.Fatalf("mark after a round trip %v; before %v", m2, mark)
	}
	if err := checkAppend(in.ID, mark, got.History); err != nil {
		t.Fatalf("decoded history does not extend itself: %v", err)
	}
}

// The metadata pre-filter must never reject what Filter.Match accepts.
func TestMetadataMatchAgreesWithMatch(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var ins []*incident.Incident
	for i, st := range []incident.State{incident.StateOpen, incident.StateParked, incident.StateDone, incident.StateParked} {
		in := incident.New(incidentSignal(), t0.Add(time.Duration(i)*time.Hour))
		in.ID = fmt.Sprintf("inc-%d", i)
		in.State = st
		if i == 1 {
			in.NextAttempt = t0.Add(90 * time.Minute)
		}
		if i == 2 {
			in.App.AppID = "OTHER-APP"
		}
		ins = append(ins, in)
	}
	filters := []Filter{
		{},
		{States: []incident.State{incident.StateParked}},
		{AppID: "other-app"},
		{AppID: strings.ToUpper(incidentSignal().AppID)},
		{Since: t0.Add(time.Hour)},
		{DueBefore: t0.Add(time.Hour)},
		{DueBefore: t0.Add(90 * time.Minute)},
		{DueBefore: t0.Add(2 * time.Hour), States: []incident.State{incident.StateParked}},
	}
	for fi, f := range filters {
		for _, in := range ins {
			if f.Match(in) && !metadataMatch(f, metadataOf(in)) {
				t.Errorf("filter %d: metadata rejects %s that the document matches", fi, in.ID)
			}
			if !f.Match(in) && metadataMatch(f, metadataOf(in)) {
				t.Errorf("filter %d: metadata admits %s that does not match (costs a download)", fi, in.ID)
			}
		}
	}
	// Without metadata the pre-filter defers to the document.
	if !metadataMatch(Filter{States: []incident.State{incident.StateDone}}, nil) {
		t.Error("no metadata: rejected")
	}
}

func TestMutateGivesUp(t *testing.T) {
	l := &alwaysConflict{}
	_, err := Mutate(context.Background(), l, "inc-1", func(*incident.Incident) error { return nil })
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), fmt.Sprint(MutateAttempts)) {
		t.Fatalf("Mutate = %v; want ErrConflict after %d attempts", err, MutateAttempts)
	}
	if l.gets != MutateAttempts || l.updates != MutateAttempts {
		t.Fatalf("%d reads, %d writes; want %d of each (re-read every time)", l.gets, l.updates, MutateAttempts)
	}
}

func TestMutateHonoursContextBetweenAttempts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := Mutate(ctx, &alwaysConflict{}, "inc-1", func(*incident.Incident) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Mutate = %v; want the context's deadline", err)
	}
}

type alwaysConflict struct{ gets, updates int }

func (a *alwaysConflict) Claim(context.Context, *incident.Incident) (*incident.Incident, bool, error) {
	return nil, false, errors.New("unused")
}

func (a *alwaysConflict) Get(ctx context.Context, id string) (*incident.Incident, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a.gets++
	return &incident.Incident{ID: id, ETag: "x"}, nil
}

func (a *alwaysConflict) Update(context.Context, *incident.Incident) error {
	a.updates++
	return fmt.Errorf("%w: always", ErrConflict)
}

func (a *alwaysConflict) List(context.Context, Filter) ([]*incident.Incident, error) {
	return nil, errors.New("unused")
}

func TestValidID(t *testing.T) {
	for _, ok := range []string{"inc-0123456789abcdef01234567", "q-abc", "test_1.x"} {
		if err := validID(ok); err != nil {
			t.Errorf("validID(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../x", "a/b", `a\b`, "-rf", "a b", "é", strings.Repeat("a", 129)} {
		if validID(bad) == nil {
			t.Errorf("validID(%q) accepted", bad)
		}
	}
}

func incidentSignal() detect.Signal {
	return detect.Signal{
		Kind:               detect.LeakedCredential,
		TenantID:           "72f988bf-86f1-41af-91ab-2d7cd011db47",
		AppID:              "11111111-2222-3333-4444-555555555555",
		ServicePrincipalID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		KeyIDs:             []string{"00000001-0000-0000-0000-000000000000"},
		DetectionID:        "det-1",
	}
}
