package tokencache

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowSource answers after a fixed latency, like a token endpoint.
func slowSource(latency time.Duration, lifetime, refreshIn time.Duration, calls *atomic.Int64) Acquirer {
	return AcquirerFunc(func(ctx context.Context, r Request) (Token, error) {
		n := calls.Add(1)
		select {
		case <-time.After(latency):
		case <-ctx.Done():
			return Token{}, ctx.Err()
		}
		return Token{AccessToken: fmt.Sprintf("tok-%d", n), ExpiresIn: lifetime, RefreshIn: refreshIn}, nil
	})
}

func BenchmarkHit(b *testing.B) {
	c := New(newSource(time.Hour), Options{})
	mustGet(b, c, req)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.GetToken(ctx, &req)
	}
}

func BenchmarkHitParallel(b *testing.B) {
	c := New(newSource(time.Hour), Options{})
	mustGet(b, c, req)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			c.GetToken(ctx, &req)
		}
	})
}

// BenchmarkHitFreshStrings is BenchmarkHit with the tenant and scope
// strings built anew for every call, so that no address is ever reused (a
// credential or a request per incoming call); building them is timed too,
// and is the only allocation.
func BenchmarkHitFreshStrings(b *testing.B) {
	c := New(newSource(time.Hour), Options{})
	mustGet(b, c, req)
	tenant, scope := []byte(req.TenantID), []byte(req.Scopes[0])
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r := Request{TenantID: string(tenant), Scopes: []string{string(scope)}}
		c.GetToken(ctx, &r)
	}
}

// BenchmarkHitEntries hits one key of a cache holding n; the lookup is O(1),
// so the figure should not grow with n.
func BenchmarkHitEntries(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			c := New(newSource(time.Hour), Options{MaxEntries: 2 * n})
			for i := range n {
				mustGet(b, c, scopeReq(i))
			}
			r := scopeReq(n / 2)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				c.GetToken(ctx, &r)
			}
		})
	}
}

// BenchmarkColdHerd starts 100 callers at once on an empty cache, against a
// token source with 20 ms latency, on one key or 100 distinct keys. It
// reports acquisitions and caller latency percentiles per herd.
func BenchmarkColdHerd(b *testing.B) {
	for _, distinct := range []bool{false, true} {
		name := "one-key"
		if distinct {
			name = "distinct-keys"
		}
		b.Run(name, func(b *testing.B) {
			const callers = 100
			var lat []time.Duration
			var calls atomic.Int64
			for b.Loop() {
				c := New(slowSource(20*time.Millisecond, time.Hour, 0, &calls), Options{})
				lat = append(lat, herd(b, c, callers, distinct)...)
			}
			b.ReportMetric(float64(calls.Load())/float64(b.N), "token-requests/op")
			reportPercentiles(b, lat)
		})
	}
}

func herd(b *testing.B, c *Cache, callers int, distinct bool) []time.Duration {
	lat := make([]time.Duration, callers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range callers {
		done.Add(1)
		r := req
		if distinct {
			r = scopeReq(i)
		}
		go func() {
			defer done.Done()
			start.Wait()
			t0 := time.Now()
			if _, err := c.GetToken(context.Background(), &r); err != nil {
				b.Error(err)
			}
			lat[i] = time.Since(t0)
		}()
	}
	start.Done()
	done.Wait()
	return lat
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}

// BenchmarkHitDuringMiss hits key B while key A's acquisition is in flight.
func BenchmarkHitDuringMiss(b *testing.B) {
	gate := make(chan struct{})
	defer close(gate)
	src := AcquirerFunc(func(ctx context.Context, r Request) (Token, error) {
		if r.Scopes[0] == "a" {
			<-gate
		}
		return Token{AccessToken: "t", ExpiresIn: time.Hour}, nil
	})
	c := New(src, Options{})
	rb := Request{TenantID: "t", Scopes: []string{"b"}}
	mustGet(b, c, rb)
	go c.GetToken(context.Background(), &Request{TenantID: "t", Scopes: []string{"a"}})
	for c.Stats().Misses < 2 {
		time.Sleep(time.Millisecond)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.GetToken(ctx, &rb)
	}
}

// BenchmarkRefreshBoundary runs 4 callers across a token's refresh time
// (refresh_in 100 ms, source latency 20 ms) for 300 ms per iteration and
// counts calls slower than 1 ms: the callers a refresh made wait. Callers
// pause 100 µs between calls, as a busy service would, so that the count
// measures waiting rather than the scheduler preempting four spinning
// goroutines on two cores.
func BenchmarkRefreshBoundary(b *testing.B) {
	var slow, total, calls atomic.Int64
	for b.Loop() {
		c := New(slowSource(20*time.Millisecond, time.Hour, 100*time.Millisecond, &calls), Options{})
		mustGet(b, c, req)
		end := time.Now().Add(300 * time.Millisecond)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(end) {
					t0 := time.Now()
					c.GetToken(context.Background(), &req)
					if time.Since(t0) > time.Millisecond {
						slow.Add(1)
					}
					total.Add(1)
					time.Sleep(100 * time.Microsecond)
				}
			}()
		}
		wg.Wait()
		if c.Stats().BackgroundRefreshes == 0 {
			b.Fatal("no refresh happened within the window")
		}
	}
	b.ReportMetric(float64(slow.Load())/float64(b.N), "slow-calls/op")
	b.ReportMetric(float64(total.Load())/float64(b.N), "calls/op")
	b.ReportMetric(float64(calls.Load())/float64(b.N), "token-requests/op")
}
