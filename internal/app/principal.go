package app

import (
	"cmp"
	"strings"
)

// principal is a signed-in person as App Service Authentication names them.
type principal struct{ name, id string }

// header reads a platform header, whatever its casing.
func header(headers map[string][]string, name string) string {
	for k, v := range headers {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
	}
	return ""
}

// signedIn returns the person App Service Authentication signed in. The
// platform sets X-MS-CLIENT-PRINCIPAL-NAME / -ID and strips them from
// outside requests only when it is on (WEBSITE_AUTH_ENABLED): otherwise
// anyone can send them, and nobody is signed in.
func signedIn(headers map[string][]string, easyAuth bool) (principal, bool) {
	if !easyAuth {
		return principal{}, false
	}
	p := principal{name: header(headers, "X-MS-CLIENT-PRINCIPAL-NAME"), id: header(headers, "X-MS-CLIENT-PRINCIPAL-ID")}
	return p, p.name != "" || p.id != ""
}

// clientAddress is the caller's address as the front end forwarded it.
func clientAddress(headers map[string][]string) string {
	addr := header(headers, "X-Forwarded-For")
	if i := strings.IndexByte(addr, ','); i >= 0 {
		addr = addr[:i]
	}
	return cmp.Or(strings.TrimSpace(addr), "an unknown address")
}
