// Package logtable reads rows of the Log Analytics (Microsoft Sentinel)
// tables an Entra diagnostic setting fills, as on-call staff export them
// (the portal's JSON and CSV exports, `az monitor log-analytics query`, the
// Log Analytics query API), and maps each row to the diagnostic record the
// same row had on its way through Event Hubs, so that the responder's one
// set of strict decoders reads both.
//
// The tables differ from the Event Hubs records in ways that matter:
//
//   - columns are PascalCase and flat: AppId is properties.appId;
//   - the table is named by the Type column (AADServicePrincipalSignInLogs),
//     not by a category (ServicePrincipalSignInLogs);
//   - TenantId is the Log Analytics WORKSPACE, never the directory: the
//     directory tenant is AADTenantId (AuditLogs, the user tables), or the
//     tenant in AuditLogs' ResourceId; the service-principal tables carry
//     neither, so the operator names it (Options.Tenant);
//   - dynamic columns (KeyIds, TargetResources, LocationDetails, ...) arrive
//     as JSON text inside a string;
//   - the portal's CSV renders every value as text ("True", "5/1/2024,
//     10:00:00.123 AM") and names time columns "TimeGenerated [UTC]".
//
// The column mapping per table is in tables (tables.go), with its sources.
//
// One reading: a row whose columns would set one field of the record in
// two ways is refused with an *entra.AmbiguousError: a column twice, two
// columns that differ only in case, an escaped column name (JSON), a
// Category that contradicts Type, or an AADTenantId that contradicts the
// tenant the operator named. The record that comes out is then judged by
// the same strict decoders as a record from Event Hubs.
package logtable

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/spresponder/spresponder/internal/entra"
)

// Column is one column of a row: its name and its value as JSON (a CSV
// cell is a JSON string). Escaped says the name held a JSON escape.
type Column struct {
	Name    string
	Value   json.RawMessage
	Escaped bool
}

// Row is a row's columns in the order they came.
type Row []Column

// Options are what the operator knows that a row may not say.
type Options struct {
	// Tenant is the directory (Entra) tenant id of the export: the
	// service-principal tables have no column for it. A row's own
	// AADTenantId wins; a different one is ambiguous.
	Tenant string
	// Table names the table of rows without a Type column (an export
	// whose query projected it away).
	Table string
}

