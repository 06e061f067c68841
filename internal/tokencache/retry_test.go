package tokencache

import (
	"context"
	"errors"
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

// A Retry-After longer than the backoff (capped by half the usable time left,
// jittered down) is still waited out in full, in the background and then in
// the foreground once no usable token is left; the first call after it goes
// to the network at once.
func TestRetryAfterIsAFloorWhateverTheCapAndJitter(t *testing.T) {
	clk := newFakeClock()
	src := newSource(10 * time.Minute)  // refresh at 5 min, usable until 9 min
	c := newTestCache(t, src, clk, nil) // Rand 0: the jitter's low end
	mustGet(t, c, req)
	clk.Advance(8*time.Minute + 20*time.Second) // 40 s of usable time left: the cap would be 20 s
	src.set(func(s *source) { s.err = retryAfterErr{50 * time.Second} })
	if got := mustGet(t, c, req); got != "tok-1" {
		t.Fatalf("got %q, want the cached token", got)
	}
	waitIdle(t, c)
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d acquisitions, want the one background refresh", n)
	}
	src.set(func(s *source) { s.err = nil })

	clk.Advance(39 * time.Second) // still usable, inside the window
	if got := mustGet(t, c, req); got != "tok-1" {
		t.Fatalf("got %q, want the cached token", got)
	}
	waitIdle(t, c)
	clk.Advance(2 * time.Second) // past usable-until, 9 s left in the window
	for range 3 {
		_, err := c.GetToken(context.Background(), &req)
		var te *ThrottledError
		if !errors.As(err, &te) {
			t.Fatalf("inside the window with no usable token: err = %v, want a ThrottledError", err)
		}
		if te.Left != 9*time.Second || te.RetryAfterDuration() != te.Left {
			t.Fatalf("ThrottledError.Left = %v, want 9s", te.Left)
		}
		if !contains(err.Error(), "9s") {
			t.Fatalf("error text %q does not say how long is left", err)
		}
	}
	// A claims challenge is a request for the key too.
	if _, err := c.GetToken(context.Background(), &Request{TenantID: "tenant", Scopes: req.Scopes, Claims: `{"access_token":{}}`}); !errors.As(err, new(*ThrottledError)) {
		t.Fatalf("claims request inside the window: err = %v, want a ThrottledError", err)
	}
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d acquisitions inside the Retry-After window, want none after the throttled one", n)
	}
	clk.Advance(9 * time.Second) // the window ends
	if got := mustGet(t, c, req); got != "tok-3" {
		t.Fatalf("first call after the window got %q, want a new token", got)
	}
}

// A Retry-After heard by a claims acquisition also holds back the
// background refresh of the key.
func TestClaimsRetryAfterDefersBackgroundRefresh(t *testing.T) {
	clk := newFakeClock()
	src := newSource(time.Hour)
	c := newTestCache(t, src, clk, nil)
	mustGet(t, c, req)
	clk.Advance(50 * time.Minute)
	src.set(func(s *source) { s.err = retryAfterErr{10 * time.Minute} })
	if _, err := c.GetToken(context.Background(), &Request{TenantID: "tenant", Scopes: req.Scopes, Claims: `{"x":1}`}); err == nil {
		t.Fatal("claims request succeeded, want the throttling error")
	}
	src.set(func(s *source) { s.err = nil })
	clk.Advance(6 * time.Minute) // past the refresh time (55 min), 4 min left in the window
	if got := mustGet(t, c, req); got != "tok-1" {
		t.Fatalf("got %q, want the cached token", got)
	}
	waitIdle(t, c)
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d acquisitions, want no background refresh inside the window", n)
	}
	clk.Advance(4 * time.Minute)
	mustGet(t, c, req)
	waitIdle(t, c)
	if n := src.calls.Load(); n != 3 {
		t.Fatalf("%d acquisitions, want the background refresh once the window ended", n)
	}
}

// Callers who joined an acquisition that hung (it ended on a deadline) get a
// fresh one, started once for all of them, rather than the hang's error: the
// endpoint may have recovered long before the hung request gave up.
func TestHungAcquisitionWaitersGetAFreshOne(t *testing.T) {
	src := newSource(time.Hour)
	src.gate = make(chan struct{}) // the endpoint hangs
	src.started = make(chan struct{}, 4)
	c := newTestCache(t, AcquirerFunc(func(ctx context.Context, r Request) (Token, error) {
		// A try timeout shorter than the acquisition's limit.
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		tok, err := src.Acquire(ctx, r)
		if err != nil {
			err = hungErr{err}
		}
		return tok, err
	}), newFakeClock(), nil)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const callers = 10
	type result struct {
		tok string
		err error
	}
	results := make(chan result, callers)
	for range callers {
		go func() {
			tok, err := c.GetToken(ctx, &req)
			results <- result{tok.Token, err}
		}()
	}
	<-src.started
	eventually(t, "all callers to wait", func() bool { return c.Stats().Misses == callers })
	src.set(func(s *source) { s.gate = nil }) // the endpoint recovers; the hung request stays hung
	for range callers {
		r := <-results
		if r.err != nil || r.tok != "tok-2" {
			t.Fatalf("caller got %q, %v; want the fresh acquisition's tok-2", r.tok, r.err)
		}
	}
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d acquisitions, want 2 (the hung one and one fresh one for all callers)", n)
	}
	if st := c.Stats(); st.Misses != callers {
		t.Fatalf("misses = %d, want %d (a caller retrying is not a second miss)", st.Misses, callers)
	}
}

// hungErr marks a failure as a hung request, as sts.RequestError does for a
// try timeout.
type hungErr struct{ error }

func (e hungErr) Hung() bool    { return errors.Is(e.error, context.DeadlineExceeded) }
func (e hungErr) Unwrap() error { return e.error }

// Failures that are answers, and deadlines that are not a hung try (the
// engine's own limit, a developer tool's timeout), are not retried by the
// waiters.
func TestFailedAcquisitionWaitersDoNotRetry(t *testing.T) {
	src := newSource(time.Hour)
	src.err = errors.New("invalid_client")
	c := newTestCache(t, src, newFakeClock(), nil)
	if _, err := c.GetToken(context.Background(), &req); err == nil {
		t.Fatal("want the failure")
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d acquisitions, want 1", n)
	}

	src = newSource(time.Hour)
	src.gate = make(chan struct{}) // never opens
	c = newTestCache(t, src, newFakeClock(), func(o *Options) { o.AcquireTimeout = 50 * time.Millisecond })
	if _, err := c.GetToken(context.Background(), &req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the acquisition limit", err)
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d acquisitions after the engine's own limit, want 1", n)
	}
}

// No cap or jitter brings a backoff under the server's Retry-After.
func TestBackoffNeverUnderRetryAfter(t *testing.T) {
	for failures := 1; failures <= 40; failures++ {
		for _, left := range []time.Duration{0, time.Second, 40 * time.Second, 81 * time.Second, time.Hour, 24 * time.Hour} {
			for _, ra := range []time.Duration{time.Second, 50 * time.Second, 10 * time.Minute, 24 * time.Hour} {
				for _, u := range []float64{0, 0.5, 0.999999} {
					if d := backoff(failures, left, ra, u); d < ra {
						t.Fatalf("backoff(%d, %v, %v, %v) = %v, under the Retry-After", failures, left, ra, u, d)
					}
				}
			}
		}
	}
}
