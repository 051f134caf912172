package act

import (
	"net/url"
	"testing"
)

// FuzzForm: the POSTed form decoder never panics, and what it accepts is a
// small url-encoded form of only t (and the button), each once.
func FuzzForm(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "t=abc.def&confirm=yes")
	f.Add("application/x-www-form-urlencoded; charset=utf-8", "t=a&t=b")
	f.Add("application/json", `{"t":"x"}`)
	f.Add("application/x-www-form-urlencoded", "t=%zz")
	f.Fuzz(func(t *testing.T, ct, body string) {
		tok, err := form(Request{Headers: map[string][]string{"content-type": {ct}}, Body: []byte(body)})
		if err != nil {
			return
		}
		v, perr := url.ParseQuery(body)
		if perr != nil || len(body) > maxFormBytes || v.Get("t") != tok {
			t.Fatalf("accepted %q (%q): token %q", body, ct, tok)
		}
		for k, vs := range v {
			if (k != "t" && k != "confirm") || len(vs) != 1 {
				t.Fatalf("accepted field %q=%q", k, vs)
			}
		}
	})
}
