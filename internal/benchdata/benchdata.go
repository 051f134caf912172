// Package benchdata generates realistic invocation bodies for benchmarks:
// shaped exactly as the Functions host sends an Event Hubs batch
// (cardinality many, dataType string: a JSON string of JSON strings), with
// records built from the real and documented samples in testdata/entra and
// a realistic mix: 99% benign sign-ins and audit records, 1% risk.
package benchdata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
)

// Mix is the share of each kind of record, in per mille.
var Mix = []struct {
	Kind     string
	PerMille int
}{
	{"spSignIn", 400},        // benign service-principal sign-ins (decoded by the fast path)
	{"nonInteractive", 250},  // user non-interactive sign-ins (skipped)
	{"userSignIn", 100},      // interactive user sign-ins (skipped)
	{"managedIdentity", 150}, // managed-identity sign-ins (skipped)
	{"audit", 90},            // audit records (decoded: one category handled)
	{"riskEvent", 4},         // service-principal risk detections
	{"riskySP", 2},           // risky service-principal state changes
	{"riskySignIn", 2},       // sign-ins with risk
	{"blockedSignIn", 2},     // sign-ins blocked by Conditional Access
}

// Stats describes a generated invocation.
type Stats struct {
	Bytes   int
	Events  int
	Records int
}

type templates map[string]map[string]any

func load(dir string) (templates, error) {
	t := templates{}
	read := func(file string, idx int, kind string) error {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		var env struct{ Records []map[string]any }
		if err := json.Unmarshal(b, &env); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		t[kind] = env.Records[idx]
		return nil
	}
	for _, r := range []struct {
		file string
		idx  int
		kind string
	}{
		{"sample-ServicePrincipalSignInLogs.json", 0, "spSignIn"},
		{"sample-ServicePrincipalSignInLogs.json", 2, "blockedSignIn"},
		{"sample-NonInteractiveUserSignInLogs.json", 0, "nonInteractive"},
		{"sample-SignInLogs.json", 0, "userSignIn"},
		{"sample-ManagedIdentitySignInLogs.json", 0, "managedIdentity"},
		{"sample-AuditLogs.json", 0, "audit"},
		{"sample-ServicePrincipalRiskEvents.json", 0, "riskEvent"},
		{"sample-RiskyServicePrincipals.json", 0, "riskySP"},
	} {
		if err := read(r.file, r.idx, r.kind); err != nil {
			return nil, err
		}
	}
	risky := clone(t["spSignIn"])
	p := risky["properties"].(map[string]any)
	p["riskState"], p["riskLevelDuringSignIn"], p["riskLevelAggregated"] = "atRisk", "high", "high"
	t["riskySignIn"] = risky
	return t, nil
}

func clone(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func uuid(r *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, r.Uint32()&0xfff, r.Uint64()&0xffffffffffff)
}

// record renders one record of kind with fresh ids.
func record(t templates, kind string, r *rand.Rand, tenant string) map[string]any {
	rec := clone(t[kind])
	rec["tenantId"] = tenant
	// resourceId names the tenant too: a record whose two say different
	// things is quarantined as ambiguous.
	if _, ok := rec["resourceId"]; ok {
		rec["resourceId"] = "/tenants/" + tenant + "/providers/Microsoft.aadiam"
	}
	rec["correlationId"] = uuid(r)
	if p, ok := rec["properties"].(map[string]any); ok {
		p["id"] = uuid(r)
		if _, ok := p["ipAddress"]; ok {
			p["ipAddress"] = fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(223), r.IntN(256), r.IntN(256), 1+r.IntN(254))
		}
		if kind == "spSignIn" || kind == "riskySignIn" {
			p["servicePrincipalCredentialKeyId"] = uuid(r)
		}
	}
	return rec
}

// Shape selects how the records are built.
type Shape string

const (
	// ShapeDefault: the sample records as they are, keys in encoding/json's
	// sorted order, the Mix above.
	ShapeDefault Shape = "default"
	// ShapeAlt: built differently, so the benchmark does not flatter one
	// layout: keys in reverse order at every level (properties before the
	// envelope, category late), 24 more properties per record, and
	// AltMix (40% audit records).
	ShapeAlt Shape = "alt"
)

