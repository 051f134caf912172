package setup

import (
	"context"
)

// UseProbe is what one source of the use of a leaked credential answered
// to a probe (internal/usage: the hub's retained events, a Log Analytics
// workspace).
type UseProbe struct {
	Source     string // "Log Analytics workspace ...", "event hub ..."
	Setting    string // the setting that turns it on
	Configured bool
	// Read says what the probe read; Err why it could not; Permission the
	// role to grant when the source refused.
	Read       string
	Err        error
	Permission string
}

// use reports each source of the use: never required (a responder without
// one still contains; its incidents say "use unknown"), but a source that
// is configured and refuses is missing something.
func (c *Checker) use(ctx context.Context) []Result {
	if c.Use == nil {
		return nil
	}
	var out []Result
	for _, p := range c.Use(ctx) {
		r := Result{Check: "use: " + p.Source}
		switch {
		case !p.Configured:
			r.Status, r.Detail = OK, "not configured: the use of a leaked credential is not read from it ("+p.Setting+")"
		case p.Err != nil && p.Permission != "":
			r.Status, r.Detail, r.Fix = Missing, "refused: permission "+p.Permission+" missing", "give the managed identity "+p.Permission
		case p.Err != nil:
			r.Status, r.Detail = Cannot, "not read: "+p.Err.Error()
		default:
			r.Status, r.Detail = OK, "readable: "+p.Read
		}
		out = append(out, r)
	}
	return out
}
