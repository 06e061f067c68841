package tokencache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestColdHerdOneAcquisition(t *testing.T) {
	src := newSource(time.Hour)
	gate := make(chan struct{})
	src.gate = gate
	c := newTestCache(t, src, newFakeClock(), nil)

	const callers = 100
	var wg sync.WaitGroup
	tokens := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := c.GetToken(context.Background(), &req)
			tokens[i], errs[i] = tok.Token, err
		}()
	}
	// Hold the acquisition until every caller is waiting on it.
	eventually(t, "all callers to wait", func() bool { return c.Stats().Misses == callers })
	close(gate)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || tokens[i] != "tok-1" {
			t.Fatalf("caller %d: %q, %v", i, tokens[i], errs[i])
		}
	}
	st := c.Stats()
	if n := src.calls.Load(); n != 1 || st.Acquisitions != 1 {
		t.Fatalf("%d callers caused %d acquisitions (stats %d), want exactly 1", callers, n, st.Acquisitions)
	}
	if st.Coalesced != callers-1 {
		t.Errorf("coalesced = %d, want %d", st.Coalesced, callers-1)
	}
}

func TestHitsAreCounted(t *testing.T) {
	src := newSource(time.Hour)
	c := newTestCache(t, src, newFakeClock(), nil)
	for range 50 {
		mustGet(t, c, req)
	}
	st := c.Stats()
	if st.Hits != 49 || st.Misses != 1 || st.Acquisitions != 1 {
		t.Fatalf("stats = %+v, want 49 hits, 1 miss, 1 acquisition", st)
	}
}

func TestHitPathAllocatesNothing(t *testing.T) {
	c := newTestCache(t, newSource(time.Hour), newFakeClock(), nil)
	mustGet(t, c, req)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := c.GetToken(ctx, &req); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("hit path allocates %v times per call, want 0", allocs)
	}
	// Strings built anew for every call (so no address repeats), in the
	// caller's letter case, find the same entry without allocating: the
	// strings are built before the measured calls.
	fresh := make([]Request, 1000+1)
	for i := range fresh {
		fresh[i] = Request{TenantID: string([]byte("Tenant")), Scopes: []string{string([]byte("API://Demo/.default"))}}
	}
	i := 0
	allocs = testing.AllocsPerRun(1000, func() {
		if tok, err := c.GetToken(ctx, &fresh[i]); err != nil || tok.Token != "tok-1" {
			t.Fatalf("%q, %v", tok.Token, err)
		}
		i++
	})
	if allocs != 0 {
		t.Fatalf("hit path with fresh mixed-case strings allocates %v times per call, want 0", allocs)
	}
}

// From the refresh time on, callers get the cached token at once while one
// background acquisition runs; when it lands, callers get the new token.
func TestCallersAcrossRefreshTimeNeverWait(t *testing.T) {
	clk := newFakeClock()
	src := newSource(time.Hour)
	c := newTestCache(t, src, clk, nil)
	if got := mustGet(t, c, req); got != "tok-1" {
		t.Fatalf("first token %q", got)
	}
	gate := make(chan struct{})
	src.set(func(s *source) { s.gate = gate })
	clk.Advance(56 * time.Minute) // past the refresh time (55 min), before usable-until (59 min)

	// The refresh is blocked on the gate, so any caller that waited for it
	// would block here forever; none does.
	for i := range 1000 {
		if got := mustGet(t, c, req); got != "tok-1" {
			t.Fatalf("call %d during refresh got %q, want the cached tok-1", i, got)
		}
	}
	if st := c.Stats(); st.Misses != 1 || st.BackgroundRefreshes != 1 {
		t.Fatalf("stats during refresh = %+v, want 1 miss (the first call) and 1 background refresh", st)
	}
	close(gate)
	eventually(t, "the refreshed token", func() bool { return mustGet(t, c, req) == "tok-2" })
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d acquisitions, want 2", n)
	}
}

func TestProactiveRefreshHonoursRefreshIn(t *testing.T) {
	clk := newFakeClock()
	src := newSource(time.Hour)
	src.refreshIn = 10 * time.Minute
	c := newTestCache(t, src, clk, nil)
	tok, err := c.GetToken(context.Background(), &req)
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.Now().Add(10 * time.Minute); !tok.RefreshOn.Equal(want) {
		t.Errorf("RefreshOn = %v, want %v", tok.RefreshOn, want)
	}
	clk.Advance(9 * time.Minute)
	mustGet(t, c, req)
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("refreshed before refresh_in: %d acquisitions", n)
	}
	clk.Advance(2 * time.Minute)
	mustGet(t, c, req)
	eventually(t, "background refresh", func() bool { return src.calls.Load() == 2 })
}

