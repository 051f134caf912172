package replay

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spresponder/spresponder/internal/invocation"
	"github.com/spresponder/spresponder/internal/jsonscan"
	"github.com/spresponder/spresponder/internal/logtable"
)

// Options are what the operator knows about a file that it may not say.
type Options struct {
	// Tenant is the directory tenant of a Log Analytics export (the
	// service-principal tables have no column for it).
	Tenant string
	// Table names the Log Analytics table of rows without a Type column.
	Table string
}

// Kinds of item a file holds.
const (
	KindBody    = "event body"          // {"records":[...]}
	KindRecord  = "diagnostic record"   // a bare record: category, properties, ...
	KindRow     = "Log Analytics row"   // PascalCase columns, Type
	KindUnknown = "unrecognised object" // JSON of none of those shapes
	KindInvalid = "invalid JSON"
)

// File is a replay file, read: what it was, and its events for intake.
type File struct {
	// Format describes the file as detected: its layout (one per line, a
	// JSON array, one document, CSV, a captured invocation) and the kind
	// of items in it.
	Format string
	// Items is how many items (lines, elements, rows, events) it held,
	// blank lines and # comments aside; ByKind counts them by kind.
	Items  int
	ByKind map[string]int
	// Unit names an item's position: "line", "element", "row", "event".
	Unit string
	// Events are for intake: an event body as it is; every record or row
	// becomes a body of its own ({"records":[rec]}) so that its position
	// is its line. An item that could not become one is an event with Err
	// set (intake keeps it in quarantine with the reason).
	Events []invocation.Event
}

// reasoned is an error that names its quarantine reason.
type reasoned struct {
	reason, msg string
}

func (e *reasoned) Error() string            { return e.msg }
func (e *reasoned) QuarantineReason() string { return e.reason }

// Read detects a replay file's format and splits it into events:
//
//   - a captured Functions invocation ({"Data":...,"Metadata":...});
//   - event bodies ({"records":[...]}): one per line, a JSON array, or one;
//   - bare diagnostic records: one per line (the diagnostic setting's
//     storage-account archive, PT1H.json blobs, has this form), a JSON
//     array, or one;
//   - Log Analytics / Microsoft Sentinel rows of the Entra tables: a JSON
//     array of rows (the portal's export, az monitor log-analytics query),
//     one per line, the query API's {"tables":[{"columns":..,"rows":..}]},
//     or the portal's CSV export; each row is mapped to a record by
//     package logtable.
//
// Items are classified one by one, so a file that mixes them still reads.
// The error is for a file that cannot be read at all (empty, or a JSON
// document that is not valid).
func Read(data []byte, binding string, opt Options) (File, error) {
	f := File{ByKind: map[string]int{}}
	t := bytes.TrimSpace(data)
	if len(t) == 0 {
		return f, fmt.Errorf("replay file is empty")
	}
	t = bytes.TrimPrefix(t, []byte("\uFEFF"))
	layout := ""
	switch {
	case t[0] == '{' && isOneDocument(t):
		if hasKey(t, "Data") {
			req, err := invocation.Decode(t, binding)
			if err != nil {
				return f, fmt.Errorf("captured invocation: %w", err)
			}
			f.Events, f.Items, f.Format, f.Unit = req.Events, len(req.Events), "captured Functions invocation", "event"
			f.ByKind[KindBody] = len(req.Events)
			return f, nil
		}
		if hasKey(t, "tables") {
			if err := f.queryAPI(t, opt); err != nil {
				return f, err
			}
			layout, f.Unit = "Log Analytics query API result (tables, columns, rows)", "row"
			break
		}
		f.item(t, 1, 0, "the document", opt)
		layout, f.Unit = "one JSON document", "document"
	case t[0] == '[':
		_, err := jsonscan.Array(t, 0, func(i, v int) (int, error) {
			end, err := jsonscan.SkipValue(t, v)
			if err != nil {
				return end, err
			}
			f.item(t[v:end], int64(i+1), i, fmt.Sprintf("element %d", i+1), opt)
			return end, nil
		})
		if err != nil {
			return f, fmt.Errorf("replay file is a JSON array but not a valid one: %w", err)
		}
		layout, f.Unit = "JSON array", "element"
	case looksLikeCSV(t):
		if err := f.csv(t, opt); err != nil {
			return f, err
		}
		layout, f.Unit = "CSV (Log Analytics export)", "line"
	default:
		// One item per line. A bad line becomes a bad event (kept in
		// quarantine by intake), never the end of the replay.
		line := 0
		for rest := data; len(rest) > 0; {
			var l []byte
			if i := bytes.IndexByte(rest, '\n'); i >= 0 {
				l, rest = rest[:i], rest[i+1:]
			} else {
				l, rest = rest, nil
			}
			line++
			l = bytes.TrimSpace(l)
			if line == 1 {
				l = bytes.TrimPrefix(l, []byte("\uFEFF"))
			}
			if len(l) == 0 || l[0] == '#' {
				continue
			}
			f.item(bytes.Clone(l), int64(line), len(f.Events), fmt.Sprintf("line %d", line), opt)
		}
		layout, f.Unit = "one item per line", "line"
	}
	f.Format = describe(layout, f.ByKind)
	return f, nil
}

