package notify

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// clean makes incident-derived text fit for one line of a message: control
// characters (including CR and LF, which would otherwise let a display name
// inject mail headers or fake card lines) become spaces, bidirectional
// overrides (which can make text read differently from what it is) are
// dropped, runs of spaces collapse, and the result is cut to max runes with
// an ellipsis. It never cuts inside a UTF-8 sequence.
func clean(s string, max int) string {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range s {
		if max > 0 && n > max {
			// Enough to cut with an ellipsis; the rest of a huge string
			// need not be read.
			break
		}
		switch {
		case r == utf8.RuneError:
			r = '?'
		case isBidiControl(r):
			continue
		case unicode.IsControl(r) || unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
			n++
		}
		b.WriteRune(r)
		n++
	}
	return truncate(b.String(), max)
}

// truncate cuts s to at most max runes, marking the cut with an ellipsis.
func truncate(s string, max int) string {
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	if max == 1 {
		return "…"
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return strings.TrimRight(s[:i], " ") + "…"
		}
		n++
	}
	return s
}

func isBidiControl(r rune) bool {
	return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') || r == '\u200e' || r == '\u200f' || r == '\u061c'
}

// mdEscape neutralises the Markdown that Teams renders in TextBlock and
// FactSet text, so an app's display name such as "[click](https://x)" or
// "**urgent**" shows as typed instead of becoming a link or emphasis.
// Backslash escapes are CommonMark; only the characters that open inline
// constructs, and block markers at the start of the text, are escaped, so
// ordinary text (hyphenated names, IP addresses, dates) is left alone.
func mdEscape(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch r {
		case '\\', '*', '_', '[', ']', '`', '~', '<', '>', '|':
			b.WriteByte('\\')
		case '#', '-', '+':
			if i == 0 {
				b.WriteByte('\\')
			}
		}
		b.WriteRune(r)
	}
	out := b.String()
	// "1. text" at the start would become an ordered list.
	if j := strings.IndexFunc(out, func(r rune) bool { return r < '0' || r > '9' }); j > 0 && (out[j] == '.' || out[j] == ')') {
		out = out[:j] + "\\" + out[j:]
	}
	return out
}

// Times are shown in UTC with the zone spelled out: owners are everywhere,
// and the Entra portal and logs they will compare against show UTC.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "unknown time"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func fmtDate(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
