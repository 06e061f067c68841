package tokencache

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestGetTokenCachedSaysWhereTheTokenCameFrom: false for every caller that
// waited for the acquisition (the one that started it and those that joined
// it), true for hits, including past the refresh time while the token is
// still usable, and for a request whose scopes need normalising.
func TestGetTokenCachedSaysWhereTheTokenCameFrom(t *testing.T) {
	src := newSource(time.Hour)
	gate := make(chan struct{})
	src.set(func(s *source) { s.gate = gate })
	clk := newFakeClock()
	c := newTestCache(t, src, clk, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var wg sync.WaitGroup
	results := make(chan bool, 10)
	for range 10 {
		wg.Go(func() {
			r := req
			_, cached, err := c.GetTokenCached(ctx, &r)
			if err != nil {
				t.Error(err)
			}
			results <- cached
		})
	}
	// Let every caller join the one acquisition before it completes.
	for c.Stats().Misses < 10 {
		if ctx.Err() != nil {
			t.Fatal("the callers never all waited for the acquisition")
		}
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	close(results)
	for cached := range results {
		if cached {
			t.Fatal("a caller that waited for the acquisition was told its token came from the cache")
		}
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d acquisitions, want 1", n)
	}

	for _, r := range []Request{req, {TenantID: "TENANT", Scopes: []string{" api://demo/.default "}}} {
		if _, cached, err := c.GetTokenCached(ctx, &r); err != nil || !cached {
			t.Fatalf("hit for %+v: cached=%v, %v", r, cached, err)
		}
	}
	clk.Advance(40 * time.Minute) // past the refresh time, still usable
	r := req
	if _, cached, err := c.GetTokenCached(ctx, &r); err != nil || !cached {
		t.Fatalf("hit past the refresh time: cached=%v, %v", cached, err)
	}
}
