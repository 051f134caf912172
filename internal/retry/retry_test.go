package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spresponder/spresponder/internal/retry"
)

func TestParseAfter(t *testing.T) {
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"10":                            10 * time.Second,
		" 0 ":                           0,
		"Sun, 29 Nov 2026 08:00:41 GMT": 41 * time.Second,
		"Sun, 29 Nov 2026 07:00:00 GMT": 0, // in the past
	} {
		got, ok := retry.ParseAfter(v, now)
		if !ok || got != want {
			t.Errorf("ParseAfter(%q) = %v %v, want %v", v, got, ok, want)
		}
	}
	for _, bad := range []string{"", "-3", "soon", "1.5"} {
		if _, ok := retry.ParseAfter(bad, now); ok {
			t.Errorf("ParseAfter(%q) accepted", bad)
		}
	}
}

func TestSleepEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := retry.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a cancelled context: %v", err)
	}
	if err := retry.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
