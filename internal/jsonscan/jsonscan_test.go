package jsonscan

import (
	"encoding/json"
	"os"
	"path/filepath"
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

func TestMasks(t *testing.T) {
	for c := 0; c < 256; c++ {
		x := lsb * uint64(c)
		if got, want := eqMask(x, lsb*'"') != 0, c == '"'; got != want {
			t.Errorf("eqMask(%#x) = %v", c, got)
		}
		wantBr := c == '{' || c == '}' || c == '[' || c == ']' || c == 'Y' || c == 'y' || c == '_' || c == 0x7f
		if got := bracketMask(x) != 0; got != wantBr {
			t.Errorf("bracketMask(%#x) = %v", c, got)
		}
		// A bracket is never missed, whatever surrounds it.
		if c == '{' || c == '}' || c == '[' || c == ']' {
			for k := 0; k < 8; k++ {
				for _, fill := range []uint64{0, 'a', '{', 0xff, '"'} {
					y := lsb*fill&^(0xff<<(8*k)) | uint64(c)<<(8*k)
					if bracketMask(y)&(0x80<<(8*k)) == 0 {
						t.Fatalf("bracketMask missed %q at %d among %#x", rune(c), k, fill)
					}
				}
			}
		}
		// One byte among others: exactly that byte's top bit.
		for k := 0; k < 8; k++ {
			y := lsb*'a'&^(0xff<<(8*k)) | uint64(c)<<(8*k)
			if got, want := eqMask(y, lsb*'"'), uint64(0); c == '"' && got != 0x80<<(8*k) || c != '"' && got != want {
				t.Fatalf("eqMask(%#x at %d) = %#x", c, k, got)
			}
		}
	}
}

// FuzzSkipContainerFast holds the word-at-a-time container skip to the
// byte-by-byte one: same end and same error, on any input.
func FuzzSkipContainerFast(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"c\"d}]"}],"e":null}`))
	f.Add([]byte(`[{"k":"v\\"},"\\\"{[",{}]`))
	f.Add([]byte(`{"a":"b"]`))
	f.Add([]byte(`{"Yy_":[{"x":"}]"},1,2,3,4,5,6,7,8,9]}  {`))
	// Real records: long stretches of strings with a bracket now and then.
	samples, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "entra", "sample-*.json"))
	for _, s := range samples {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		i := SkipWS(b, 0)
		if i >= len(b) || (b[i] != '{' && b[i] != '[') {
			return
		}
		end, err := skipContainer(b, i)
		endSlow, errSlow := skipContainerSlow(b, i)
		if end != endSlow || (err == nil) != (errSlow == nil) || (err != nil && err.Error() != errSlow.Error()) {
			t.Fatalf("skipContainer(%q) = %d, %v; byte by byte: %d, %v", b, end, err, endSlow, errSlow)
		}
	})
}
