package tokencache

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestClearDropsEveryEntry(t *testing.T) {
	src := newSource(time.Hour)
	c := newTestCache(t, src, newFakeClock(), nil)
	other := Request{TenantID: "tenant", Scopes: []string{"api://other/.default"}}
	if got := mustGet(t, c, req); got != "tok-1" {
		t.Fatalf("first token %q", got)
	}
	mustGet(t, c, other)
	if got := mustGet(t, c, req); got != "tok-1" {
		t.Fatalf("expected a hit, got %q", got)
	}
	if n := c.Clear(); n != 2 {
		t.Fatalf("Clear dropped %d entries, want 2", n)
	}
	if st := c.Stats(); st.Entries != 0 || st.Cleared != 2 {
		t.Fatalf("after Clear: %+v", st)
	}
	if got := mustGet(t, c, req); got != "tok-3" {
		t.Fatalf("after Clear got %q, want a new acquisition (tok-3)", got)
	}
	if n := c.Clear(); n != 1 {
		t.Fatalf("second Clear dropped %d, want 1", n)
	}
	if n := c.Clear(); n != 0 {
		t.Fatalf("Clear of an empty cache dropped %d", n)
	}
	if st := c.Stats(); st.Cleared != 3 {
		t.Errorf("Cleared = %d after three Clears, want 3", st.Cleared)
	}
}

// A token acquired before Clear but landing after it reaches the callers
// that waited for it, and nobody else.
func TestClearDuringFlight(t *testing.T) {
	src := newSource(time.Hour)
	gate := make(chan struct{})
	started := make(chan struct{}, 4)
	src.gate, src.started = gate, started
	c := newTestCache(t, src, newFakeClock(), nil)

	done := make(chan string)
	go func() { done <- mustGet(t, c, req) }()
	<-started
	c.Clear()
	src.set(func(s *source) { s.gate = nil })
	close(gate)
	if got := <-done; got != "tok-1" {
		t.Fatalf("the waiter got %q, want tok-1", got)
	}
	if got := mustGet(t, c, req); got != "tok-2" {
		t.Fatalf("a caller after Clear got %q; the pre-Clear token must not be served", got)
	}
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d acquisitions, want 2", n)
	}
}

// Clear racing hits and misses: run under -race.
func TestClearConcurrentWithHits(t *testing.T) {
	src := newSource(time.Hour)
	c := newTestCache(t, src, newFakeClock(), nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := req
				if _, err := c.GetToken(ctx, &r); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 200 {
		c.Clear()
	}
	close(stop)
	wg.Wait()
	c.Clear()
	before := src.calls.Load()
	mustGet(t, c, req)
	if src.calls.Load() != before+1 {
		t.Fatal("the first call after the last Clear was not a miss")
	}
}
