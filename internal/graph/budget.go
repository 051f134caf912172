package graph

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spresponder/spresponder/internal/budget"
	"github.com/spresponder/spresponder/internal/retry"
)

// The identity protection and Conditional Access requests draw from the
// client's budget (internal/budget) at two points:
//
//   - limited, around a call: the caller waits for its turn before the
//     call's own timeout starts, bounded by the caller's context (an
//     incident run's deadline), so a long queue parks the incident instead
//     of failing its read half-way;
//   - budgetTransport, under the SDK's middleware: every further request of
//     the call (the next page, the SDK's retry after a 429) waits too, and
//     every answer tells the budget whether Graph throttled.
//
// A ticket in the call's context carries the first turn from one to the
// other, so the first request is not charged twice. It is plumbing of this
// file only, not data of the pipeline.
type ticketKey struct{}

// backgroundKey marks work that can wait (Background).
type backgroundKey struct{}

// Background marks ctx's identity protection and Conditional Access
// requests as work that can wait: they take the budget only when it is idle
// (budget.WaitIdle), never ahead of an incident's reads. The Sweep's cache
// refresh and reconcile use it.
func Background(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, true)
}

func (c *Client) wait(ctx context.Context) error {
	if bg, _ := ctx.Value(backgroundKey{}).(bool); bg {
		return c.budget.WaitIdle(ctx)
	}
	return c.budget.Wait(ctx)
}

type ticket struct{ used atomic.Bool }

// limited is call for the identity protection and Conditional Access APIs.
func (c *Client) limited(ctx context.Context, op string, fn func(context.Context) error) error {
	if c.budget == nil {
		return c.call(ctx, op, fn)
	}
	if err := c.wait(ctx); err != nil {
		return Classify(op, err)
	}
	return c.call(context.WithValue(ctx, ticketKey{}, &ticket{}), op, fn)
}

// budgetTransport is the last hop before the network.
type budgetTransport struct {
	next   http.RoundTripper
	budget *budget.Budget
}

func (t budgetTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !limitedPath(req.URL.Path) {
		return t.next.RoundTrip(req)
	}
	tk, _ := req.Context().Value(ticketKey{}).(*ticket)
	if tk == nil || !tk.used.CompareAndSwap(false, true) {
		wait := t.budget.Wait
		if bg, _ := req.Context().Value(backgroundKey{}).(bool); bg {
			wait = t.budget.WaitIdle
		}
		if err := wait(req.Context()); err != nil {
			return nil, err
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		// These APIs send no Retry-After; if one comes, it is obeyed.
		after, _ := retry.ParseAfter(resp.Header.Get("Retry-After"), time.Now())
		t.budget.Throttled(after)
	} else {
		t.budget.Answered()
	}
	return resp, nil
}

// limitedPath: the routes under the tenant's identity protection and
// Conditional Access limit, below the version segment.
func limitedPath(p string) bool {
	return strings.Contains(p, "/identityProtection/") || strings.Contains(p, "/identity/conditionalAccess/")
}
