package jsonscan

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestUnescapeMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{``, `plain`, `a"b\c/d`, "tab\tnl\n", `é€𝄞`, "\u2028", `\u0041`, `"{\"records\":[]}"`} {
		enc, _ := json.Marshal(s)
		got, n, err := Unescape(nil, enc)
		if err != nil || string(got) != s || n != len(enc) {
			t.Errorf("Unescape(%s) = %q, %d, %v", enc, got, n, err)
		}
	}
	got, _, err := Unescape(nil, []byte(`"\ud834\udd1e \u00e9"`))
	if err != nil || string(got) != "𝄞 é" {
		t.Errorf("surrogates: %q %v", got, err)
	}
	for _, bad := range []string{`"abc`, `"\x"`, `"\u12"`, "\"a\x01\"", `x`} {
		if _, _, err := Unescape(nil, []byte(bad)); err == nil {
			t.Errorf("Unescape(%q) accepted", bad)
		}
	}
}

func FuzzUnescape(f *testing.F) {
	f.Add([]byte(`"a\"b\\c\u00e9\ud834\udd1e"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, n, err := Unescape(nil, b)
		var want string
		jerr := json.Unmarshal(b, &want)
		// Invalid UTF-8 passes through raw (encoding/json would substitute
		// U+FFFD); the typed decoders that read values run encoding/json
		// again, so only valid text must agree.
		if jerr == nil && err == nil && n == len(b) && utf8.Valid(b) && string(got) != want {
			t.Fatalf("Unescape(%q) = %q, encoding/json says %q", b, got, want)
		}
		if jerr == nil && err != nil && len(b) > 0 && b[0] == '"' {
			t.Fatalf("Unescape(%q) failed on a valid string: %v", b, err)
		}
	})
}

func FuzzSkipValue(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"c\"d"}],"e":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		end, err := SkipValue(b, 0)
		if err == nil && (end < 0 || end > len(b)) {
			t.Fatalf("end %d outside input of %d", end, len(b))
		}
		if json.Valid(b) {
			if err != nil {
				t.Fatalf("SkipValue rejected valid JSON %q: %v", b, err)
			}
			if !json.Valid(b[:end]) && len(trimWS(b[end:])) == 0 {
				t.Fatalf("SkipValue stopped at %d in %q", end, b)
			}
		}
	})
}

func trimWS(b []byte) []byte { return b[SkipWS(b, 0):] }
