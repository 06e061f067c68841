package benchkit

import (
	"context"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
)

// warmScope is the scope of the warm-hit workloads.
const warmScope = "api://bench/.default"

// WarmHit measures GetToken for a cached, fresh token from one goroutine:
// the cost every Azure SDK call pays before its request. It reports
// allocations; the target is ≤ 100 ns and 0 allocs/op.
func WarmHit(b *testing.B, f Factory) {
	srv := newServer(b, nil)
	cred := f(srv, Options{})
	req := tokenRequest(warmScope)
	mustGetToken(b, cred, req)
	timeHits(b, srv, cred, req)
}

// timeHits times GetToken for a cached scope and checks that none of the
// calls reached the emulator: a hit benchmark that misses measures nothing.
func timeHits(b *testing.B, srv *entratest.Server, cred azcore.TokenCredential, req policy.TokenRequestOptions) {
	ctx := context.Background()
	before := srv.Requests(entratest.EndpointToken)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cred.GetToken(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	checkNoRequests(b, srv, before)
}

// freshRequests is how many copies of the request WarmHitFreshStrings
// cycles through: far more than any per-call-site memo could hold, so no
// lookup is answered by remembering a string's address.
const freshRequests = 4096

// WarmHitFreshStrings is WarmHit where no two calls in a row pass the same
// strings: each request has its own copy of the scope, in the letter case a
// caller might write it ("API://Bench/.default"), as a program that builds
// its scopes per request does. It measures the lookup any call site gets.
// The copies are built before the timed loop, so the loop allocates only
// what the credential does.
func WarmHitFreshStrings(b *testing.B, f Factory) {
	srv := newServer(b, nil)
	cred := f(srv, Options{})
	mustGetToken(b, cred, tokenRequest(warmScope))
	reqs := make([]policy.TokenRequestOptions, freshRequests)
	for i := range reqs {
		scope := warmScope
		if i%2 == 1 {
			scope = "API://Bench/.default"
		}
		reqs[i] = tokenRequest(strings.Clone(scope))
	}
	ctx := context.Background()
	before := srv.Requests(entratest.EndpointToken)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := cred.GetToken(ctx, reqs[i%freshRequests]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	checkNoRequests(b, srv, before)
}

// WarmHitParallel is WarmHit from GOMAXPROCS goroutines at once. ns/op is
// wall time per call across all of them, so a hit path without shared
// writes scales with cores: the target on two cores is ≤ 0.6× WarmHit. A
// mutex or a shared counter on the hit path shows up here as no gain.
func WarmHitParallel(b *testing.B, f Factory) {
	srv := newServer(b, nil)
	cred := f(srv, Options{})
	req := tokenRequest(warmScope)
	mustGetToken(b, cred, req)
	before := srv.Requests(entratest.EndpointToken)
	b.ReportAllocs()
	// RunParallel, unlike b.Loop, does not restart the timer: without this
	// the emulator's start-up (an RSA key, a CA) would count as hits.
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := cred.GetToken(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	checkNoRequests(b, srv, before)
}

// HitIndex is which of n cached scopes HitWithEntries hits: the middle one,
// EntryScope(n/2). A cache that scans its entries in insertion order pays
// for half of them; azidentity (MSAL) ranges over a Go map, whose order is
// randomised on every scan, so it pays for half of them on average whichever
// entry is asked for. Both implementations get the same index.
func HitIndex(n int) int { return n / 2 }

// HitWithEntries returns a workload that caches n distinct scopes, then
// measures hits on EntryScope(HitIndex(n)). The target: with 10,000 entries,
// within 1.5× of the 1-entry figure (the lookup is O(1)). The index is also
// reported as the metric hit-index, so the raw output says what was hit.
//
// Priming runs once per benchmark run, before the timed loop; 10,000
// tokens take the emulator some 10–25 s to sign.
func HitWithEntries(n int) func(b *testing.B, f Factory) {
	return func(b *testing.B, f Factory) {
		srv := newServer(b, nil)
		cred := f(srv, Options{})
		prime(b, cred, n)
		i := HitIndex(n)
		timeHits(b, srv, cred, tokenRequest(EntryScope(i)))
		b.ReportMetric(float64(i), "hit-index")
	}
}