// A five-minute token is cached: at most one acquisition per refresh period
// (half its life), not one per call.
func TestShortLivedTokenIsCached(t *testing.T) {
	clk := newFakeClock()
	src := newSource(300 * time.Second)
	c := newTestCache(t, src, clk, nil)
	for range 300 { // ten simulated minutes, a call every two seconds
		mustGet(t, c, req)
		waitIdle(t, c) // let a background refresh land before the clock moves on
		clk.Advance(2 * time.Second)
	}
	// 600 s with a 150 s refresh period: the first acquisition and four refreshes.
	if n := src.calls.Load(); n < 4 || n > 5 {
		t.Fatalf("%d acquisitions over 600 s of 5-minute tokens, want 4–5", n)
	}
	if st := c.Stats(); st.Misses != 1 {
		t.Fatalf("%d calls waited, want only the first", st.Misses)
	}
}

// When the background refresh fails, the cached token keeps being served
// until its usable time ends; then callers get the error.
func TestOutageServesUntilUsableUntil(t *testing.T) {
	clk := newFakeClock()
	src := newSource(time.Hour)
	c := newTestCache(t, src, clk, func(o *Options) { o.Rand = func() float64 { return 0.5 } })
	mustGet(t, c, req)
	outage := errors.New("entra is down")
	src.set(func(s *source) { s.err = outage })

	clk.Advance(56 * time.Minute)
	// Walk to one second before usable-until (59 min) in 10 s steps.
	for clk.Now().Add(10*time.Second).UnixNano() < c.lookup(&req).state.Load().usableUntil {
		if got := mustGet(t, c, req); got != "tok-1" {
			t.Fatalf("during the outage got %q, want the cached tok-1", got)
		}
		waitIdle(t, c)
		clk.Advance(10 * time.Second)
	}
	st := c.Stats()
	if st.RefreshFailures == 0 || st.Misses != 1 {
		t.Fatalf("stats = %+v: want failed refreshes and no caller waiting", st)
	}
	clk.Advance(time.Minute) // past usable-until
	_, err := c.GetToken(context.Background(), &req)
	if !errors.Is(err, outage) {
		t.Fatalf("past usable-until: err = %v, want the outage error", err)
	}
	// The outage ends: the next call gets a new token.
	src.set(func(s *source) { s.err = nil })
	if got := mustGet(t, c, req); got == "tok-1" {
		t.Fatalf("after the outage got the expired token")
	}
}

// waitIdle waits until no acquisition is in flight for req.
func waitIdle(t *testing.T, c *Cache) {
	t.Helper()
	eventually(t, "no acquisition in flight", func() bool {
		e := c.lookup(&req)
		if e == nil {
			return true
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.flights[""] == nil
	})
}

// Background retries back off: 30 s, 60 s, 120 s… and never sooner than a
// server's Retry-After.
func TestBackoffSchedule(t *testing.T) {
	clk := newFakeClock()
	src := newSource(24 * time.Hour) // refresh at 12 h, plenty of usable time
	c := newTestCache(t, src, clk, func(o *Options) { o.Rand = func() float64 { return 0.5 } })
	mustGet(t, c, req)
	src.set(func(s *source) { s.err = errors.New("down") })
	clk.Advance(12*time.Hour + 5*time.Minute) // past the refresh time and its jitter

	attemptsAfter := func(d time.Duration) int64 {
		clk.Advance(d)
		mustGet(t, c, req)
		waitIdle(t, c)
		return src.calls.Load()
	}
	if n := attemptsAfter(0); n != 2 {
		t.Fatalf("refresh time reached: %d acquisitions, want 2", n)
	}
	for i, wait := range []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute} {
		before := src.calls.Load()
		if n := attemptsAfter(wait - time.Second); n != before {
			t.Fatalf("retry %d came before its %v backoff", i+1, wait)
		}
		if n := attemptsAfter(time.Second); n != before+1 {
			t.Fatalf("retry %d did not come after its %v backoff", i+1, wait)
		}
	}

	// A Retry-After of 1 h overrides the next backoff (8 min).
	src.set(func(s *source) { s.err = retryAfterErr{time.Hour} })
	attemptsAfter(8 * time.Minute) // this attempt fails with Retry-After
	before := src.calls.Load()
	if n := attemptsAfter(59 * time.Minute); n != before {
		t.Fatalf("retried before Retry-After")
	}
	if n := attemptsAfter(2 * time.Minute); n != before+1 {
		t.Fatalf("did not retry after Retry-After")
	}
}

