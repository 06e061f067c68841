// Package benchkit defines azid's credential benchmarks once, so that the
// same workloads run against azid (the root package's benchmarks) and, side
// by side, against azidentity (the separate bench module, which alone
// depends on azidentity).
//
// A workload is a benchmark body: it starts its own Entra ID emulator
// (entratest), builds credentials from a [Factory], and reports what the
// issue's targets are about as custom metrics (token requests, caller
// latency percentiles, slow calls) next to ns/op. Every credential talks to
// the emulator over real HTTPS through azcore's default pipeline, retries
// included, because the point is to show what users get.
//
// Workloads that wait on the network (herds, refresh, outage) take seconds
// per iteration; their ns/op is the wall time of one iteration and means
// little on its own. Their custom metrics are the result.
package benchkit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

// Options are what a workload asks of the credential it gets from a
// [Factory], beyond pointing it at the emulator.
type Options struct {
	// AdditionallyAllowedTenants is passed to the credential's option of
	// the same name, for workloads and tests that request tokens for
	// tenants other than entratest.DefaultTenantID.
	AdditionallyAllowedTenants []string
}

// Factory builds a new credential for the emulator's default app
// (entratest.DefaultTenantID, DefaultClientID, DefaultClientSecret) that
// talks to srv, with an empty token cache. Every call must return a new
// instance: the cold workloads rely on that.
//
// A factory panics when the credential cannot be built: that is a bug in the
// benchmark set-up, not a result, and the factory has no *testing.B to fail.
type Factory func(srv *entratest.Server, o Options) azcore.TokenCredential

// Workload is one named benchmark scenario.
type Workload struct {
	// Name is the sub-benchmark name, such as "WarmHit" or
	// "HitWithEntries/n=10000".
	Name string
	// Run is the benchmark body, run against credentials from f.
	Run func(b *testing.B, f Factory)
}

// Workloads returns every workload, in the order BENCHMARKS.md presents
// them. It returns a new slice each time, so callers may reorder or filter
// it.
func Workloads() []Workload {
	ws := []Workload{
		{"WarmHit", WarmHit},
		{"WarmHitFreshStrings", WarmHitFreshStrings},
		{"WarmHitParallel", WarmHitParallel},
	}
	for _, n := range EntryCounts() {
		ws = append(ws, Workload{fmt.Sprintf("HitWithEntries/n=%d", n), HitWithEntries(n)})
	}
	return append(ws,
		Workload{"ColdHerdOneKey", ColdHerdOneKey},
		Workload{"ColdHerdDistinctKeys", ColdHerdDistinctKeys},
		Workload{"HitDuringMiss", HitDuringMiss},
		Workload{"RefreshBoundary", RefreshBoundary},
		Workload{"ShortLived", ShortLived},
		Workload{"OutagePastRefresh", OutagePastRefresh},
	)
}

// EntryCounts are the cache sizes HitWithEntries is run with.
func EntryCounts() []int { return []int{1, 100, 10000} }

// RunAll runs every workload as a sub-benchmark of b against f.
func RunAll(b *testing.B, f Factory) {
	for _, w := range Workloads() {
		b.Run(w.Name, func(b *testing.B) { w.Run(b, f) })
	}
}

// Azid is the Factory for azid's ClientSecretCredential.
func Azid(srv *entratest.Server, o Options) azcore.TokenCredential {
	cred, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&azid.ClientSecretCredentialOptions{
			ClientOptions:              ClientOptions(srv),
			AdditionallyAllowedTenants: o.AdditionallyAllowedTenants,
			DisableInstanceDiscovery:   true,
		})
	if err != nil {
		panic(fmt.Sprintf("benchkit: building azid's ClientSecretCredential: %v", err))
	}
	return cred
}

// ClientOptions points a credential at srv: its authority host, and its
// HTTP client, which trusts only the emulator's CA. Everything else (retry,
// logging, telemetry) keeps azcore's defaults, as users have them.
func ClientOptions(srv *entratest.Server) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()},
		Transport: srv.Client(),
	}
}

// newServer starts an emulator for one benchmark and closes it when the
// benchmark ends. o may be nil.
func newServer(b *testing.B, o *entratest.Options) *entratest.Server {
	b.Helper()
	srv, err := entratest.NewServer(o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	return srv
}

// tokenRequest asks for one scope. Workloads build their requests once,
// outside timed loops, so the loops measure GetToken and nothing else.
func tokenRequest(scope string) policy.TokenRequestOptions {
	return policy.TokenRequestOptions{Scopes: []string{scope}}
}

// EntryScope is the i-th of the distinct scopes HitWithEntries caches. The
// emulator accepts any "<resource>/.default".
func EntryScope(i int) string { return fmt.Sprintf("api://app-%d/.default", i) }

// mustGetToken gets a token outside any timed region: warming a cache.
func mustGetToken(b *testing.B, cred azcore.TokenCredential, req policy.TokenRequestOptions) {
	b.Helper()
	if _, err := cred.GetToken(context.Background(), req); err != nil {
		b.Fatal(err)
	}
}

// prime caches n distinct scopes. Several goroutines share the work because
// each token costs the emulator an RS256 signature (about 1 ms of CPU): a
// credential that acquires different scopes concurrently gets its 10,000
// tokens in half the time on two cores, and one that serialises them is no
// slower for being asked concurrently.
func prime(b *testing.B, cred azcore.TokenCredential, n int) {
	b.Helper()
	const workers = 8
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if _, err := cred.GetToken(context.Background(), tokenRequest(EntryScope(i))); err != nil {
					errs <- fmt.Errorf("priming scope %d of %d: %w", i, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// checkNoRequests fails a hit benchmark whose timed loop reached the token
// endpoint: it would have measured misses, not hits.
func checkNoRequests(b *testing.B, srv *entratest.Server, before int) {
	b.Helper()
	if n := srv.Requests(entratest.EndpointToken) - before; n != 0 {
		b.Fatalf("the hit loop made %d token requests: the credential did not keep the token cached", n)
	}
}
