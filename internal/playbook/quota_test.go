package playbook_test

import (
	"context"
	"strings"
	"testing"

	"github.com/spresponder/spresponder/internal/budget"
	"github.com/spresponder/spresponder/internal/incident"
)

// TestQuotaDoesNotSpendAttempts: an incident whose reads were not sent
// because the tenant's request budget was spoken for (a storm) is parked
// for when its turn comes, and that does not count towards MaxAttempts:
// waiting for the quota is not Graph failing, and a storm of incidents must
// not end as needsHuman pages. On the code before the fix the second
// refused run gave up ("gave up after 2 attempts").
func TestQuotaDoesNotSpendAttempts(t *testing.T) {
	h := newHarness(t, func(h *harness) {
		h.cfg.MaxAttempts = 2
		// One request back to back, the next one in 1000 s: past any
		// run's deadline, so the budget refuses it at once, unsent.
		h.budget = budget.New(budget.Config{Rate: 0.001, Burst: 1}, nil, nil)
	})
	in := h.only(h.handle(leak(tfApp, tfSP, tfLeak, tfSecret)))
	for run := 0; run < 4; run++ {
		if in.State != incident.StateParked {
			t.Fatalf("run %d: state %s, want parked; history %+v", run, in.State, in.History)
		}
		if in.Attempts != 0 {
			t.Fatalf("run %d: %d attempts counted for reads the budget never sent", run, in.Attempts)
		}
		last := in.History[len(in.History)-1]
		if !strings.Contains(last.Detail, "queued") {
			t.Fatalf("run %d: the parking does not say the reads were queued: %+v", run, last)
		}
		got, err := h.r.Run(context.Background(), in.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		in = got
	}
	if len(h.writes()) != 0 {
		t.Fatalf("writes without verification: %+v", h.writes())
	}
}
