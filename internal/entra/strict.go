package entra

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/spresponder/spresponder/internal/jsonscan"
)

// ErrAmbiguous marks a record that encoding/json and the byte scanner could
// read differently. encoding/json matches object keys to struct fields
// without regard to case (Unicode folding included: the Kelvin sign K
// matches k) and keeps the last of duplicate keys, and the scanner compares
// raw key bytes, so one record with "tenantId" and "TenantId", or with
// "tenant\u0049d", had two tenants: the allow-list checked one and the
// signal carried the other. The typed decoders therefore refuse any record
// where a key the decoder reads appears twice, in another spelling than
// the struct's, or escaped (THREATS.md invariant 3).
var ErrAmbiguous = errors.New("ambiguous record")

// AmbiguousError says where and why a record is ambiguous.
type AmbiguousError struct {
	Path   string // JSON path of the object holding the key, "" for the record
	Reason string
}

func (e *AmbiguousError) Error() string {
	if e.Path == "" {
		return "ambiguous record: " + e.Reason
	}
	return "ambiguous record: " + e.Reason + " in " + e.Path
}

// Unwrap makes errors.Is(err, ErrAmbiguous) true.
func (e *AmbiguousError) Unwrap() error { return ErrAmbiguous }

// shape is what the decoder reads of a JSON value: the fields of an object
// (by exact JSON name) or the element of an array. A nil shape is a leaf
// whose keys, if any, the decoder does not match against fields.
type shape struct {
	fields map[string]*fieldShape
	names  []string // the field names, for the case-folding check
	elem   *shape
}

type fieldShape struct {
	bit int // position in the per-object seen mask
	sub *shape
	// lenient marks a field no decision reads (tag entra:"lenient"): a
	// value of it that does not decode is set aside (read as null) and
	// named in the record's Tolerated list instead of failing the record.
	// Its key still obeys the one-reading rules.
	lenient bool
	typ     reflect.Type
}

// aliases are spellings Entra really uses for one field, each read as that
// field: Level is "Level" in sign-in and risk records and "level" in audit
// records (REAL samples in reference/entra). Both at once is still twice.
var aliases = map[string][]string{"Level": {"level"}}

var unmarshaler = reflect.TypeFor[json.Unmarshaler]()

// shapeOf derives the shape from a Go type the way encoding/json maps it.
func shapeOf(t reflect.Type) *shape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	// Types that decode themselves are leaves, except Location, which
	// decodes an object into its own fields.
	if t != reflect.TypeFor[Location]() && reflect.PointerTo(t).Implements(unmarshaler) {
		return nil
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if el := shapeOf(t.Elem()); el != nil {
			return &shape{elem: el}
		}
		return nil
	case reflect.Struct:
		s := &shape{fields: map[string]*fieldShape{}}
		addFields(s, t)
		return s
	}
	return nil
}

func addFields(s *shape, t reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if f.Anonymous && tag == "" {
			addFields(s, f.Type) // embedded Envelope: its fields are promoted
			continue
		}
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		fs := &fieldShape{bit: len(s.fields), sub: shapeOf(f.Type), lenient: f.Tag.Get("entra") == "lenient", typ: f.Type}
		s.fields[name] = fs
		s.names = append(s.names, name)
		for _, a := range aliases[name] {
			s.fields[a] = fs
		}
	}
	if len(s.fields) > 64 {
		panic("entra: a record type has more than 64 fields") // a programming error, caught by every test
	}
}

// The shapes of the four decoded record types, derived once.
var (
	signInShape    = shapeOf(reflect.TypeFor[SignIn]())
	riskEventShape = shapeOf(reflect.TypeFor[RiskEvent]())
	riskySPShape   = shapeOf(reflect.TypeFor[RiskyServicePrincipal]())
	auditShape     = shapeOf(reflect.TypeFor[AuditLog]())
)

