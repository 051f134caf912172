// Package lasim is a small stand-in for the Log Analytics query API
// (POST /v1/workspaces/{id}/query), for tests, the demo and benchmarks of
// internal/usage with the real azlogs client. It answers in the API's
// shape, {"tables":[{"name":"PrimaryResult","columns":[{"name","type"}],
// "rows":[[...]]}]}, from rows of AADServicePrincipalSignInLogs held in
// memory. It is NOT a KQL engine: it applies the filters the usage query
// uses (the service principal, the key ids and thumbprints in `in~ (...)`,
// the time range of the request's timespan) and returns the columns of the
// rows it holds. It checks that a bearer token was sent, and can refuse
// (403) to test the missing-permission path.
package lasim

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Row is one row of AADServicePrincipalSignInLogs: column name -> value.
type Row map[string]any

// Server is the simulated workspace.
type Server struct {
	Workspace string
	mu        sync.Mutex
	rows      []Row
	columns   []string
	forbidden bool
	queries   []string
	srv       *http.Server
}

// New holds rows for one workspace.
func New(workspace string, rows []Row) *Server {
	s := &Server{Workspace: workspace}
	s.Add(rows...)
	return s
}

// Add appends rows (and their columns).
func (s *Server) Add(rows ...Row) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		for k := range r {
			if !slices.Contains(s.columns, k) {
				s.columns = append(s.columns, k)
			}
		}
		s.rows = append(s.rows, r)
	}
	slices.Sort(s.columns)
}

// Forbid makes every query answer 403, as the API does for an identity
// without a role on the workspace.
func (s *Server) Forbid(v bool) { s.mu.Lock(); s.forbidden = v; s.mu.Unlock() }

// Queries returns the KQL texts received.
func (s *Server) Queries() []string { s.mu.Lock(); defer s.mu.Unlock(); return slices.Clone(s.queries) }

// Start listens on addr (127.0.0.1:0) over plain HTTP and returns the
// endpoint to give the azlogs client (".../v1").
func (s *Server) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/v1", nil
}

// Close stops the server.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

var (
	inList = regexp.MustCompile(`(ServicePrincipalCredentialKeyId|ServicePrincipalCredentialThumbprint) in~ \(([^)]*)\)`)
	spEq   = regexp.MustCompile(`(ServicePrincipalId|AppId) =~ "([^"]*)"`)
	take   = regexp.MustCompile(`take (\d+)`)
)

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	var e apiError
	e.Error.Code, e.Error.Message = code, msg
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}

// ServeHTTP answers the query API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	want := "/v1/workspaces/" + s.Workspace + "/query"
	if r.Method != http.MethodPost || r.URL.Path != want {
		fail(w, http.StatusNotFound, "PathNotFound", "no such route")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		fail(w, http.StatusUnauthorized, "AuthorizationRequiredError", "Valid authentication was not provided")
		return
	}
	var body struct {
		Query    string `json:"query"`
		Timespan string `json:"timespan"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil || body.Query == "" {
		fail(w, http.StatusBadRequest, "BadArgumentError", "The request had some invalid properties")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, body.Query)
	if s.forbidden {
		fail(w, http.StatusForbidden, "InsufficientAccessError", "The provided credentials have insufficient access to perform the requested operation")
		return
	}
	var from, to time.Time
	if a, b, ok := strings.Cut(body.Timespan, "/"); ok {
		from, _ = time.Parse(time.RFC3339, a)
		to, _ = time.Parse(time.RFC3339, b)
	}
	keys := map[string][]string{}
	for _, m := range inList.FindAllStringSubmatch(body.Query, -1) {
		for _, v := range strings.Split(m[2], ",") {
			keys[m[1]] = append(keys[m[1]], strings.ToLower(strings.Trim(strings.TrimSpace(v), `"`)))
		}
	}
	sp := spEq.FindStringSubmatch(body.Query)
	limit := -1
	if m := take.FindStringSubmatch(body.Query); m != nil {
		_, _ = fmt.Sscan(m[1], &limit)
	}
	out := [][]any{}
	for _, row := range s.rows {
		if sp != nil && !strings.EqualFold(str(row[sp[1]]), sp[2]) {
			continue
		}
		if len(keys) > 0 && !slices.Contains(keys["ServicePrincipalCredentialKeyId"], strings.ToLower(str(row["ServicePrincipalCredentialKeyId"]))) &&
			!slices.Contains(keys["ServicePrincipalCredentialThumbprint"], strings.ToLower(str(row["ServicePrincipalCredentialThumbprint"]))) {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, str(row["TimeGenerated"])); err == nil && !from.IsZero() && (t.Before(from) || t.After(to)) {
			continue
		}
		cells := make([]any, len(s.columns))
		for i, c := range s.columns {
			cells[i] = row[c]
		}
		out = append(out, cells)
		if limit >= 0 && len(out) == limit {
			break
		}
	}
	type column struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	cols := make([]column, len(s.columns))
	for i, c := range s.columns {
		cols[i] = column{Name: c, Type: columnType(c)}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"tables": []any{map[string]any{"name": "PrimaryResult", "columns": cols, "rows": out}}})
}

func str(v any) string { s, _ := v.(string); return s }

// columnType is the table's documented type of a column (string unless
// the reference says otherwise).
func columnType(c string) string {
	switch c {
	case "TimeGenerated", "CreatedDateTime":
		return "datetime"
	case "DurationMs":
		return "long"
	}
	return "string"
}