// AltMix is ShapeAlt's share of each kind of record, in per mille.
var AltMix = []struct {
	Kind     string
	PerMille int
}{
	{"audit", 400},
	{"spSignIn", 300},
	{"nonInteractive", 150},
	{"managedIdentity", 80},
	{"userSignIn", 60},
	{"riskEvent", 4},
	{"riskySP", 2},
	{"riskySignIn", 2},
	{"blockedSignIn", 2},
}

// reverseJSON encodes v with object keys in reverse sorted order at every
// level.
func reverseJSON(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Sort(sort.Reverse(sort.StringSlice(keys)))
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			buf.Write(kb)
			buf.WriteByte(':')
			reverseJSON(buf, x[k])
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			reverseJSON(buf, e)
		}
		buf.WriteByte(']')
	default:
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		_ = e.Encode(x)
		buf.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
	}
}

// Generate builds one invocation of about target bytes holding events
// events of about target/events bytes each, shaped as the host sends a
// batch (cardinality many, dataType string). It is deterministic for a
// seed.
func Generate(testdataDir string, target, events int, seed uint64) ([]byte, Stats, error) {
	return GenerateShape(testdataDir, target, events, seed, ShapeDefault)
}

// GenerateShape is Generate with a choice of Shape.
func GenerateShape(testdataDir string, target, events int, seed uint64, shape Shape) ([]byte, Stats, error) {
	t, err := load(testdataDir)
	if err != nil {
		return nil, Stats{}, err
	}
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	tenant := "4bbb79f7-5724-4c9e-95f3-de075f6ec090"
	perEvent := target / events
	var st Stats
	bodies := make([]string, 0, events)
	enc := func(v any) []byte {
		var buf bytes.Buffer
		e := json.NewEncoder(&buf)
		e.SetEscapeHTML(false) // the host (Newtonsoft) does not escape <, > and &
		_ = e.Encode(v)
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	// The escaped invocation is about 1.35 times the raw bodies; aim the
	// raw size so the final body lands near target.
	rawPerEvent := int(float64(perEvent) / 1.35)
	for range events {
		var recs []json.RawMessage
		size := 0
		mix := Mix
		if shape == ShapeAlt {
			mix = AltMix
		}
		for size < rawPerEvent {
			n := r.IntN(1000)
			kind := mix[0].Kind
			for _, m := range mix {
				if n < m.PerMille {
					kind = m.Kind
					break
				}
				n -= m.PerMille
			}
			rec := record(t, kind, r, tenant)
			var b []byte
			if shape == ShapeAlt {
				if p, ok := rec["properties"].(map[string]any); ok {
					for i := range 24 {
						p[fmt.Sprintf("extension%02d", i)] = fmt.Sprintf("value-%x", r.Uint64())
					}
				}
				var buf bytes.Buffer
				reverseJSON(&buf, rec)
				b = buf.Bytes()
			} else {
				b = enc(rec)
			}
			recs = append(recs, b)
			size += len(b) + 1
			st.Records++
		}
		bodies = append(bodies, string(enc(map[string]any{"records": recs})))
		st.Events++
	}
	seqs := make([]int64, events)
	offsets := make([]string, events)
	times := make([]string, events)
	for i := range events {
		seqs[i] = int64(1000 + i)
		offsets[i] = fmt.Sprint(4096 * i)
		times[i] = "2026-11-27T08:00:00.123"
	}
	inv := map[string]any{
		"Data": map[string]any{"events": string(enc(bodies))},
		"Metadata": map[string]any{
			"PartitionContext":     map[string]any{"FullyQualifiedNamespace": "bench.servicebus.windows.net", "EventHubName": "entra", "ConsumerGroup": "spresponder", "PartitionId": "0"},
			"SequenceNumberArray":  string(enc(seqs)),
			"OffsetArray":          string(enc(offsets)),
			"EnqueuedTimeUtcArray": string(enc(times)),
			"sys":                  map[string]any{"MethodName": "EntraLogs"},
		},
	}
	out := enc(inv)
	st.Bytes = len(out)
	return out, st, nil
}

// Handled is the category filter every peer in the benchmark applies.
var Handled = []string{"ServicePrincipalSignInLogs", "ServicePrincipalRiskEvents", "RiskyServicePrincipals", "AuditLogs"}
