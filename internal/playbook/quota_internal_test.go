package playbook

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/directory"
)

// TestQuotaGraceIsBounded: waiting for the quota spends no attempt only
// for quotaGrace; after it a throttled run counts, so an incident that
// Graph throttles for good still reaches a person.
func TestQuotaGraceIsBounded(t *testing.T) {
	created := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	throttled := fmt.Errorf("verify: %w", &directory.ThrottledError{RetryAfter: 3 * time.Second})
	for _, c := range []struct {
		err  error
		age  time.Duration
		want bool
	}{
		{throttled, time.Minute, true},
		{throttled, quotaGrace - time.Second, true},
		{throttled, quotaGrace, false},
		{directory.Mark(errors.New("503"), directory.ErrTransient), time.Minute, false},
		{directory.Mark(errors.New("403"), directory.ErrForbidden), time.Minute, false},
	} {
		if got := waitingForQuota(c.err, created, created.Add(c.age)); got != c.want {
			t.Errorf("waitingForQuota(%v, age %s) = %t, want %t", c.err, c.age, got, c.want)
		}
	}
}
