package tokencache

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// memStore is a Store kept in a map, standing in for the persistent and
// distributed stores that plug in at this seam.
type memStore struct {
	mu          sync.Mutex
	m           map[string]Stored
	loads       int
	saves       int
	failLoad    error
	failSave    error
	lastSaveKey Key
}

func newMemStore() *memStore { return &memStore{m: map[string]Stored{}} }

func storeKey(k Key) string {
	return k.Authority + "|" + k.ClientID + "|" + k.TenantID + "|" + k.ScopeString()
}

func (s *memStore) Load(_ context.Context, k Key) (Stored, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	if s.failLoad != nil {
		return Stored{}, false, s.failLoad
	}
	t, ok := s.m[storeKey(k)]
	return t, ok, nil
}

func (s *memStore) Save(_ context.Context, k Key, t Stored) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves++
	s.lastSaveKey = k
	if s.failSave != nil {
		return s.failSave
	}
	s.m[storeKey(k)] = t
	return nil
}

func (s *memStore) put(k Key, t Stored) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[storeKey(k)] = t
}

func (s *memStore) counts() (loads, saves int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loads, s.saves
}

// Two caches over one store behave like two processes sharing a persistent
// cache: the second finds the first's token without the network.
func TestStoreSharesTokensBetweenCaches(t *testing.T) {
	clk := newFakeClock()
	store := newMemStore()
	src1, src2 := newSource(time.Hour), newSource(time.Hour)
	c1 := newTestCache(t, src1, clk, func(o *Options) { o.Store = store })
	c2 := newTestCache(t, src2, clk, func(o *Options) { o.Store = store })

	tok := mustGet(t, c1, req)
	eventually(t, "the store write", func() bool { _, s := store.counts(); return s == 1 })
	if got := mustGet(t, c2, req); got != tok {
		t.Fatalf("second cache got %q, want %q from the store", got, tok)
	}
	if src2.calls.Load() != 0 {
		t.Fatal("second cache went to the network despite the stored token")
	}
	if st := c2.Stats(); st.StoreHits != 1 {
		t.Fatalf("store hits = %d", st.StoreHits)
	}
	k := store.lastSaveKey
	if k.Authority != "login.example" || k.ClientID != "client" || k.TenantID != "tenant" || !slices.Equal(k.Scopes, []string{"api://demo/.default"}) {
		t.Fatalf("stored under key %+v", k)
	}
}

// The store is consulted on a miss only, never on a hit.
func TestStoreNotTouchedOnHit(t *testing.T) {
	store := newMemStore()
	c := newTestCache(t, newSource(time.Hour), newFakeClock(), func(o *Options) { o.Store = store })
	mustGet(t, c, req)
	for range 100 {
		mustGet(t, c, req)
	}
	if loads, _ := store.counts(); loads != 1 {
		t.Fatalf("store read %d times for 1 miss and 100 hits", loads)
	}
}

func TestStoreFailuresDoNotFailGetToken(t *testing.T) {
	store := newMemStore()
	store.failLoad = errors.New("disk on fire")
	store.failSave = errors.New("disk still on fire")
	src := newSource(time.Hour)
	c := newTestCache(t, src, newFakeClock(), func(o *Options) { o.Store = store })
	if got := mustGet(t, c, req); got != "tok-1" {
		t.Fatalf("got %q", got)
	}
	eventually(t, "both store errors counted", func() bool { return c.Stats().StoreErrors == 2 })
	if got := mustGet(t, c, req); got != "tok-1" {
		t.Fatalf("memory did not serve the token after a failed store write: %q", got)
	}
}

// A stored token that is no longer usable is ignored; one past its refresh
// time is served while the background refresh replaces it.
func TestStoreTokenAge(t *testing.T) {
	clk := newFakeClock()
	now := clk.Now()
	store := newMemStore()
	k := Key{Authority: "login.example", ClientID: "client", TenantID: "tenant", Scopes: []string{"api://demo/.default"}}

	store.put(k, Stored{AccessToken: "stale", ExpiresOn: now.Add(30 * time.Second), CachedAt: now.Add(-time.Hour)})
	src := newSource(time.Hour)
	c := newTestCache(t, src, clk, func(o *Options) { o.Store = store })
	if got := mustGet(t, c, req); got != "tok-1" {
		t.Fatalf("got %q, want a network token instead of the almost-expired stored one", got)
	}
	eventually(t, "the store write", func() bool { _, s := store.counts(); return s == 1 })

	store.put(k, Stored{AccessToken: "aging", ExpiresOn: now.Add(3 * time.Minute), CachedAt: now.Add(-57 * time.Minute)})
	src2 := newSource(time.Hour)
	c2 := newTestCache(t, src2, clk, func(o *Options) { o.Store = store })
	if got := mustGet(t, c2, req); got != "aging" {
		t.Fatalf("got %q, want the usable stored token", got)
	}
	// Past its refresh time: the next hit starts a background refresh, which
	// must not take the same token back from the store.
	mustGet(t, c2, req)
	eventually(t, "background refresh from the network", func() bool { return src2.calls.Load() == 1 })
}

// A token a resource rejected is not taken back from the store.
func TestInvalidatedTokenNotReloadedFromStore(t *testing.T) {
	store := newMemStore()
	src := newSource(time.Hour)
	c := newTestCache(t, src, newFakeClock(), func(o *Options) { o.Store = store })
	old := mustGet(t, c, req)
	eventually(t, "store write", func() bool { _, s := store.counts(); return s == 1 })
	c.Invalidate(&req, old)
	if got := mustGet(t, c, req); got == old {
		t.Fatal("the rejected token came back from the store")
	}
}

// Claims requests must reach the service, not the store.
func TestClaimsSkipStore(t *testing.T) {
	store := newMemStore()
	c := newTestCache(t, newSource(time.Hour), newFakeClock(), func(o *Options) { o.Store = store })
	r := req
	r.Claims = "{}"
	mustGet(t, c, r)
	if loads, _ := store.counts(); loads != 0 {
		t.Fatalf("claims request read the store %d times", loads)
	}
}
