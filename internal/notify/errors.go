package notify

import (
	"errors"
	"fmt"
	"time"
)

// Failures are classified once, where they happen (PostJSON for webhooks,
// the Graph adapter for mail), and the retry loop only asks two questions:
// is it worth trying again (IsPermanent), and did the far end say when
// (RetryAfter).

// ThrottledError is a send refused because the far end wants us to slow
// down (HTTP 429, or 503 with Retry-After). The Graph adapter should return
// one (or wrap one) when sendMail is throttled.
type ThrottledError struct {
	// After is how long the far end asked us to wait; zero when it did not
	// say, and the retry loop then uses its own backoff.
	After time.Duration
	Err   error
}

func (e *ThrottledError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("throttled (retry after %s): %v", e.After, e.Err)
	}
	return fmt.Sprintf("throttled: %v", e.Err)
}

func (e *ThrottledError) Unwrap() error { return e.Err }

// Permanent marks err as a failure that trying again cannot fix: a 4xx
// other than 408 and 429, a webhook that no longer exists, a payload the far
// end refuses, an invalid address. The Graph adapter should mark 400, 401,
// 403 and 404 from sendMail this way.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var pe *permanentError
	if errors.As(err, &pe) {
		return true
	}
	var re *redactedError
	return errors.As(err, &re) && re.permanent
}

// RetryAfter returns the delay the far end asked for, if err is (or wraps) a
// ThrottledError that carries one.
func RetryAfter(err error) (time.Duration, bool) {
	var te *ThrottledError
	if errors.As(err, &te) {
		return te.After, te.After > 0
	}
	var re *redactedError
	if errors.As(err, &re) && re.throttled {
		return re.retryAfter, re.retryAfter > 0
	}
	return 0, false
}
