package notify

import (
	"errors"
	"time"

	"github.com/spresponder/spresponder/internal/directory"
)

// Failures are classified once, where they happen (PostJSON for webhooks,
// the Graph adapter for mail and owners), in the directory package's one
// taxonomy, and the retry loop only asks two questions: is it worth trying
// again (IsPermanent), and did the far end say when (RetryAfter).

// Permanent marks err as a failure that trying again cannot fix
// (directory.ErrRejected): a 4xx other than 408 and 429, a webhook that no
// longer exists, a payload the far end refuses, an invalid address.
func Permanent(err error) error { return directory.Mark(err, directory.ErrRejected) }

// IsPermanent reports whether trying err again cannot help.
func IsPermanent(err error) bool {
	if directory.Permanent(err) {
		return true
	}
	var re *redactedError
	return errors.As(err, &re) && re.permanent
}

// RetryAfter returns the delay the far end asked for, if err is (or wraps) a
// directory.ThrottledError that carries one.
func RetryAfter(err error) (time.Duration, bool) {
	var te *directory.ThrottledError
	if errors.As(err, &te) {
		return te.RetryAfter, te.RetryAfter > 0
	}
	var re *redactedError
	if errors.As(err, &re) && re.throttled {
		return re.retryAfter, re.retryAfter > 0
	}
	return 0, false
}
