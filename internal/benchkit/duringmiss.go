package benchkit

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/azid-go/azid/entratest"
)

// missMargin keeps timed hits clear of the end of a miss. A miss's request
// is held by the emulator for endpointLatency from the moment it is counted,
// so a hit started before (seen + endpointLatency − missMargin), where seen
// is when the count was observed, surely starts while the miss is in flight.
const missMargin = 2 * time.Millisecond

// missGap is the pause between one miss's end and the next miss's start. A
// credential that holds a mutex across its network call lets a new miss
// barge in ahead of a hit that was woken when the previous miss released
// the mutex (sync.Mutex favours running goroutines), and the hit would then
// wait for two misses, not one. The gap lets it through first; timed hits
// never start in it.
const missGap = 2 * time.Millisecond

// HitDuringMiss measures hits on a cached scope B while a miss on another
// scope A is in flight: A's token request is held by the emulator for 20 ms,
// and 2 ms after A completes, a miss on a new scope takes its place. Only
// hits that start while an A request is surely held by the emulator are
// timed (the loop pauses its timer in the gaps between misses), so ns/op and
// the reported hit-p50-us and hit-p99-us are the cost of a hit during
// another key's miss. Target: ≤ 10 µs.
//
// A cache that holds a lock across its network call makes B wait for the
// rest of A's request: its figure is milliseconds, and each miss yields one
// timed hit. Each timed hit includes two clock reads (tens of
// nanoseconds). allocs/op is not reported: the in-process emulator and the
// miss allocate while the hits run.
func HitDuringMiss(b *testing.B, f Factory) {
	srv := newServer(b, nil)
	cred := f(srv, Options{})
	hit := tokenRequest("api://hit/.default")
	mustGetToken(b, cred, hit)
	srv.SetFault(entratest.EndpointToken, entratest.Fault{Latency: endpointLatency})

	// deadline is the Unix time (ns) until which a timed hit may start;
	// open signals that a new miss is in flight and deadline moved on.
	var deadline atomic.Int64
	open := make(chan struct{}, 1)
	stop := make(chan struct{})
	driverDone := make(chan struct{})
	var misses atomic.Int64
	go func() {
		defer close(driverDone)
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			m, err := startMiss(srv, cred, k)
			if err != nil {
				b.Error(err)
				return
			}
			deadline.Store(m.seen.Add(endpointLatency - missMargin).UnixNano())
			select {
			case open <- struct{}{}:
			default: // a signal is already pending; the hitter rereads deadline
			}
			if err := <-m.done; err != nil {
				b.Errorf("miss %d: %v", k, err)
				return
			}
			misses.Add(1)
			time.Sleep(missGap)
		}
	}()
	defer func() {
		close(stop)
		<-driverDone // the last miss ends within endpointLatency
	}()

	// waitForMiss blocks until a miss is in flight with time left.
	waitForMiss := func() {
		for {
			select {
			case <-open:
			case <-driverDone:
				b.Fatal("the miss driver stopped")
			}
			if time.Now().UnixNano() < deadline.Load() {
				return
			}
		}
	}
	waitForMiss()

	lat := NewLatencies()
	ctx := context.Background()
	for b.Loop() {
		t0 := time.Now()
		if t0.UnixNano() >= deadline.Load() {
			b.StopTimer()
			waitForMiss()
			b.StartTimer()
			t0 = time.Now()
		}
		_, err := cred.GetToken(ctx, hit)
		d := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		lat.Add(d)
	}
	lat.ReportPercentiles(b, "hit-", "us")
	b.ReportMetric(float64(lat.Len())/float64(max(misses.Load(), 1)), "hits/miss")
}

// inFlightMiss is a miss whose token request has reached the emulator.
type inFlightMiss struct {
	seen time.Time    // when its request was seen at the emulator
	done <-chan error // receives GetToken's result
}

// startMiss starts GetToken for a new scope on its own goroutine and returns
// once the emulator has counted its token request: from then on the request
// is held for endpointLatency. Polling the count, rather than trusting that
// the goroutine has started, matters for a credential that takes a lock
// first: the miss is only "in flight" once it holds the lock and has sent.
func startMiss(srv *entratest.Server, cred azcore.TokenCredential, k int) (inFlightMiss, error) {
	before := srv.Requests(entratest.EndpointToken)
	done := make(chan error, 1)
	req := tokenRequest(fmt.Sprintf("api://miss-%d/.default", k))
	go func() {
		_, err := cred.GetToken(context.Background(), req)
		done <- err
	}()
	for srv.Requests(entratest.EndpointToken) == before {
		select {
		case err := <-done:
			return inFlightMiss{}, fmt.Errorf("miss %d ended before its token request reached the emulator (err: %v)", k, err)
		default:
		}
		time.Sleep(20 * time.Microsecond)
	}
	return inFlightMiss{seen: time.Now(), done: done}, nil
}
