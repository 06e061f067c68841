package tokencache

import (
	"testing"
	"time"
)

// The engine marks the acquisitions it makes while a usable token is served
// (one backoff step each), and only those: callers that wait get the
// credential's retry settings.
func TestBackgroundFlagOnlyForRefreshesBehindAUsableToken(t *testing.T) {
	clk := newFakeClock()
	src := newSource(time.Hour)
	c := newTestCache(t, src, clk, nil)
	mustGet(t, c, Request{TenantID: "tenant", Scopes: []string{"api://demo/.default"}, Background: true})
	if r := src.lastRequest(); r.Background {
		t.Fatalf("a caller's miss reached the source with Background set")
	}
	clk.Advance(56 * time.Minute) // past the refresh time, still usable
	mustGet(t, c, req)
	waitIdle(t, c)
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d acquisitions, want 2", n)
	}
	if r := src.lastRequest(); !r.Background {
		t.Fatalf("a background refresh reached the source without Background")
	}
	clk.Advance(time.Hour) // nothing usable: the caller waits
	mustGet(t, c, req)
	if r := src.lastRequest(); r.Background {
		t.Fatalf("an acquisition a caller waits on reached the source with Background set")
	}
}