// describe names the layout and the kinds of item found.
func describe(layout string, by map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(by)) {
		parts = append(parts, fmt.Sprintf("%d %s", by[k], plural(k, by[k])))
	}
	what := strings.Join(parts, ", ")
	if by[KindRecord] > 0 && len(by) == 1 && layout == "one item per line" {
		layout += ", as in a storage-account archive (PT1H.json)"
	}
	return layout + ": " + what
}

func plural(k string, n int) string {
	if n == 1 || k == KindInvalid {
		return k
	}
	if strings.HasSuffix(k, "y") {
		return strings.TrimSuffix(k, "y") + "ies"
	}
	return k + "s"
}

// item classifies one JSON item and turns it into an event.
func (f *File) item(b []byte, seq int64, idx int, where string, opt Options) {
	f.Items++
	ev := invocation.Event{Body: b, Pos: invocation.Position{Partition: "file", SequenceNumber: seq, Index: len(f.Events)}}
	_ = idx
	kind := classify(b)
	f.ByKind[kind]++
	switch kind {
	case KindInvalid:
		ev.Err = fmt.Errorf("%s is not valid JSON", where)
	case KindUnknown:
		ev.Err = &reasoned{"unknownShape", fmt.Sprintf(`%s is neither an event body ({"records":[...]}), a diagnostic record (category, properties, ...) nor a Log Analytics row (Type, TimeGenerated, ...)`, where)}
	case KindRecord:
		ev.Body = wrap(b)
	case KindRow:
		row, err := rowOf(b)
		if err == nil {
			var rec []byte
			rec, err = logtable.Record(row, logtable.Options{Tenant: opt.Tenant, Table: opt.Table})
			if err == nil {
				ev.Body = wrap(rec)
			}
		}
		if err != nil {
			ev.Err = fmt.Errorf("%s: %w", where, err)
		}
	}
	f.Events = append(f.Events, ev)
}

func wrap(rec []byte) []byte {
	out := make([]byte, 0, len(rec)+14)
	out = append(out, `{"records":[`...)
	out = append(out, rec...)
	return append(out, "]}"...)
}

// Keys that tell the kinds apart. A diagnostic record's keys are
// camelCase; a Log Analytics row's are PascalCase.
var (
	recordKeys = []string{"category", "properties", "resourceId", "operationName", "tenantId", "time", "correlationId"}
	rowKeys    = []string{"Type", "TimeGenerated", "TenantId", "AADTenantId", "SourceSystem", "OperationName", "Id"}
)

// classify tells an item's kind from its top-level keys.
func classify(b []byte) string {
	if !json.Valid(b) {
		return KindInvalid
	}
	if b[0] != '{' {
		return KindUnknown
	}
	var body, rec, row bool
	_, _ = jsonscan.Object(b, 0, func(key []byte, _ bool, v int) (int, error) {
		k := string(key)
		switch {
		case k == "records":
			body = true
		case slices.Contains(recordKeys, k):
			rec = true
		case slices.Contains(rowKeys, k):
			row = true
		}
		return jsonscan.SkipValue(b, v)
	})
	switch {
	case body:
		return KindBody
	case rec:
		return KindRecord // a record with PascalCase keys besides is the strict decoders' to judge
	case row:
		return KindRow
	}
	return KindUnknown
}

// rowOf reads a JSON object's columns in order.
func rowOf(b []byte) (logtable.Row, error) {
	var r logtable.Row
	_, err := jsonscan.Object(b, 0, func(key []byte, esc bool, v int) (int, error) {
		end, err := jsonscan.SkipValue(b, v)
		if err != nil {
			return end, err
		}
		name := string(key)
		if esc {
			var s string
			if json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &s) == nil {
				name = s
			}
		}
		r = append(r, logtable.Column{Name: name, Value: b[v:end], Escaped: esc})
		return end, nil
	})
	return r, err
}

