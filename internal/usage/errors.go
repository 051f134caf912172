package usage

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/spresponder/spresponder/internal/redact"
)

// ErrCapped says a source holds more than its cap (events, bytes or rows):
// the sign-ins found are the first ones, not all.
var ErrCapped = errors.New("capped")

// cappedError carries what the cap was, for the person reading the use.
type cappedError struct {
	detail string
	err    error
}

func (e *cappedError) Error() string { return e.detail + ": " + e.err.Error() }
func (e *cappedError) Unwrap() []error {
	return []error{ErrCapped, e.err}
}

func capped(detail string, err error) error { return &cappedError{detail: detail, err: err} }

func capDetail(err error) string {
	var c *cappedError
	if errors.As(err, &c) {
		return c.detail
	}
	return "cap reached"
}

// shortReason words an error for a person without its URLs: the HTTP
// status and service code of a response error, else the error with every
// URL reduced to scheme and host.
func shortReason(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		s := fmt.Sprintf("HTTP %d %s", re.StatusCode, http.StatusText(re.StatusCode))
		if re.ErrorCode != "" {
			s += ", " + re.ErrorCode
		}
		return s
	}
	msg := redact.URLsIn(err.Error())
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return strings.TrimSpace(msg)
}