// Past usable-until, a Retry-After from the last failure makes calls fail at
// once with a ThrottledError instead of reaching the service.
func TestRetryAfterFailsFastWhenNoTokenIsUsable(t *testing.T) {
	clk := newFakeClock()
	src := newSource(time.Hour)
	src.err = retryAfterErr{2 * time.Minute}
	c := newTestCache(t, src, clk, nil)
	_, err := c.GetToken(context.Background(), &req)
	var ra RetryAfterError
	if !errors.As(err, &ra) {
		t.Fatalf("first call: %v", err)
	}
	_, err = c.GetToken(context.Background(), &req)
	var te *ThrottledError
	if !errors.As(err, &te) || !errors.As(err, &ra) {
		t.Fatalf("within Retry-After: err = %v, want a ThrottledError wrapping the cause", err)
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d acquisitions within Retry-After, want 1", n)
	}
	src.set(func(s *source) { s.err = nil })
	clk.Advance(2 * time.Minute)
	if got := mustGet(t, c, req); got != "tok-2" {
		t.Fatalf("after Retry-After got %q", got)
	}
}

func TestClaimsBypassAndReplace(t *testing.T) {
	src := newSource(time.Hour)
	c := newTestCache(t, src, newFakeClock(), nil)
	mustGet(t, c, req)
	withClaims := req
	withClaims.Claims = `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`
	if got := mustGet(t, c, withClaims); got != "tok-2" {
		t.Fatalf("claims request got %q, want a fresh token", got)
	}
	if got := src.lastRequest().Claims; got != withClaims.Claims {
		t.Fatalf("claims not passed to the source: %q", got)
	}
	if got := mustGet(t, c, req); got != "tok-2" {
		t.Fatalf("after the claims request got %q, want the token it acquired", got)
	}
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d acquisitions, want 2", n)
	}
}

func TestClaimsRequestsCoalesce(t *testing.T) {
	src := newSource(time.Hour)
	gate := make(chan struct{})
	src.gate = gate
	c := newTestCache(t, src, newFakeClock(), nil)
	r := req
	r.Claims = `{"x":1}`
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); mustGet(t, c, r) }()
	}
	eventually(t, "callers waiting", func() bool { return c.Stats().Misses == 20 })
	close(gate)
	wg.Wait()
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d acquisitions for 20 identical claims requests, want 1", n)
	}
}

func TestInvalidateByValue(t *testing.T) {
	src := newSource(time.Hour)
	c := newTestCache(t, src, newFakeClock(), nil)
	old := mustGet(t, c, req)
	if !c.Invalidate(&req, old) {
		t.Fatal("Invalidate(current token) = false")
	}
	fresh := mustGet(t, c, req)
	if fresh == old {
		t.Fatal("invalidated token served again")
	}
	// A late 401 for the old token must not drop the newer one.
	if c.Invalidate(&req, old) {
		t.Fatal("Invalidate(old token) dropped the newer token")
	}
	if got := mustGet(t, c, req); got != fresh {
		t.Fatalf("got %q, want the newer %q", got, fresh)
	}
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d acquisitions, want 2", n)
	}
	// Equivalent scopes name the same entry.
	r := req
	r.Scopes = []string{"API://demo/.default"}
	if !c.Invalidate(&r, fresh) {
		t.Fatal("Invalidate with equivalent scopes missed the entry")
	}
	if c.Invalidate(&Request{TenantID: "other", Scopes: []string{"x"}}, fresh) {
		t.Fatal("Invalidate of an unknown key reported success")
	}
}

// A burst of 401s for one token causes one re-acquisition.
func TestConcurrentInvalidationsOneRefresh(t *testing.T) {
	src := newSource(time.Hour)
	c := newTestCache(t, src, newFakeClock(), nil)
	old := mustGet(t, c, req)
	var wg sync.WaitGroup
	var dropped atomic.Int32
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.Invalidate(&req, old) {
				dropped.Add(1)
			}
			if got := mustGet(t, c, req); got == old {
				t.Errorf("got the invalidated token")
			}
		}()
	}
	wg.Wait()
	if dropped.Load() != 1 {
		t.Fatalf("%d invalidations succeeded, want 1", dropped.Load())
	}
	if n := src.calls.Load(); n > 3 {
		t.Fatalf("%d acquisitions after a burst of 50 invalidations", n)
	}
}

