// Package jsonscan is a small, allocation-free JSON scanner for the hot path
// of intake. The Functions host hands the handler Entra records wrapped in
// two layers of JSON strings, and 99% of them are benign records of
// categories the responder skips. Decoding all of that with encoding/json
// into maps or structs would spend most of the time building values that are
// thrown away, so intake walks the bytes instead: it unescapes each layer in
// one pass, finds record boundaries and reads the few fields it needs.
//
// The scanner is tolerant where Entra is inconsistent (it does not care about
// key order, whitespace or unknown keys) and strict where a mistake would
// mislead (an unterminated string, a bad escape or a truncated structure is
// an error, never a guess). Values the responder acts on are always decoded
// again with encoding/json by the typed decoders, so the scanner only has to
// be right about structure.
package jsonscan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// ErrSyntax reports malformed JSON. Errors carry the byte offset.
var ErrSyntax = errors.New("json syntax error")

func syntaxErr(off int, what string) error {
	return fmt.Errorf("%w at offset %d: %s", ErrSyntax, off, what)
}

// special marks bytes that end a run of plain string content.
var special = [256]bool{'"': true, '\\': true}

func init() {
	for c := 0; c < 0x20; c++ {
		special[c] = true
	}
}

// Unescape reads a JSON string whose opening quote is at src[0] and appends
// its decoded content to dst. It returns the extended dst and the index just
// past the closing quote. Plain runs are copied eight bytes at a time into
// room reserved up front (decoded content is never longer than its escaped
// form), which is what makes the doubly-encoded invocation body cheap to
// unwrap.
func Unescape(dst, src []byte) ([]byte, int, error) {
	if len(src) == 0 || src[0] != '"' {
		return dst, 0, syntaxErr(0, "expected string")
	}
	n := len(src)
	j := len(dst)
	if need := j + n + 8; cap(dst) < need {
		grown := make([]byte, j, need+need/4)
		copy(grown, dst)
		dst = grown
	}
	out := dst[:cap(dst)]
	i := 1
	for {
		// Copy eight bytes at a time until one holds a special byte; the
		// bytes copied past it are overwritten by what follows.
		for i+8 <= n {
			x := binary.LittleEndian.Uint64(src[i:])
			binary.LittleEndian.PutUint64(out[j:], x)
			if m := specialMask(x); m != 0 {
				k := bits.TrailingZeros64(m) >> 3
				i += k
				j += k
				goto special
			}
			i += 8
			j += 8
		}
		for i < n && !special[src[i]] {
			out[j] = src[i]
			i++
			j++
		}
		if i >= n {
			return out[:j], i, syntaxErr(i, "unterminated string")
		}
	special:
		c := src[i]
		switch {
		case c == '"':
			return out[:j], i + 1, nil
		case c < 0x20:
			return out[:j], i, syntaxErr(i, "control character in string")
		}
		// c == '\\'
		if i+1 >= n {
			return out[:j], i, syntaxErr(i, "unterminated escape")
		}
		e := src[i+1]
		switch e {
		case '"', '\\', '/':
			out[j] = e
		case 'n':
			out[j] = '\n'
		case 't':
			out[j] = '\t'
		case 'r':
			out[j] = '\r'
		case 'b':
			out[j] = '\b'
		case 'f':
			out[j] = '\f'
		case 'u':
			r, ok := hex4(src, i+2)
			if !ok {
				return out[:j], i, syntaxErr(i, "bad \\u escape")
			}
			i += 6
			if r >= 0xD800 && r < 0xDC00 {
				// A high surrogate must be followed by an escaped low one.
				if r2, ok := hex4(src, i+2); ok && i+1 < n && src[i] == '\\' && src[i+1] == 'u' && r2 >= 0xDC00 && r2 < 0xE000 {
					r = (r-0xD800)<<10 + (r2 - 0xDC00) + 0x10000
					i += 6
				} else {
					r = utf8.RuneError
				}
			} else if r >= 0xDC00 && r < 0xE000 {
				r = utf8.RuneError
			}
			// A \u escape is six bytes and its UTF-8 at most four, so the
			// reserved room still suffices.
			j += utf8.EncodeRune(out[j:], r)
			continue
		default:
			return out[:j], i, syntaxErr(i, "bad escape")
		}
		i += 2
		j++
	}
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// SkipString returns the index just past the string that starts at b[i] (a
// quote), and whether it contains escapes.
func SkipString(b []byte, i int) (end int, escaped bool, err error) {
	j := i + 1
	n := len(b)
	for {
		j = nextQuoteOrBackslash(b, j)
		if j >= n {
			return n, escaped, syntaxErr(i, "unterminated string")
		}
		if b[j] == '"' {
			return j + 1, escaped, nil
		}
		escaped = true
		j += 2
	}
}

// SkipWS returns the index of the first non-whitespace byte at or after i.
func SkipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack or spin.
const maxDepth = 512

// SkipValue returns the index just past the JSON value starting at b[i]
// (after whitespace). It checks structure (matching brackets, terminated
// strings, separators) but not the spelling of literals and numbers, which
// the typed decoders check when a value matters.
func SkipValue(b []byte, i int) (int, error) {
	i = SkipWS(b, i)
	if i >= len(b) {
		return i, syntaxErr(i, "unexpected end of input")
	}
	switch b[i] {
	case '"':
		end, _, err := SkipString(b, i)
		return end, err
	case '{', '[':
		return skipContainer(b, i)
	default:
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if j == i {
					return j, syntaxErr(j, "expected value")
				}
				return j, nil
			case '"', '{', '[', ':':
				return j, syntaxErr(j, "unexpected character in literal")
			}
			j++
		}
		return j, nil
	}
}