// queryAPI reads the Log Analytics query API's result:
// {"tables":[{"name":"PrimaryResult","columns":[{"name":..,"type":..}],"rows":[[..],..]}]}.
func (f *File) queryAPI(doc []byte, opt Options) error {
	var res struct {
		Tables []struct {
			Name    string `json:"name"`
			Columns []struct {
				Name string `json:"name"`
			} `json:"columns"`
			Rows []json.RawMessage `json:"rows"`
		} `json:"tables"`
	}
	if err := json.Unmarshal(doc, &res); err != nil {
		return fmt.Errorf("read a Log Analytics query result: %w", err)
	}
	n := 0
	for ti, tb := range res.Tables {
		for ri, raw := range tb.Rows {
			n++
			where := fmt.Sprintf("table %d row %d", ti+1, ri+1)
			var cells []json.RawMessage
			ev := invocation.Event{Body: raw, Pos: invocation.Position{Partition: "file", SequenceNumber: int64(n), Index: len(f.Events)}}
			f.Items++
			f.ByKind[KindRow]++
			err := json.Unmarshal(raw, &cells)
			if err == nil && len(cells) != len(tb.Columns) {
				err = &reasoned{"unknownShape", fmt.Sprintf("%d cells for %d columns", len(cells), len(tb.Columns))}
			}
			if err == nil {
				row := make(logtable.Row, len(cells))
				for i, c := range cells {
					row[i] = logtable.Column{Name: tb.Columns[i].Name, Value: c}
				}
				var rec []byte
				if rec, err = logtable.Record(row, logtable.Options{Tenant: opt.Tenant, Table: opt.Table}); err == nil {
					ev.Body = wrap(rec)
				}
			}
			if err != nil {
				ev.Err = fmt.Errorf("%s: %w", where, err)
			}
			f.Events = append(f.Events, ev)
		}
	}
	return nil
}

// csvColumns are header names that make a first line a Log Analytics CSV
// header rather than a bad JSON line.
var csvColumns = []string{"TimeGenerated", "Type", "TenantId", "AADTenantId", "Id", "AppId", "OperationName"}

func csvName(h string) string {
	h = strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF"))
	return strings.TrimSuffix(h, " [UTC]") // the portal names time columns "TimeGenerated [UTC]"
}

func looksLikeCSV(t []byte) bool {
	first := t
	if i := bytes.IndexByte(t, '\n'); i >= 0 {
		first = t[:i]
	}
	if len(first) == 0 || first[0] == '{' || first[0] == '[' || first[0] == '#' {
		return false
	}
	head, err := csv.NewReader(bytes.NewReader(first)).Read()
	if err != nil || len(head) < 2 {
		return false
	}
	for _, h := range head {
		if slices.Contains(csvColumns, csvName(h)) {
			return true
		}
	}
	return false
}

// csv reads the portal's CSV export: a header of column names, then one
// row per record (a cell may span lines inside quotes).
func (f *File) csv(t []byte, opt Options) error {
	r := csv.NewReader(bytes.NewReader(t))
	head, err := r.Read()
	if err != nil {
		return fmt.Errorf("CSV header: %w", err)
	}
	names := make([]string, len(head))
	for i, h := range head {
		names[i] = csvName(h)
	}
	r.FieldsPerRecord = len(head)
	r.ReuseRecord = true
	start := r.InputOffset()
	for {
		cells, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		end := r.InputOffset()
		raw := bytes.Clone(t[start:end])
		start = end
		var line int
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			line = pe.StartLine
		} else if len(cells) > 0 {
			line, _ = r.FieldPos(0)
		}
		f.Items++
		f.ByKind[KindRow]++
		ev := invocation.Event{Body: raw, Pos: invocation.Position{Partition: "file", SequenceNumber: int64(line), Index: len(f.Events)}}
		if err == nil {
			row := make(logtable.Row, len(cells))
			for i, c := range cells {
				v, _ := json.Marshal(c)
				row[i] = logtable.Column{Name: names[i], Value: v}
			}
			var rec []byte
			if rec, err = logtable.Record(row, logtable.Options{Tenant: opt.Tenant, Table: opt.Table}); err == nil {
				ev.Body = wrap(rec)
			}
		}
		if err != nil {
			ev.Err = fmt.Errorf("CSV line %d: %w", line, err)
		}
		f.Events = append(f.Events, ev)
	}
}

// isOneDocument reports whether t is exactly one JSON value.
func isOneDocument(t []byte) bool {
	end, err := jsonscan.SkipValue(t, 0)
	return err == nil && len(bytes.TrimSpace(t[end:])) == 0
}

func hasKey(doc []byte, name string) bool {
	found := false
	_, _ = jsonscan.Object(doc, 0, func(key []byte, _ bool, v int) (int, error) {
		if string(key) == name {
			found = true
		}
		return jsonscan.SkipValue(doc, v)
	})
	return found
}
