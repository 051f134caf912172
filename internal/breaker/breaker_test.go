package breaker

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestTripsAtLimitAndRecovers(t *testing.T) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	b := New(NewMemory(), 5, time.Hour, func() time.Time { return now })
	for i := 1; i <= 5; i++ {
		d, err := b.Allow(context.Background(), "t", 1)
		if err != nil || !d.Allowed || d.Count != i {
			t.Fatalf("removal %d: %+v %v", i, d, err)
		}
	}
	d, _ := b.Allow(context.Background(), "t", 1)
	if d.Allowed {
		t.Fatalf("removal 6 allowed: %+v", d)
	}
	if d, _ := b.Allow(context.Background(), "other", 1); !d.Allowed {
		t.Error("another tenant is limited by this one's count")
	}
	now = now.Add(time.Hour)
	if d, _ := b.Allow(context.Background(), "t", 2); !d.Allowed || d.Count != 2 {
		t.Errorf("after the window: %+v", d)
	}
}

func TestConcurrentReservationsNeverExceed(t *testing.T) {
	now := time.Now()
	b := New(NewMemory(), 5, time.Hour, func() time.Time { return now })
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if d, _ := b.Allow(context.Background(), "t", 1); d.Allowed {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 5 {
		t.Fatalf("allowed %d of 100, want 5", allowed)
	}
}

func TestZeroLimitAllowsNothing(t *testing.T) {
	b := New(NewMemory(), 0, time.Hour, time.Now)
	if d, _ := b.Allow(context.Background(), "t", 1); d.Allowed {
		t.Fatal("limit 0 allowed a removal")
	}
}