// skipContainer skips an object or array. The fast path handles every
// well-formed container; on anything else (and at the end of the input) it
// gives up, and skipContainerSlow, which it mirrors byte for byte, finds
// and reports the error.
func skipContainer(b []byte, i int) (int, error) {
	if end, ok := skipContainerFast(b, i); ok {
		return end, nil
	}
	return skipContainerSlow(b, i)
}

// skipContainerSlow skips an object or array iteratively with an explicit
// stack of open brackets (bits: 1 = object).
func skipContainerSlow(b []byte, i int) (int, error) {
	var stack [maxDepth / 64]uint64
	depth := 0
	push := func(obj bool) bool {
		if depth >= maxDepth {
			return false
		}
		if obj {
			stack[depth/64] |= 1 << (depth % 64)
		} else {
			stack[depth/64] &^= 1 << (depth % 64)
		}
		depth++
		return true
	}
	top := func() bool { return stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0 }
	n := len(b)
	for i < n {
		c := b[i]
		switch c {
		case '"':
			end, _, err := SkipString(b, i)
			if err != nil {
				return end, err
			}
			i = end
			continue
		case '{', '[':
			if !push(c == '{') {
				return i, syntaxErr(i, "nesting too deep")
			}
		case '}', ']':
			if depth == 0 || top() != (c == '}') {
				return i, syntaxErr(i, "mismatched bracket")
			}
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		}
		i++
	}
	return i, syntaxErr(i, "unterminated container")
}

// Object iterates the members of the object starting at b[i] (after
// whitespace), calling fn with the raw key (without quotes, still escaped)
// and the offset of the value. fn returns the index just past the value
// (it may skip it with SkipValue). Object returns the index past '}'.
func Object(b []byte, i int, fn func(key []byte, keyEscaped bool, val int) (int, error)) (int, error) {
	i = SkipWS(b, i)
	if i >= len(b) || b[i] != '{' {
		return i, syntaxErr(i, "expected object")
	}
	i = SkipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, syntaxErr(i, "expected key")
		}
		end, esc, err := SkipString(b, i)
		if err != nil {
			return end, err
		}
		key := b[i+1 : end-1]
		i = SkipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return i, syntaxErr(i, "expected ':'")
		}
		i = SkipWS(b, i+1)
		if i >= len(b) {
			return i, syntaxErr(i, "expected value")
		}
		next, err := fn(key, esc, i)
		if err != nil {
			return next, err
		}
		if next <= i {
			return next, syntaxErr(i, "value not consumed")
		}
		i = SkipWS(b, next)
		if i >= len(b) {
			return i, syntaxErr(i, "unterminated object")
		}
		switch b[i] {
		case ',':
			i = SkipWS(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, syntaxErr(i, "expected ',' or '}'")
		}
	}
}

// Array iterates the elements of the array starting at b[i] (after
// whitespace), calling fn with each element's index and offset. fn returns
// the index just past the element.
func Array(b []byte, i int, fn func(idx, val int) (int, error)) (int, error) {
	i = SkipWS(b, i)
	if i >= len(b) || b[i] != '[' {
		return i, syntaxErr(i, "expected array")
	}
	i = SkipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for idx := 0; ; idx++ {
		if i >= len(b) {
			return i, syntaxErr(i, "unterminated array")
		}
		next, err := fn(idx, i)
		if err != nil {
			return next, err
		}
		if next <= i {
			return next, syntaxErr(i, "element not consumed")
		}
		i = SkipWS(b, next)
		if i >= len(b) {
			return i, syntaxErr(i, "unterminated array")
		}
		switch b[i] {
		case ',':
			i = SkipWS(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return i, syntaxErr(i, "expected ',' or ']'")
		}
	}
}

// String reads the string value at b[i]. It returns the content without
// quotes; when the string holds escapes the content is decoded into scratch
// (which may be nil) so the common case allocates nothing.
func String(b []byte, i int, scratch []byte) (val []byte, end int, err error) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, syntaxErr(i, "expected string")
	}
	end, esc, err := SkipString(b, i)
	if err != nil {
		return nil, end, err
	}
	if !esc {
		return b[i+1 : end-1], end, nil
	}
	out, _, err := Unescape(scratch[:0], b[i:end])
	return out, end, err
}

// IsNull reports whether the value at b[i] is the literal null.
func IsNull(b []byte, i int) bool {
	return len(b)-i >= 4 && string(b[i:i+4]) == "null"
}
