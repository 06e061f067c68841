package azid

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// countingCred is a credential written outside azid: it mints a new token on
// every call and counts the calls. Tests can make it fail, block, or set
// RefreshOn.
type countingCred struct {
	clock    interface{ Now() time.Time }
	lifetime time.Duration
	refresh  time.Duration // 0: no RefreshOn

	calls atomic.Int64
	fail  atomic.Bool
	// gate, when set, blocks each call until it is closed (or ctx ends).
	gate atomic.Pointer[chan struct{}]

	mu   sync.Mutex
	last policy.TokenRequestOptions
}

var errCountingCred = errors.New("countingCred: token service unavailable")

func (c *countingCred) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	n := c.calls.Add(1)
	c.mu.Lock()
	c.last = opts
	c.mu.Unlock()
	if g := c.gate.Load(); g != nil {
		select {
		case <-*g:
		case <-ctx.Done():
			return azcore.AccessToken{}, ctx.Err()
		}
	}
	if c.fail.Load() {
		return azcore.AccessToken{}, errCountingCred
	}
	now := time.Now()
	if c.clock != nil {
		now = c.clock.Now()
	}
	lt := c.lifetime
	if lt == 0 {
		lt = time.Hour
	}
	tok := azcore.AccessToken{Token: fmt.Sprintf("token-%d", n), ExpiresOn: now.Add(lt)}
	if c.refresh > 0 {
		tok.RefreshOn = now.Add(c.refresh)
	}
	return tok, nil
}

func (c *countingCred) lastOpts() policy.TokenRequestOptions {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func newCaching(t *testing.T, inner azcore.TokenCredential, clock *fakeClock) *CachingCredential {
	t.Helper()
	o := &CachingCredentialOptions{}
	if clock != nil {
		o.clock = clock
	}
	c, err := NewCachingCredential(inner, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCachingCredentialHits(t *testing.T) {
	inner := &countingCred{}
	c := newCaching(t, inner, nil)
	for i := range 1000 {
		tok, err := c.GetToken(context.Background(), demoScope)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Token != "token-1" {
			t.Fatalf("call %d got %q, want the cached token-1", i, tok.Token)
		}
	}
	if n := inner.calls.Load(); n != 1 {
		t.Fatalf("wrapped credential called %d times for 1000 GetTokens, want 1", n)
	}
	st := c.CacheStats()
	if st.Hits != 999 || st.Misses != 1 || st.TokenRequests != 1 {
		t.Fatalf("stats %+v, want 999 hits, 1 miss, 1 token request", st)
	}
	// Another scope is another entry.
	if _, err := c.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"api://other/.default"}}); err != nil {
		t.Fatal(err)
	}
	if n := inner.calls.Load(); n != 2 {
		t.Fatalf("wrapped credential called %d times after a second scope, want 2", n)
	}
	if got := inner.lastOpts().Scopes; len(got) != 1 || got[0] != "api://other/.default" {
		t.Fatalf("wrapped credential asked for %q", got)
	}
}

func TestCachingCredentialSingleFlight(t *testing.T) {
	inner := &countingCred{}
	gate := make(chan struct{})
	inner.gate.Store(&gate)
	c := newCaching(t, inner, nil)

	const callers = 100
	var wg sync.WaitGroup
	toks := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			tok, err := c.GetToken(context.Background(), demoScope)
			toks[i], errs[i] = tok.Token, err
		})
	}
	// Release the wrapped credential once every caller is waiting on it.
	eventually(t, "all callers to wait", func() bool { return c.CacheStats().Misses == callers })
	close(gate)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || toks[i] != "token-1" {
			t.Fatalf("caller %d: %q, %v", i, toks[i], errs[i])
		}
	}
	if n := inner.calls.Load(); n != 1 {
		t.Fatalf("%d callers made %d calls to the wrapped credential, want 1", callers, n)
	}
	if st := c.CacheStats(); st.Coalesced != callers-1 {
		t.Fatalf("Coalesced = %d, want %d", st.Coalesced, callers-1)
	}
}

func TestCachingCredentialBackgroundRefresh(t *testing.T) {
	clock := newFakeClock()
	inner := &countingCred{clock: clock, lifetime: time.Hour}
	c := newCaching(t, inner, clock)
	if _, err := c.GetToken(context.Background(), demoScope); err != nil {
		t.Fatal(err)
	}
	// Past the refresh time (at most 55 min + jitter for a 1 h token), the
	// wrapped credential is called in the background. Block it, to show that
	// callers are served meanwhile.
	gate := make(chan struct{})
	inner.gate.Store(&gate)
	clock.Advance(58 * time.Minute)
	for range 10 {
		tok, err := c.GetToken(context.Background(), demoScope)
		if err != nil || tok.Token != "token-1" {
			t.Fatalf("during the refresh got %q, %v; want the cached token-1", tok.Token, err)
		}
	}
	eventually(t, "the background refresh to start", func() bool { return inner.calls.Load() == 2 })
	inner.gate.Store(nil)
	close(gate)
	eventually(t, "the refreshed token", func() bool {
		tok, _ := c.GetToken(context.Background(), demoScope)
		return tok.Token == "token-2"
	})
	st := c.CacheStats()
	if st.BackgroundRefreshes != 1 || st.Misses != 1 || inner.calls.Load() != 2 {
		t.Fatalf("stats %+v, %d calls; want 1 background refresh, 1 miss, 2 calls", st, inner.calls.Load())
	}
}