// Error is a row that cannot become a record, with the quarantine reason
// intake files it under.
type Error struct {
	Reason string // "unknownShape"
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// QuarantineReason is the reason intake keeps the row under.
func (e *Error) QuarantineReason() string { return e.Reason }

// Table returns the row's table (its Type column, else opt.Table) and
// whether the row has one.
func (r Row) Table(opt Options) string {
	for _, c := range r {
		if c.Name == "Type" {
			var s string
			if json.Unmarshal(c.Value, &s) == nil && s != "" {
				return s
			}
		}
	}
	return opt.Table
}

// Record maps a row to a diagnostic record (a JSON object). The error is an
// *entra.AmbiguousError (errors.Is entra.ErrAmbiguous) when the row reads
// two ways, or an *Error when it cannot be placed at all.
func Record(row Row, opt Options) ([]byte, error) {
	m := mapper{fields: map[string]field{}}
	// One reading of the column names first: twice, case variants and
	// escapes are refused whatever the table, before anything is mapped.
	seen := make(map[string]string, len(row))
	for _, c := range row {
		if c.Escaped {
			return nil, ambiguous("escaped column name %.40q", c.Name)
		}
		low := strings.ToLower(c.Name)
		if prev, ok := seen[low]; ok {
			if prev == c.Name {
				return nil, ambiguous("column %.40q twice", c.Name)
			}
			return nil, ambiguous("columns %.40q and %.40q differ only in case", prev, c.Name)
		}
		seen[low] = c.Name
	}
	tableName := row.Table(opt)
	if tableName == "" {
		return nil, &Error{Reason: "unknownShape", Msg: "Log Analytics row without a Type column: cannot tell its table (give the table, e.g. replay --table AADServicePrincipalSignInLogs)"}
	}
	t, known := tables[tableName]
	if !known {
		// A table the responder does not know: keep its name as the
		// category, so intake counts it as an unknown category.
		t = &table{category: tableName}
	}
	if err := m.set("category", "Type", json.RawMessage(quote(t.category))); err != nil {
		return nil, err
	}
	for _, c := range row {
		if len(c.Value) == 0 || isNull(c.Value) {
			continue
		}
		if !json.Valid(c.Value) {
			return nil, &Error{Reason: "unknownShape", Msg: fmt.Sprintf("Log Analytics row: column %.40q is not valid JSON", c.Name)}
		}
		switch c.Name {
		case "Type":
			continue
		case "TenantId":
			continue // the workspace, not the directory
		case "AADTenantId":
			if err := m.set("tenantId", c.Name, c.Value); err != nil {
				return nil, err
			}
			continue
		}
		targets, ok := t.columns[c.Name]
		if !ok {
			targets, ok = common[c.Name]
		}
		if !ok {
			continue // a column the record has no place for (SourceSystem, _BilledSize, ...)
		}
		for _, tg := range targets {
			v, skip := convert(c.Value, tg.kind)
			if skip {
				continue
			}
			if err := m.set(tg.path, c.Name, v); err != nil {
				return nil, err
			}
		}
	}
	if opt.Tenant != "" {
		if err := m.set("tenantId", "the tenant named for the export", json.RawMessage(quote(strings.ToLower(opt.Tenant)))); err != nil {
			return nil, err
		}
	}
	return m.render(), nil
}

// field is one value placed in the record, and the column it came from.
type field struct {
	from  string
	value json.RawMessage
}

type mapper struct {
	fields map[string]field // by dotted path
}

// set places v at path. A second column for the same path must say the
// same thing (compared as text, without regard to case for ids), or the
// row is ambiguous.
func (m *mapper) set(path, from string, v json.RawMessage) error {
	if prev, ok := m.fields[path]; ok {
		if !sameValue(prev.value, v) {
			return ambiguous("%s and %s give %s two values (%.60s, %.60s)", prev.from, from, path, prev.value, v)
		}
		return nil
	}
	m.fields[path] = field{from: from, value: v}
	return nil
}

func sameValue(a, b json.RawMessage) bool {
	var sa, sb string
	if json.Unmarshal(a, &sa) == nil && json.Unmarshal(b, &sb) == nil {
		return strings.EqualFold(strings.TrimSpace(sa), strings.TrimSpace(sb))
	}
	return bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b))
}

// render writes the record: envelope keys, then properties, nested by the
// dotted paths, keys sorted so the same row always gives the same bytes.
func (m *mapper) render() []byte {
	type node struct {
		value    json.RawMessage
		children map[string]*node
	}
	root := &node{children: map[string]*node{}}
	for path, f := range m.fields {
		n := root
		parts := strings.Split(path, ".")
		for i, p := range parts {
			if n.children == nil {
				n.children = map[string]*node{}
			}
			c := n.children[p]
			if c == nil {
				c = &node{}
				n.children[p] = c
			}
			if i == len(parts)-1 {
				c.value = f.value
			}
			n = c
		}
	}
	var buf bytes.Buffer
	var write func(n *node)
	write = func(n *node) {
		if n.children == nil {
			buf.Write(n.value)
			return
		}
		keys := make([]string, 0, len(n.children))
		for k := range n.children {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(quote(k))
			buf.WriteByte(':')
			write(n.children[k])
		}
		buf.WriteByte('}')
	}
	write(root)
	return buf.Bytes()
}

// convert turns a column's value into the JSON the record field wants.
// skip is true for an empty value (LA renders a missing value as "").
func convert(v json.RawMessage, k kind) (out json.RawMessage, skip bool) {
	v = bytes.TrimSpace(v)
	var s string
	isStr := len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil
	if isStr && strings.TrimSpace(s) == "" {
		return nil, true
	}
	switch k {
	case dyn:
		// A dynamic column: JSON text in a string becomes the JSON itself.
		if isStr {
			t := strings.TrimSpace(s)
			if (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")) && json.Valid([]byte(t)) {
				return json.RawMessage(t), false
			}
		}
	case boolean:
		if isStr {
			switch strings.ToLower(strings.TrimSpace(s)) {
			case "true":
				return json.RawMessage("true"), false
			case "false":
				return json.RawMessage("false"), false
			}
		}
	}
	return v, false
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func ambiguous(format string, args ...any) error {
	return &entra.AmbiguousError{Reason: "Log Analytics row: " + fmt.Sprintf(format, args...)}
}
