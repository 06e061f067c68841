package tokencache

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Put caches a token acquired elsewhere: it is served as a hit, written to
// the store before Put returns, and counted as a put, not as a miss or an
// acquisition.
func TestPut(t *testing.T) {
	store := newMemStore()
	src := newSource(time.Hour)
	c := newTestCache(t, src, newFakeClock(), func(o *Options) { o.Store = store })
	tok, err := c.Put(context.Background(), &Request{TenantID: "Tenant", Scopes: []string{"API://demo/.default"}}, Token{AccessToken: "interactive", ExpiresIn: time.Hour})
	if err != nil || tok.Token != "interactive" {
		t.Fatalf("Put: %q, %v", tok.Token, err)
	}
	if _, saves := store.counts(); saves != 1 {
		t.Fatalf("%d store writes when Put returned, want 1", saves)
	}
	if got := mustGet(t, c, req); got != "interactive" {
		t.Fatalf("after Put got %q", got)
	}
	st := c.Stats()
	if st.Puts != 1 || st.Misses != 0 || st.Acquisitions != 0 || st.Hits != 1 || src.calls.Load() != 0 {
		t.Fatalf("stats = %+v, %d token requests", st, src.calls.Load())
	}
	if _, err := c.Put(context.Background(), &Request{TenantID: "t"}, Token{AccessToken: "x", ExpiresIn: time.Hour}); !errors.Is(err, ErrNoScopes) {
		t.Fatalf("Put without scopes: %v", err)
	}
	if _, err := c.Put(context.Background(), &req, Token{AccessToken: "x"}); !errors.Is(err, ErrEmptyToken) {
		t.Fatalf("Put of an expired token: %v", err)
	}
}

// Put replaces a cached token, and clears the background backoff of a
// failing refresh so the new token's own schedule applies.
func TestPutReplacesCachedToken(t *testing.T) {
	clk := newFakeClock()
	src := newSource(time.Hour)
	c := newTestCache(t, src, clk, nil)
	if got := mustGet(t, c, req); got != "tok-1" {
		t.Fatalf("first token %q", got)
	}
	if _, err := c.Put(context.Background(), &req, Token{AccessToken: "interactive", ExpiresIn: 2 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, c, req); got != "interactive" {
		t.Fatalf("after Put got %q, want the put token", got)
	}
	// An hour on, the first token would be expired; the put one is fresh.
	clk.Advance(time.Hour)
	if got := mustGet(t, c, req); got != "interactive" {
		t.Fatalf("an hour later got %q", got)
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
}

// A caller waiting on an acquisition that then fails still gets a token
// when one was put meanwhile (the silent attempt failed, the sign-in
// succeeded).
func TestPutWhileWaiting(t *testing.T) {
	src := newSource(time.Hour)
	gate := make(chan struct{})
	started := make(chan struct{}, 1)
	src.set(func(s *source) { s.gate, s.started, s.err = gate, started, errors.New("interaction required") })
	c := newTestCache(t, src, newFakeClock(), nil)
	got := make(chan string, 1)
	go func() {
		tok, err := c.GetToken(context.Background(), &req)
		if err != nil {
			t.Error(err)
		}
		got <- tok.Token
	}()
	<-started
	if _, err := c.Put(context.Background(), &req, Token{AccessToken: "interactive", ExpiresIn: time.Hour}); err != nil {
		t.Fatal(err)
	}
	close(gate)
	if tok := <-got; tok != "interactive" {
		t.Fatalf("the waiting caller got %q", tok)
	}
}
