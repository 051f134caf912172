package usage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/monitor/query/azlogs"

	"github.com/spresponder/spresponder/internal/ids"
	"github.com/spresponder/spresponder/internal/logtable"
)

// LogAnalyticsPermission is what the responder's identity needs on the
// workspace to run the query.
const LogAnalyticsPermission = "Log Analytics Reader (role on the workspace)"

// DefaultMaxRows caps the rows one query returns.
const DefaultMaxRows = 5000

// Querier is the azlogs call the source makes (*azlogs.Client).
type Querier interface {
	QueryWorkspace(ctx context.Context, workspaceID string, body azlogs.QueryBody, options *azlogs.QueryWorkspaceOptions) (azlogs.QueryWorkspaceResponse, error)
}

// LogAnalytics reads the sign-ins from a Log Analytics workspace that
// receives the tenant's ServicePrincipalSignInLogs, with a KQL query of
// AADServicePrincipalSignInLogs.
type LogAnalytics struct {
	Client    Querier
	Workspace string // the workspace id (a GUID)
	MaxRows   int    // default DefaultMaxRows
}

// Name names the source for a person.
func (l *LogAnalytics) Name() string { return "Log Analytics workspace " + orDash(l.Workspace) }

// KQL is the query for q. Every value in it is a GUID or a hex thumbprint
// (Query.Validate), so nothing from an event can change its meaning.
func KQL(q Query, maxRows int) string {
	var b strings.Builder
	b.WriteString("AADServicePrincipalSignInLogs\n")
	fmt.Fprintf(&b, "| where TimeGenerated between (datetime(%s) .. datetime(%s))\n", q.Since.UTC().Format(time.RFC3339Nano), q.Until.UTC().Format(time.RFC3339Nano))
	if q.ServicePrincipalID != "" {
		fmt.Fprintf(&b, "| where ServicePrincipalId =~ %q\n", q.ServicePrincipalID)
	} else {
		fmt.Fprintf(&b, "| where AppId =~ %q\n", q.AppID)
	}
	var conds []string
	if len(q.KeyIDs) > 0 {
		conds = append(conds, "ServicePrincipalCredentialKeyId in~ ("+quoteAll(q.KeyIDs)+")")
	}
	if len(q.Thumbprints) > 0 {
		conds = append(conds, "ServicePrincipalCredentialThumbprint in~ ("+quoteAll(q.Thumbprints)+")")
	}
	fmt.Fprintf(&b, "| where %s\n", strings.Join(conds, " or "))
	fmt.Fprintf(&b, "| order by TimeGenerated asc\n| take %d", maxRows+1)
	return b.String()
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

// SignIns runs the query and reads each row as a record.
func (l *LogAnalytics) SignIns(ctx context.Context, q Query) (Found, error) {
	if l.Client == nil || l.Workspace == "" {
		return Found{}, ErrNotConfigured
	}
	if !ids.IsGUID(l.Workspace) {
		return Found{}, fmt.Errorf("workspace id %.40q is not a GUID", l.Workspace)
	}
	maxRows := l.MaxRows
	if maxRows <= 0 {
		maxRows = DefaultMaxRows
	}
	query := KQL(q, maxRows)
	span := azlogs.NewTimeInterval(q.Since.UTC(), q.Until.UTC())
	resp, err := l.Client.QueryWorkspace(ctx, l.Workspace, azlogs.QueryBody{Query: &query, Timespan: &span}, nil)
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) && (re.StatusCode == http.StatusForbidden || re.StatusCode == http.StatusUnauthorized) {
			return Found{}, &PermissionError{Permission: LogAnalyticsPermission, Err: err}
		}
		return Found{}, fmt.Errorf("query %s: %w", l.Name(), err)
	}
	f, rows := Rows(resp.QueryResults, q)
	f.Read = fmt.Sprintf("%s: %d row(s)", l.Name(), rows)
	if resp.Error != nil {
		// A partial result: the service answered 200 with an error
		// beside the tables.
		return f, fmt.Errorf("query %s: partial result: %s", l.Name(), resp.Error.Code)
	}
	if rows > maxRows {
		return f, capped(fmt.Sprintf("at most %d rows", maxRows), errors.New("more rows than the cap"))
	}
	return f, nil
}

// Rows reads the query API's tables: each row becomes the diagnostic
// record it was (internal/logtable) and is read by the one strict
// sign-in decoder. The service principal tables carry no directory
// tenant, so the query's tenant is given.
func Rows(res azlogs.QueryResults, q Query) (Found, int) {
	var f Found
	n := 0
	for ti, tb := range res.Tables {
		for ri, raw := range tb.Rows {
			n++
			where := fmt.Sprintf("table %d row %d", ti+1, ri+1)
			if len(raw) != len(tb.Columns) {
				f.Unreadable = append(f.Unreadable, fmt.Sprintf("%s: %d cells for %d columns", where, len(raw), len(tb.Columns)))
				continue
			}
			row := make(logtable.Row, 0, len(raw))
			bad := ""
			for i, cell := range raw {
				name := ""
				if tb.Columns[i].Name != nil {
					name = *tb.Columns[i].Name
				}
				v, err := json.Marshal(cell)
				if err != nil {
					bad = fmt.Sprintf("column %.40q: %v", name, err)
					break
				}
				row = append(row, logtable.Column{Name: name, Value: v})
			}
			if bad != "" {
				f.Unreadable = append(f.Unreadable, where+": "+bad)
				continue
			}
			rec, err := logtable.Record(row, logtable.Options{Tenant: q.TenantID, Table: "AADServicePrincipalSignInLogs"})
			if err != nil {
				f.Unreadable = append(f.Unreadable, where+": "+trimErr(err))
				continue
			}
			s, ok, err := q.Match(rec, "logAnalytics")
			switch {
			case err != nil:
				f.Unreadable = append(f.Unreadable, where+": "+trimErr(err))
			case ok:
				f.SignIns = append(f.SignIns, s)
			}
		}
	}
	return f, n
}