// A slow acquisition for key A delays neither a hit nor a miss on key B.
func TestSlowMissDoesNotBlockOtherKeys(t *testing.T) {
	gateA := make(chan struct{})
	defer close(gateA)
	src := AcquirerFunc(func(ctx context.Context, r Request) (Token, error) {
		if r.Scopes[0] == "a" {
			<-gateA
		}
		return Token{AccessToken: "tok-" + r.Scopes[0], ExpiresIn: time.Hour}, nil
	})
	c := newTestCache(t, src, newFakeClock(), nil)
	b := Request{TenantID: "t", Scopes: []string{"b"}}
	mustGet(t, c, b)

	go c.GetToken(context.Background(), &Request{TenantID: "t", Scopes: []string{"a"}})
	eventually(t, "A in flight", func() bool { return c.Stats().Misses == 2 })
	// Both complete while A is still held; were they blocked, the test would hang.
	if got := mustGet(t, c, b); got != "tok-b" {
		t.Fatalf("hit on B: %q", got)
	}
	if got := mustGet(t, c, Request{TenantID: "t", Scopes: []string{"c"}}); got != "tok-c" {
		t.Fatalf("miss on C: %q", got)
	}
}

// A waiter whose context ends returns at once; the acquisition carries on
// and its token is cached for the next caller.
func TestWaiterContextEndsAcquisitionContinues(t *testing.T) {
	src := newSource(time.Hour)
	gate := make(chan struct{})
	src.gate = gate
	c := newTestCache(t, src, newFakeClock(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := c.GetToken(ctx, &req)
		done <- err
	}()
	eventually(t, "caller waiting", func() bool { return c.Stats().Misses == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: err = %v, want context.Canceled", err)
	}
	close(gate)
	eventually(t, "token cached", func() bool { return c.Stats().Acquisitions == 1 && c.Stats().AcquisitionFailures == 0 })
	waitIdle(t, c)
	if got := mustGet(t, c, req); got != "tok-1" {
		t.Fatalf("got %q, want the token the abandoned acquisition fetched", got)
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d acquisitions, want 1", n)
	}
}

// Context values reach the source (tracing, logging), cancellation does not.
func TestAcquisitionKeepsValuesNotCancellation(t *testing.T) {
	type ctxKey struct{}
	var sawValue, sawDeadline atomic.Bool
	src := AcquirerFunc(func(ctx context.Context, r Request) (Token, error) {
		sawValue.Store(ctx.Value(ctxKey{}) == "v")
		_, ok := ctx.Deadline()
		sawDeadline.Store(ok)
		return Token{AccessToken: "x", ExpiresIn: time.Hour}, nil
	})
	c := newTestCache(t, src, newFakeClock(), nil)
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	defer cancel()
	if _, err := c.GetToken(ctx, &req); err != nil {
		t.Fatal(err)
	}
	if !sawValue.Load() || !sawDeadline.Load() {
		t.Fatalf("source saw value=%v deadline=%v, want both", sawValue.Load(), sawDeadline.Load())
	}
}

func TestAcquireTimeout(t *testing.T) {
	src := newSource(time.Hour)
	src.gate = make(chan struct{}) // never opens
	c := newTestCache(t, src, newFakeClock(), func(o *Options) { o.AcquireTimeout = 50 * time.Millisecond })
	_, err := c.GetToken(context.Background(), &req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the acquisition's deadline", err)
	}
}

func TestEmptyTokenNotCached(t *testing.T) {
	for _, tok := range []Token{{AccessToken: "", ExpiresIn: time.Hour}, {AccessToken: "x", ExpiresIn: 0}, {AccessToken: "x", ExpiresIn: -time.Second}} {
		var calls atomic.Int32
		c := newTestCache(t, AcquirerFunc(func(context.Context, Request) (Token, error) {
			calls.Add(1)
			return tok, nil
		}), newFakeClock(), nil)
		for range 2 {
			if _, err := c.GetToken(context.Background(), &req); !errors.Is(err, ErrEmptyToken) {
				t.Fatalf("token %+v: err = %v, want ErrEmptyToken", tok, err)
			}
		}
		if calls.Load() != 2 {
			t.Fatalf("token %+v: a bad token was cached", tok)
		}
	}
}

func TestFailureIsNotCached(t *testing.T) {
	src := newSource(time.Hour)
	src.err = errors.New("bad secret")
	c := newTestCache(t, src, newFakeClock(), nil)
	for range 3 {
		if _, err := c.GetToken(context.Background(), &req); err == nil {
			t.Fatal("no error")
		}
	}
	if n := src.calls.Load(); n != 3 {
		t.Fatalf("%d acquisitions for 3 failing calls, want 3 (failures are not cached)", n)
	}
}

func TestLogsHoldNoToken(t *testing.T) {
	var logs safeBuffer
	src := newSource(time.Hour)
	c := newTestCache(t, src, newFakeClock(), func(o *Options) {
		o.Logger = newTextLogger(&logs)
	})
	mustGet(t, c, req)
	src.set(func(s *source) { s.err = errors.New("boom") })
	c.Invalidate(&req, "tok-1")
	c.GetToken(context.Background(), &req)
	if st := c.Stats(); st.Acquisitions != 2 || st.Invalidations != 1 || st.AcquisitionFailures != 1 {
		t.Errorf("stats = %+v", st)
	}
	if contains(logs.String(), "tok-") {
		t.Errorf("log holds a token:\n%s", logs.String())
	}
	for _, want := range []string{"token acquired", "token acquisition failed"} {
		if !contains(logs.String(), want) {
			t.Errorf("log misses %q:\n%s", want, logs.String())
		}
	}
}

func TestSystemClockTracksWallClock(t *testing.T) {
	c := newSystemClock()
	for range 100 {
		before := time.Now().UnixNano()
		got := c.nanos()
		after := time.Now().UnixNano()
		// The offset may be up to one resync period old, but the monotonic
		// and wall clocks agree far better than a millisecond here.
		if got < before-int64(time.Millisecond) || got > after+int64(time.Millisecond) {
			t.Fatalf("clock read %d outside [%d, %d]", got, before, after)
		}
	}
	// A wall-clock jump (here faked by corrupting the offset) is corrected
	// at the next resync.
	c.offset.Add(int64(time.Hour))
	c.lastCheck.Store(-int64(time.Hour))
	if d := c.nanos() - time.Now().UnixNano(); d > int64(time.Millisecond) || d < -int64(time.Millisecond) {
		t.Fatalf("after resync the clock is off by %v", time.Duration(d))
	}
}

// With ExtendToCallerDeadline, the caller that starts an acquisition gives
// it its own deadline when that is further away than AcquireTimeout; a
// nearer deadline, no deadline, or the option off keep AcquireTimeout.
func TestExtendToCallerDeadline(t *testing.T) {
	const limit = time.Minute
	for _, tc := range []struct {
		name   string
		extend bool
		caller time.Duration // 0: no deadline
		// wantAtLeast/wantAtMost bound the acquisition's deadline, from
		// the moment GetToken is called.
		wantAtLeast, wantAtMost time.Duration
	}{
		{"extended", true, 2 * time.Hour, 2*time.Hour - 10*time.Minute, 2 * time.Hour},
		{"nearer deadline", true, time.Second, limit - 10*time.Second, limit},
		{"no deadline", true, 0, limit - 10*time.Second, limit},
		{"option off", false, 2 * time.Hour, limit - 10*time.Second, limit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var deadline atomic.Int64
			c := newTestCache(t, AcquirerFunc(func(ctx context.Context, _ Request) (Token, error) {
				d, ok := ctx.Deadline()
				if !ok {
					return Token{}, errors.New("the acquisition has no deadline")
				}
				deadline.Store(d.UnixNano())
				return Token{AccessToken: "t", ExpiresIn: time.Hour}, nil
			}), newFakeClock(), func(o *Options) { o.AcquireTimeout = limit; o.ExtendToCallerDeadline = tc.extend })
			ctx := context.Background()
			if tc.caller > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.caller)
				defer cancel()
			}
			start := time.Now()
			if _, err := c.GetToken(ctx, &req); err != nil {
				t.Fatal(err)
			}
			// A second of slack above: the engine reads the time after
			// start.
			left := time.Unix(0, deadline.Load()).Sub(start)
			if left < tc.wantAtLeast || left > tc.wantAtMost+time.Second {
				t.Fatalf("the acquisition had %v, want between %v and %v", left, tc.wantAtLeast, tc.wantAtMost)
			}
		})
	}
}
