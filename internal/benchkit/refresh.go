package benchkit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/azid-go/azid/entratest"
)

const (
	// refreshIn is the refresh_in the emulator sends in the refresh and
	// outage workloads: the refresh time comes one second after issue
	// instead of half an hour, so a benchmark can cross it.
	refreshIn = time.Second
	// slowCall is the latency above which a call counts as slow in
	// RefreshBoundary: far above any hit, far below a round trip.
	slowCall = time.Millisecond
	// boundaryCallers, boundaryWindow and boundaryPause shape
	// RefreshBoundary's callers.
	boundaryCallers = 4
	boundaryWindow  = 2500 * time.Millisecond
	boundaryPause   = 100 * time.Microsecond
	// shortLivedCalls is how many calls one ShortLived iteration makes.
	shortLivedCalls = 1000
	// outageCalls is how many calls one OutagePastRefresh iteration times.
	// Few, because a credential that refreshes synchronously spends its
	// whole retry budget (seconds) on each.
	outageCalls = 5
	// outageWait is how long OutagePastRefresh waits after warming before
	// the outage: past refreshIn plus the engine's jitter (up to a tenth).
	outageWait = 1500 * time.Millisecond
)

// refreshPolicy issues one-hour tokens whose refresh time comes after
// refreshIn.
func refreshPolicy() entratest.TokenPolicy {
	return entratest.TokenPolicy{ExpiresIn: time.Hour, RefreshIn: refreshIn}
}

// RefreshBoundary warms one token whose refresh_in is 1 s, then runs 4
// callers, each calling GetToken every 100 µs for 2.5 s, against a token
// endpoint with 20 ms latency: the window crosses the refresh time at 1 s
// (and the next token's at about 2 s). It reports slow-calls/op (calls
// slower than 1 ms: callers a refresh made wait; target 0), calls/op, and
// token-requests/op (refreshes during the window; 0 would mean the boundary
// was never crossed and slow-calls proves nothing). ns/op is the window.
//
// The callers pause between calls, as a busy service does, so that the
// count measures waiting rather than the scheduler preempting four spinning
// goroutines on two cores.
func RefreshBoundary(b *testing.B, f Factory) {
	srv := newServer(b, &entratest.Options{Token: refreshPolicy()})
	srv.SetFault(entratest.EndpointToken, entratest.Fault{Latency: endpointLatency})
	req := tokenRequest(warmScope)
	var slow, calls atomic.Int64
	requests := 0
	for b.Loop() {
		cred := f(srv, Options{})
		mustGetToken(b, cred, req)
		before := srv.Requests(entratest.EndpointToken)
		end := time.Now().Add(boundaryWindow)
		var wg sync.WaitGroup
		for range boundaryCallers {
			wg.Go(func() {
				ctx := context.Background()
				for time.Now().Before(end) {
					t0 := time.Now()
					_, err := cred.GetToken(ctx, req)
					if time.Since(t0) > slowCall {
						slow.Add(1)
					}
					calls.Add(1)
					if err != nil {
						b.Error(err)
						return
					}
					time.Sleep(boundaryPause)
				}
			})
		}
		wg.Wait()
		requests += srv.Requests(entratest.EndpointToken) - before
	}
	b.ReportMetric(float64(slow.Load())/float64(b.N), "slow-calls/op")
	b.ReportMetric(float64(calls.Load())/float64(b.N), "calls/op")
	b.ReportMetric(float64(requests)/float64(b.N), "token-requests/op")
}

// ShortLived makes 1,000 calls in a row for one scope on a new credential,
// with the emulator issuing 5-minute tokens (expires_in=300, as some
// resources and managed identity sources do). One op is the 1,000 calls;
// it reports token-requests/op. The target is at most one request per
// refresh period, here 1 per op. A cache that considers a token expired 5
// minutes before its expiry never caches these: 1,000 per op.
func ShortLived(b *testing.B, f Factory) {
	srv := newServer(b, &entratest.Options{Token: entratest.TokenPolicy{ExpiresIn: 300 * time.Second}})
	req := tokenRequest(warmScope)
	ctx := context.Background()
	requests := 0
	for b.Loop() {
		cred := f(srv, Options{})
		before := srv.Requests(entratest.EndpointToken)
		for range shortLivedCalls {
			if _, err := cred.GetToken(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
		requests += srv.Requests(entratest.EndpointToken) - before
	}
	b.ReportMetric(float64(requests)/float64(b.N), "token-requests/op")
}

// OutagePastRefresh warms a token whose refresh_in is 1 s, waits 1.5 s so
// the refresh time has passed, switches on a full Entra outage (every
// endpoint answers 503), and times 5 calls in a row. Credentials keep
// azcore's default retry policy: that is what users get. It reports the
// calls' call-p50-ms and call-max-ms and errors/op (calls that failed, out
// of 5). A cache that serves the still-valid token while refreshing in the
// background answers in microseconds without error; one that refreshes
// synchronously waits out its retries on every call.
//
// ns/op includes the warm-up and the 1.5 s wait, which keeps an iteration
// longer than the default benchtime: with the timer stopped for the wait, a
// fast credential would make the benchmark loop run hundreds of 1.5 s
// iterations.
func OutagePastRefresh(b *testing.B, f Factory) {
	srv := newServer(b, &entratest.Options{Token: refreshPolicy()})
	req := tokenRequest(warmScope)
	ctx := context.Background()
	lat := NewLatencies()
	var longest time.Duration
	errs := 0
	for b.Loop() {
		srv.SetOutage(false)
		cred := f(srv, Options{})
		mustGetToken(b, cred, req)
		time.Sleep(outageWait)
		srv.SetOutage(true)
		for range outageCalls {
			t0 := time.Now()
			_, err := cred.GetToken(ctx, req)
			d := time.Since(t0)
			lat.Add(d)
			longest = max(longest, d)
			if err != nil {
				errs++
			}
		}
	}
	srv.SetOutage(false)
	b.ReportMetric(float64(lat.Percentile(0.5))/1e6, "call-p50-ms")
	b.ReportMetric(float64(longest)/1e6, "call-max-ms")
	b.ReportMetric(float64(errs)/float64(b.N), "errors/op")
}
