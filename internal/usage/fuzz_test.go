package usage_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/monitor/query/azlogs"

	"github.com/spresponder/spresponder/internal/usage"
)

// FuzzWalk: any event body is walked without a panic; every sign-in found
// is one of the query's keys, inside its range.
func FuzzWalk(f *testing.F) {
	for _, s := range theFour() {
		f.Add(`{"records":[` + mustJSON(s.Record()) + `]}`)
	}
	f.Add(`{"records":[{"category":"ServicePrincipalSignInLogs","properties":{"servicePrincipalCredentialKeyId":"\u0064bcd79c0-c3ea-46b9-9604-ff40d43b8618"}}]}`)
	f.Add(`{"records":{}}`)
	q := query(leakAt.Add(24 * time.Hour))
	f.Fuzz(func(t *testing.T, body string) {
		found := usage.Walk(eventsOf([]string{body}), q, "hub")
		for _, s := range found.SignIns {
			if s.KeyID != leakedKey || s.Time.Before(q.Since) || s.Time.After(q.Until) {
				t.Fatalf("sign-in outside the query: %+v", s)
			}
		}
	})
}

// FuzzRows: any query API answer is read without a panic, and what it
// finds belongs to the query.
func FuzzRows(f *testing.F) {
	var rows [][]any
	var cols []map[string]string
	row := theFour()[0].Row(workspace)
	var cells []any
	for k, v := range row {
		cols = append(cols, map[string]string{"name": k, "type": "string"})
		cells = append(cells, v)
	}
	rows = append(rows, cells)
	f.Add(mustJSON(map[string]any{"tables": []any{map[string]any{"name": "PrimaryResult", "columns": cols, "rows": rows}}}))
	f.Add(`{"tables":[{"name":"PrimaryResult","columns":[{"name":"Id"}],"rows":[[1,2]]}]}`)
	q := query(leakAt.Add(24 * time.Hour))
	f.Fuzz(func(t *testing.T, doc string) {
		var res azlogs.QueryResults
		if json.Unmarshal([]byte(doc), &res) != nil {
			return
		}
		found, _ := usage.Rows(res, q)
		for _, s := range found.SignIns {
			if s.KeyID != leakedKey || s.Time.Before(q.Since) || s.Time.After(q.Until) {
				t.Fatalf("sign-in outside the query: %+v", s)
			}
		}
	})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
