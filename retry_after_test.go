package azid

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
	"github.com/azid-go/azid/internal/tokencache"
)

// callerRetry is a caller's retry setting that would stack several requests
// in each step and sleep a 50 s Retry-After inside one (MaxRetryDelay 1 min),
// with delays short enough for a test.
var callerRetry = policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Millisecond, MaxRetryDelay: time.Minute}

func deadlineCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// A Retry-After is a floor in the background and the foreground: the
// background refresh that heard it is not repeated inside the window, callers
// fail at once with a ThrottledError once no usable token is left, and the
// first call after the window gets a token.
func TestRetryAfterIsAFloorEndToEnd(t *testing.T) {
	srv := newEmulator(t, nil)
	clk := newFakeClock()
	cred := newSecretCred(t, srv, func(o *appOptions) { o.clock = clk; o.Retry = callerRetry })
	first, err := cred.GetToken(deadlineCtx(t, 10*time.Second), demoScope)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetFault(entratest.EndpointToken, entratest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 5 * time.Minute})
	clk.Advance(57 * time.Minute) // past the refresh time, 2 min before usable-until
	for range 20 {
		if tok, err := cred.GetToken(deadlineCtx(t, 10*time.Second), demoScope); err != nil || tok.Token != first.Token {
			t.Fatalf("while the token is usable: %v", err)
		}
	}
	eventually(t, "the background refresh to fail", func() bool { return cred.CacheStats().RefreshFailures == 1 })
	if n := srv.Requests(entratest.EndpointToken); n != 2 {
		t.Fatalf("%d token requests, want 2: the background refresh is one request", n)
	}
	// Still usable: served, and no background request inside the window.
	clk.Advance(time.Minute + 59*time.Second)
	if tok, err := cred.GetToken(deadlineCtx(t, 10*time.Second), demoScope); err != nil || tok.Token != first.Token {
		t.Fatalf("near usable-until: %v", err)
	}
	// Past usable-until, inside the window: fail at once, say how long.
	clk.Advance(2 * time.Second)
	for range 20 {
		_, err := cred.GetToken(deadlineCtx(t, 10*time.Second), demoScope)
		var te *tokencache.ThrottledError
		if !errors.As(err, &te) || te.Left <= 0 || te.Left > 3*time.Minute {
			t.Fatalf("inside the window: err = %v, want a ThrottledError with the time left", err)
		}
	}
	claims := demoScope
	claims.Claims = `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`
	if _, err := cred.GetToken(deadlineCtx(t, 10*time.Second), claims); !errors.As(err, new(*tokencache.ThrottledError)) {
		t.Fatalf("claims challenge inside the window: err = %v, want a ThrottledError", err)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 2 {
		t.Fatalf("%d token requests, want none inside the Retry-After window", n)
	}
	srv.ClearFaults()
	clk.Advance(3 * time.Minute) // the window ends
	fresh, err := cred.GetToken(deadlineCtx(t, 10*time.Second), demoScope)
	if err != nil || fresh.Token == first.Token {
		t.Fatalf("first call after the window: %v", err)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 3 {
		t.Fatalf("%d token requests, want 3", n)
	}
}

// With nothing to serve, a long Retry-After is not slept on inside the
// acquisition (azcore would, up to MaxRetryDelay): the caller gets the 429
// at once, and those after it a ThrottledError without a request.
func TestRetryAfterForegroundFailsFast(t *testing.T) {
	srv := newEmulator(t, nil)
	clk := newFakeClock()
	srv.SetFault(entratest.EndpointToken, entratest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 50 * time.Second})
	cred := newSecretCred(t, srv, func(o *appOptions) { o.clock = clk; o.Retry = callerRetry })
	_, err := cred.GetToken(deadlineCtx(t, 10*time.Second), demoScope)
	var afe *AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RetryAfterDuration() != 50*time.Second {
		t.Fatalf("err = %v, want the 429 with its Retry-After", err)
	}
	for range 10 {
		_, err := cred.GetToken(deadlineCtx(t, 10*time.Second), demoScope)
		var te *tokencache.ThrottledError
		if !errors.As(err, &te) || te.Left != 50*time.Second {
			t.Fatalf("inside the window: err = %v, want a ThrottledError with 50s left", err)
		}
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	srv.ClearFaults()
	clk.Advance(50 * time.Second)
	if _, err := cred.GetToken(deadlineCtx(t, 10*time.Second), demoScope); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// While a usable token is served, each backoff step of the background
// refresh is exactly one request, whatever the pipeline's retry settings
// and whatever the fault; a caller with nothing to serve keeps its retries.
func TestOneRequestPerBackoffStep(t *testing.T) {
	faults := map[string]func(*entratest.Server){
		"outage": func(s *entratest.Server) { s.SetOutage(true) },
		"drop":   func(s *entratest.Server) { s.SetFault(entratest.EndpointToken, entratest.Fault{Drop: true}) },
		"503":    func(s *entratest.Server) { s.SetFault(entratest.EndpointToken, entratest.Fault{Status: 503}) },
		"429":    func(s *entratest.Server) { s.SetFault(entratest.EndpointToken, entratest.Fault{Status: 429}) },
		"429 with Retry-After": func(s *entratest.Server) {
			s.SetFault(entratest.EndpointToken, entratest.Fault{Status: 429, RetryAfter: 20 * time.Second})
		},
	}
	for name, fault := range faults {
		t.Run(name, func(t *testing.T) {
			srv := newEmulator(t, nil)
			clk := newFakeClock()
			cred := newSecretCred(t, srv, func(o *appOptions) { o.clock = clk; o.Retry = callerRetry })
			first, err := cred.GetToken(deadlineCtx(t, 10*time.Second), demoScope)
			if err != nil {
				t.Fatal(err)
			}
			fault(srv)
			clk.Advance(57 * time.Minute)
			// Walk to usable-until (59 min) in 5 s steps; every step
			// that starts a refresh must send exactly one request.
			for range 24 {
				before := cred.CacheStats().BackgroundRefreshes
				if tok, err := cred.GetToken(deadlineCtx(t, 10*time.Second), demoScope); err != nil || tok.Token != first.Token {
					t.Fatalf("while usable: %v", err)
				}
				st := cred.CacheStats()
				if st.BackgroundRefreshes != before {
					eventually(t, "the step to fail", func() bool { return cred.CacheStats().RefreshFailures == st.BackgroundRefreshes })
				}
				clk.Advance(5 * time.Second)
			}
			st := cred.CacheStats()
			if st.BackgroundRefreshes < 3 {
				t.Fatalf("%d backoff steps, want several", st.BackgroundRefreshes)
			}
			if n := srv.Requests(entratest.EndpointToken); uint64(n) != 1+st.BackgroundRefreshes {
				t.Fatalf("%d token requests for %d backoff steps, want one per step", n-1, st.BackgroundRefreshes)
			}
			if st.Misses != 1 {
				t.Fatalf("%d misses, want only the first call to wait", st.Misses)
			}
		})
	}
	t.Run("foreground keeps the caller's retries", func(t *testing.T) {
		srv := newEmulator(t, nil)
		srv.SetOutage(true)
		cred := newSecretCred(t, srv, func(o *appOptions) { o.Retry = callerRetry })
		if _, err := cred.GetToken(deadlineCtx(t, 10*time.Second), demoScope); err == nil {
			t.Fatal("want the outage error")
		}
		if n := srv.Requests(entratest.EndpointToken); n != 4 {
			t.Fatalf("%d token requests, want 4 (MaxRetries 3)", n)
		}
	})
}

// A hung endpoint does not hold callers once it recovers: the hung try is
// cut at the default try timeout and the callers waiting on it get a fresh
// request. The second caller arrives after the endpoint recovered and
// succeeds within its 10 s deadline.
func TestHungEndpointRecovers(t *testing.T) {
	srv := newEmulator(t, nil)
	srv.SetFault(entratest.EndpointToken, entratest.Fault{Hang: true})
	cred := newSecretCred(t, srv, func(o *appOptions) { o.Retry = callerRetry })
	if _, err := cred.GetToken(deadlineCtx(t, 500*time.Millisecond), demoScope); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("while hung: err = %v, want the caller's own deadline", err)
	}
	srv.SetFault(entratest.EndpointToken, entratest.Fault{}) // heals new requests; the hung one stays hung
	if _, err := cred.GetToken(deadlineCtx(t, 10*time.Second), demoScope); err != nil {
		t.Fatalf("after the endpoint recovered: %v", err)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 2 {
		t.Fatalf("%d token requests, want 2 (the hung one, then one fresh one)", n)
	}
}

// Managed identity refreshes too send one request per backoff step, though
// IMDS's own retry schedule would send seven; a caller with nothing to serve
// keeps that schedule.
func TestManagedIdentityOneRequestPerBackoffStep(t *testing.T) {
	clk := newFakeClock()
	srv := newMIEmulator(t, &entratest.Options{Now: clk.Now, Token: entratest.TokenPolicy{ExpiresIn: 24 * time.Hour}})
	host := newMIHost(t, srv)
	cred := newMICred(t, host, entratest.EndpointIMDS, func(mt *miTest) { mt.seams.clock = clk })
	first, err := cred.GetToken(deadlineCtx(t, 10*time.Second), vaultScope)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetFault(entratest.EndpointIMDS, entratest.Fault{Status: http.StatusServiceUnavailable})
	clk.Advance(13 * time.Hour) // past half-life
	for range 6 {
		before := cred.CacheStats().BackgroundRefreshes
		if tok, err := cred.GetToken(deadlineCtx(t, 10*time.Second), vaultScope); err != nil || tok.Token != first.Token {
			t.Fatalf("while usable: %v", err)
		}
		st := cred.CacheStats()
		if st.BackgroundRefreshes != before {
			eventually(t, "the step to fail", func() bool { return cred.CacheStats().RefreshFailures == st.BackgroundRefreshes })
		}
		clk.Advance(10 * time.Minute) // longer than any backoff step here
	}
	st := cred.CacheStats()
	if st.BackgroundRefreshes < 3 {
		t.Fatalf("%d backoff steps, want several", st.BackgroundRefreshes)
	}
	if n := srv.Requests(entratest.EndpointIMDS); uint64(n) != 1+st.BackgroundRefreshes {
		t.Fatalf("%d IMDS requests for %d backoff steps, want one per step", n-1, st.BackgroundRefreshes)
	}

	other := newMICred(t, host, entratest.EndpointIMDS, func(mt *miTest) { mt.opts.ID = ClientID("c"); mt.seams.clock = clk })
	before := srv.Requests(entratest.EndpointIMDS)
	if _, err := other.GetToken(deadlineCtx(t, 10*time.Second), vaultScope); err == nil {
		t.Fatal("want the outage error")
	}
	if n := srv.Requests(entratest.EndpointIMDS) - before; n != 7 {
		t.Fatalf("foreground: %d requests, want IMDS's 7", n)
	}
}

// User credentials redeem their refresh token once per backoff step too.
func TestUserCredentialOneRequestPerBackoffStep(t *testing.T) {
	srv := newUserEmulator(t)
	clk := newFakeClock()
	cred := newDeviceCred(t, srv, &approver{srv: srv}, func(o *publicOptions) { o.clock = clk; o.Retry = callerRetry })
	if _, err := cred.Authenticate(deadlineCtx(t, 30*time.Second), &storageScope); err != nil {
		t.Fatal(err)
	}
	first, err := cred.GetToken(deadlineCtx(t, 10*time.Second), storageScope)
	if err != nil {
		t.Fatal(err)
	}
	srv.ResetCounts()
	srv.SetFault(entratest.EndpointToken, entratest.Fault{Status: http.StatusServiceUnavailable})
	clk.Advance(57 * time.Minute)
	steps := 0
	for range 24 {
		before := srv.Requests(entratest.EndpointToken)
		if tok, err := cred.GetToken(deadlineCtx(t, 10*time.Second), storageScope); err != nil || tok.Token != first.Token {
			t.Fatalf("while usable: %v", err)
		}
		eventually(t, "the step to end", func() bool {
			st := cred.client.cache.Stats()
			return st.BackgroundRefreshes == st.RefreshFailures
		})
		if n := srv.Requests(entratest.EndpointToken) - before; n > 1 {
			t.Fatalf("one backoff step sent %d requests, want 1", n)
		} else if n == 1 {
			steps++
		}
		clk.Advance(5 * time.Second)
	}
	if steps < 3 {
		t.Fatalf("%d backoff steps, want several", steps)
	}
}

// A hung managed identity endpoint does not hold callers once it recovers.
func TestManagedIdentityHungEndpointRecovers(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	srv.SetFault(entratest.EndpointAppService, entratest.Fault{Hang: true})
	cred := newMICred(t, host, entratest.EndpointAppService, func(mt *miTest) { mt.opts.Retry.TryTimeout = time.Second })
	if _, err := cred.GetToken(deadlineCtx(t, 200*time.Millisecond), vaultScope); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("while hung: err = %v, want the caller's own deadline", err)
	}
	srv.SetFault(entratest.EndpointAppService, entratest.Fault{})
	if _, err := cred.GetToken(deadlineCtx(t, 10*time.Second), vaultScope); err != nil {
		t.Fatalf("after the endpoint recovered: %v", err)
	}
	if n := srv.Requests(entratest.EndpointAppService); n != 2 {
		t.Fatalf("%d requests, want 2 (the hung one, then one fresh one)", n)
	}
}
