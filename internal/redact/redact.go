// Package redact is the one rule for secrets in text the responder writes
// anywhere (logs, errors, the ledger, cards, mails, pages): a URL keeps its
// scheme and host and nothing else, and a configured secret is replaced
// wherever it appears, whole or in parts. Every package that prints a URL
// or an error that may carry one uses it: graph, ledger, notify, the CLI.
package redact

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Redacted is what replaces anything secret: a whole URL keeps its scheme
// and host before it ("https://hooks.example/…redacted"), a fragment is
// replaced by it alone.
const Redacted = "…redacted"

// URL returns the one form of a URL that may be logged, returned in an
// error or stored: scheme and host, then "/…redacted". Nothing else
// survives, whatever it looks like: a Workflows URL signs itself in the
// query (sig=...), other services put their key in the path, a storage URL
// carries a SAS, and some accept user:password@host. A URL that does not
// parse is replaced as a whole.
func URL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return Redacted
	}
	return u.Scheme + "://" + u.Host + "/" + Redacted
}

var urlPattern = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)

// URLsIn applies URL to every URL in a text (an error from net/http or an
// SDK names the URL it dialled).
func URLsIn(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlPattern.ReplaceAllStringFunc(s, func(u string) string {
		// A host:port with no path, no query and no user info names a
		// server, not a credential: keep it readable.
		scheme, rest, _ := strings.Cut(u, "://")
		if !strings.ContainsAny(rest, "/?#@") {
			return scheme + "://" + rest
		}
		return URL(u)
	})
}

// Redactor removes configured secrets from text. It is built once per
// channel or client from its URL(s) and opaque secrets (header values,
// tokens).
type Redactor struct {
	// pairs of (secret, replacement), longest secret first so that a URL is
	// replaced whole (keeping its host) before its parts are.
	pairs []string
}

// minSecretLen keeps short, common strings (such as "1.0" in api-version)
// out of the replacement list, where they would mangle unrelated text.
const minSecretLen = 6

// New returns a Redactor for the given URLs and opaque secrets. A URL is
// replaced by URL wherever it appears whole (as configured, as net/http
// prints it, escaped); and since gateways echo the request path and
// libraries print parts of a URL, every part that could carry a credential
// is replaced too, whatever it looks like: the path and query, each path
// segment, each query value, the user and password. For a header value
// such as "Bearer <token>" the token alone is a secret as well.
func New(urls []string, secrets []string) *Redactor {
	seen := map[string]string{}
	add := func(s, repl string) {
		if len(s) < minSecretLen {
			return
		}
		if _, ok := seen[s]; !ok {
			seen[s] = repl
		}
	}
	for _, raw := range urls {
		if raw == "" {
			continue
		}
		red := URL(raw)
		add(raw, red)
		add(url.QueryEscape(raw), red)
		add(strings.ReplaceAll(raw, "&", `\u0026`), red) // as encoding/json writes it
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil {
			continue
		}
		add(u.String(), red)
		add(u.RequestURI(), "/"+Redacted)
		add(u.EscapedPath(), "/"+Redacted)
		add(u.Path, "/"+Redacted)
		add(u.RawQuery, Redacted)
		for _, vs := range u.Query() {
			for _, v := range vs {
				add(v, Redacted)
				add(url.QueryEscape(v), Redacted)
			}
		}
		for _, seg := range strings.Split(u.EscapedPath(), "/") {
			add(seg, Redacted)
			if plain, err := url.PathUnescape(seg); err == nil {
				add(plain, Redacted)
			}
		}
		if u.User != nil {
			add(u.User.Username(), Redacted)
			if p, ok := u.User.Password(); ok {
				add(p, Redacted)
			}
		}
	}
	for _, s := range secrets {
		add(s, Redacted)
		// "Bearer <token>", "Basic <credentials>", "GenieKey <key>": the
		// far end may echo the credential without its scheme.
		if _, cred, ok := strings.Cut(strings.TrimSpace(s), " "); ok {
			add(strings.TrimSpace(cred), Redacted)
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) > len(keys[j])
		}
		return keys[i] < keys[j]
	})
	r := &Redactor{}
	for _, k := range keys {
		r.pairs = append(r.pairs, k, seen[k])
	}
	return r
}

// String redacts s: the configured secrets, then every URL left in it.
func (r *Redactor) String(s string) string {
	if r != nil && len(r.pairs) > 0 {
		s = strings.NewReplacer(r.pairs...).Replace(s)
	}
	return URLsIn(s)
}

// Label keeps text from outside (a caller's name, an address, a value
// quoted in an error or a page) on one line and at most 80 bytes (then an
// ellipsis), so it cannot forge log lines or flood a page.
func Label(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}