// checkKeys walks rec alongside the shape and returns an *AmbiguousError
// for the first key the decoder reads that is escaped, repeated, or matches
// a field only without regard to case. Keys the decoder ignores are not
// judged (Entra adds fields all the time), unless escaped: an escaped key
// could spell any field, and Entra never escapes keys.
//
// It also tries each lenient field's value on its own and returns those
// that do not decode (bad), in order, so that decode can set them aside.
//
// Trying the lenient fields costs a decode each, so decode asks for it
// (lenient) only when the record as a whole did not decode.
func checkKeys(rec []byte, s *shape, lenient bool) (bad []badValue, err error) {
	w := walker{b: rec, path: make([]step, 0, 8), lenient: lenient}
	_, err = w.value(jsonscan.SkipWS(rec, 0), s)
	return w.bad, err
}

// badValue is a lenient field's value that does not decode: rec[start:end].
type badValue struct {
	start, end int
	note       string // "path: error"
}

// walker walks one record; path is the way down to the current value,
// turned into text only when there is something to report.
type walker struct {
	b       []byte
	path    []step
	bad     []badValue
	lenient bool // try lenient fields' values
}

func (w *walker) pathString(last []byte) string {
	var sb strings.Builder
	for _, st := range w.path {
		if st.key == nil {
			fmt.Fprintf(&sb, "[%d]", st.idx)
		} else {
			sb.WriteByte('.')
			sb.Write(st.key)
		}
	}
	sb.WriteByte('.')
	sb.Write(last)
	return strings.TrimPrefix(sb.String(), ".")
}

type step struct {
	key []byte // nil for an array element
	idx int
}

func (w *walker) fail(format string, args ...any) error {
	var sb strings.Builder
	for _, st := range w.path {
		if st.key == nil {
			fmt.Fprintf(&sb, "[%d]", st.idx)
		} else {
			sb.WriteByte('.')
			sb.Write(st.key)
		}
	}
	return &AmbiguousError{Path: strings.TrimPrefix(sb.String(), "."), Reason: fmt.Sprintf(format, args...)}
}

func (w *walker) value(i int, s *shape) (int, error) {
	b := w.b
	if s == nil || i >= len(b) {
		return jsonscan.SkipValue(b, i)
	}
	switch {
	case b[i] == '{' && s.fields != nil:
		var seen uint64
		return jsonscan.Object(b, i, func(key []byte, esc bool, v int) (int, error) {
			if esc {
				return v, w.fail("escaped key %.40q", key)
			}
			f, ok := s.fields[string(key)]
			if !ok {
				for _, n := range s.names {
					if foldsTo(key, n) {
						return v, w.fail("key %.40q differs from %q only in case", key, n)
					}
				}
				return jsonscan.SkipValue(b, v)
			}
			if seen&(1<<f.bit) != 0 {
				return v, w.fail("key %q twice", key)
			}
			seen |= 1 << f.bit
			if f.lenient && w.lenient {
				end, err := jsonscan.SkipValue(b, v)
				if err != nil {
					return end, err
				}
				if derr := json.Unmarshal(b[v:end], reflect.New(f.typ).Interface()); derr != nil {
					w.bad = append(w.bad, badValue{start: v, end: end, note: w.pathString(key) + ": " + truncate(derr.Error(), 120)})
					return end, nil // set aside whole: its inside is not read
				}
			}
			if f.sub == nil {
				return jsonscan.SkipValue(b, v)
			}
			w.path = append(w.path, step{key: key})
			end, err := w.value(v, f.sub)
			if err == nil {
				w.path = w.path[:len(w.path)-1]
			}
			return end, err
		})
	case b[i] == '[' && s.elem != nil:
		return jsonscan.Array(b, i, func(idx, v int) (int, error) {
			w.path = append(w.path, step{idx: idx})
			end, err := w.value(v, s.elem)
			if err == nil {
				w.path = w.path[:len(w.path)-1]
			}
			return end, err
		})
	}
	// Another type than the shape expects: the decoder reports it.
	return jsonscan.SkipValue(b, i)
}
