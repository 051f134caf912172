package reconcile_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/spresponder/spresponder/internal/detect"
	"github.com/spresponder/spresponder/internal/graph"
	"github.com/spresponder/spresponder/internal/graphsim"
	"github.com/spresponder/spresponder/internal/incident"
	"github.com/spresponder/spresponder/internal/reconcile"
)

const tenant = "4bbb79f7-5724-4c9e-95f3-de075f6ec090"

// streamSignals runs the demo batch's risk records through detect, as
// intake does.
func streamSignals(t *testing.T) []detect.Signal {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "demo", "batch.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := detect.NewBatch(detect.Options{})
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "{") {
			continue
		}
		var body struct{ Records []json.RawMessage }
		if err := json.Unmarshal(sc.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		for _, rec := range body.Records {
			var head struct{ Category string }
			_ = json.Unmarshal(rec, &head)
			switch head.Category {
			case "ServicePrincipalRiskEvents":
				_, err = b.RiskEvent(rec, tenant, detect.Source{Partition: "0"})
			case "RiskyServicePrincipals":
				_, err = b.RiskyServicePrincipal(rec, tenant, detect.Source{Partition: "0"})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return b.Signals()
}

// TestReconcileSignalsKeyTheStreamsIncidents: for every risk record of the
// demo batch, the signal reconcile makes of the same detection or risk
// state, read from the simulated tenant through the real Graph client, has
// the same kind and the same incident key: the ledger's dedup between the
// two paths rests on it.
func TestReconcileSignalsKeyTheStreamsIncidents(t *testing.T) {
	seed, err := graphsim.Load(filepath.Join("..", "..", "testdata", "tenant", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	sim := graphsim.New(*seed, graphsim.WithLogger(zap.NewNop()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, err := sim.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gc, err := graph.New(graph.Config{BaseURL: base, Credential: graph.StaticToken("simulated-tenant")})
	if err != nil {
		t.Fatal(err)
	}
	r := reconcile.New(reconcile.Config{TenantID: tenant, Pace: reconcile.NoPace}, gc, nil, nil, zap.NewNop(), time.Now)
	got, _, err := r.Collect(ctx, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	stream := streamSignals(t)
	matched := 0
	for _, s := range stream {
		if s.Kind != detect.LeakedCredential && s.Kind != detect.RiskDetection && s.Kind != detect.RiskyServicePrincipal {
			continue
		}
		want := incident.KeyOf(s)
		found := false
		for _, g := range got {
			if incident.KeyOf(g).ID() == want.ID() {
				found = true
				if g.Kind != s.Kind || g.Source.Via != detect.ViaReconcile {
					t.Errorf("%s: reconcile made kind %s via %q, the stream %s", s.DetectionID, g.Kind, g.Source.Via, s.Kind)
				}
			}
		}
		if !found {
			t.Errorf("no reconcile signal keys the stream's %s incident %+v", s.Kind, want)
		}
		matched++
	}
	if matched < 3 {
		t.Fatalf("only %d stream risk signals compared", matched)
	}
}