func TestCachingCredentialHonoursRefreshOn(t *testing.T) {
	clock := newFakeClock()
	inner := &countingCred{clock: clock, lifetime: 24 * time.Hour, refresh: 10 * time.Minute}
	c := newCaching(t, inner, clock)
	if _, err := c.GetToken(context.Background(), demoScope); err != nil {
		t.Fatal(err)
	}
	// Without RefreshOn a 24 h token would be refreshed after 12 h; with
	// it, after 10 minutes (plus at most a tenth in jitter).
	clock.Advance(11*time.Minute + 30*time.Second)
	if _, err := c.GetToken(context.Background(), demoScope); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a refresh at RefreshOn", func() bool { return c.CacheStats().BackgroundRefreshes == 1 && inner.calls.Load() == 2 })
}

func TestCachingCredentialOutage(t *testing.T) {
	clock := newFakeClock()
	inner := &countingCred{clock: clock, lifetime: time.Hour}
	c := newCaching(t, inner, clock)
	if _, err := c.GetToken(context.Background(), demoScope); err != nil {
		t.Fatal(err)
	}
	inner.fail.Store(true)
	clock.Advance(58 * time.Minute)
	tok, err := c.GetToken(context.Background(), demoScope)
	if err != nil || tok.Token != "token-1" {
		t.Fatalf("at the refresh time got %q, %v; want token-1 served", tok.Token, err)
	}
	eventually(t, "the refresh to fail", func() bool { return c.CacheStats().RefreshFailures == 1 })
	// Still served, without error, while usable.
	tok, err = c.GetToken(context.Background(), demoScope)
	if err != nil || tok.Token != "token-1" {
		t.Fatalf("during the outage got %q, %v; want token-1 served", tok.Token, err)
	}
	// Past usable (1 minute before expiry), the failure reaches callers.
	clock.Advance(90 * time.Second)
	if _, err := c.GetToken(context.Background(), demoScope); !errors.Is(err, errCountingCred) {
		t.Fatalf("past the usable time got %v, want the wrapped credential's error", err)
	}
	inner.fail.Store(false)
	tok, err = c.GetToken(context.Background(), demoScope)
	if err != nil || tok.Token == "token-1" {
		t.Fatalf("after the outage got %q, %v; want a new token", tok.Token, err)
	}
}

func TestCachingCredentialClaimsAndInvalidate(t *testing.T) {
	inner := &countingCred{}
	c := newCaching(t, inner, nil)
	ctx := context.Background()
	if _, err := c.GetToken(ctx, demoScope); err != nil {
		t.Fatal(err)
	}
	withClaims := demoScope
	withClaims.Claims = `{"access_token":{"nbf":{"essential":true,"value":"1"}}}`
	tok, err := c.GetToken(ctx, withClaims)
	if err != nil || tok.Token != "token-2" {
		t.Fatalf("claims request got %q, %v; want a fresh token-2", tok.Token, err)
	}
	if got := inner.lastOpts().Claims; got != withClaims.Claims {
		t.Fatalf("wrapped credential got claims %q", got)
	}
	if tok, _ := c.GetToken(ctx, demoScope); tok.Token != "token-2" {
		t.Fatalf("after claims the cache serves %q, want token-2 (claims tokens replace the cached one)", tok.Token)
	}
	if c.invalidate(demoScope, "token-1") {
		t.Fatal("invalidating a token no longer cached reported success")
	}
	if !c.invalidate(demoScope, "token-2") {
		t.Fatal("invalidating the cached token failed")
	}
	if tok, _ := c.GetToken(ctx, demoScope); tok.Token != "token-3" {
		t.Fatalf("after invalidation got %q, want token-3", tok.Token)
	}
	if st := c.CacheStats(); st.Invalidations != 1 {
		t.Fatalf("Invalidations = %d, want 1", st.Invalidations)
	}
}

// badCred returns what a buggy credential might.
type badCred azcore.AccessToken

func (b badCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken(b), nil
}

func TestCachingCredentialErrors(t *testing.T) {
	if _, err := NewCachingCredential(nil, nil); err == nil || !strings.Contains(err.Error(), "nil") {
		t.Fatalf("nil credential: %v", err)
	}
	if _, err := NewCachingCredential(&countingCred{}, &CachingCredentialOptions{MaxCacheEntries: -1}); err == nil {
		t.Fatal("negative MaxCacheEntries accepted")
	}
	c := newCaching(t, &countingCred{}, nil)
	if _, err := c.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{" "}}); err == nil || !strings.Contains(err.Error(), "scope") {
		t.Fatalf("no scope: %v", err)
	}
	for name, bad := range map[string]badCred{
		"empty":   {ExpiresOn: time.Now().Add(time.Hour)},
		"expired": {Token: "t", ExpiresOn: time.Now().Add(-time.Minute)},
	} {
		c := newCaching(t, bad, nil)
		if _, err := c.GetToken(context.Background(), demoScope); err == nil || !strings.Contains(err.Error(), credNameCaching) {
			t.Fatalf("%s token: %v, want an error naming %s", name, err, credNameCaching)
		}
	}
}

func BenchmarkCachingCredentialHit(b *testing.B) {
	c, err := NewCachingCredential(&countingCred{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.GetToken(ctx, demoScope); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GetToken(ctx, demoScope); err != nil {
			b.Fatal(err)
		}
	}
}
