package tokencache

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func scopeReq(i int) Request {
	return Request{TenantID: "t", Scopes: []string{fmt.Sprintf("api://app-%d/.default", i)}}
}

func TestMemoryBoundHolds(t *testing.T) {
	const max = 64
	clk := newFakeClock()
	c := newTestCache(t, newSource(time.Hour), clk, func(o *Options) { o.MaxEntries = max })
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				mustGet(t, c, scopeReq(w*1000+i))
			}
		}()
	}
	wg.Wait()
	// Every key beyond the bound is evicted, and the counters agree.
	eventually(t, "eviction to finish", func() bool {
		st := c.Stats()
		return st.Entries <= max && uint64(st.Entries)+st.Evictions == 2000
	})
}

// Expired entries go before live ones, and live ones closest to expiry go
// first.
func TestEvictionOrder(t *testing.T) {
	clk := newFakeClock()
	lifetimes := map[string]time.Duration{}
	src := AcquirerFunc(func(_ context.Context, r Request) (Token, error) {
		return Token{AccessToken: r.Scopes[0], ExpiresIn: lifetimes[r.Scopes[0]]}, nil
	})
	const max = 16
	c := newTestCache(t, src, clk, func(o *Options) { o.MaxEntries = max })
	// 8 short-lived tokens that will expire, 8 long-lived ones.
	for i := range 8 {
		lifetimes[scopeReq(i).Scopes[0]] = 10 * time.Minute
		lifetimes[scopeReq(100 + i).Scopes[0]] = time.Duration(2+i) * time.Hour
	}
	for i := range 8 {
		mustGet(t, c, scopeReq(i))
		mustGet(t, c, scopeReq(100+i))
	}
	clk.Advance(20 * time.Minute) // the short ones expire
	lifetimes[scopeReq(200).Scopes[0]] = time.Hour
	mustGet(t, c, scopeReq(200)) // 17 entries: over the bound
	eventually(t, "eviction", func() bool { return c.Stats().Evictions > 0 })

	for i := range 8 {
		r := scopeReq(i)
		if e := c.lookup(&r); e != nil {
			t.Errorf("expired entry %d survived eviction", i)
		}
		r = scopeReq(100 + i)
		if e := c.lookup(&r); e == nil {
			t.Errorf("live entry %d evicted while expired ones existed", 100+i)
		}
	}

	// Now only live entries: the ones expiring soonest go.
	for i := 300; i < 310; i++ {
		lifetimes[scopeReq(i).Scopes[0]] = 24 * time.Hour
		mustGet(t, c, scopeReq(i))
	}
	eventually(t, "eviction", func() bool { return c.Stats().Entries <= max })
	r := scopeReq(107) // the longest-lived of the first batch
	if e := c.lookup(&r); e == nil {
		t.Errorf("the 9-hour token was evicted before shorter-lived ones")
	}
	r = scopeReq(100)
	if e := c.lookup(&r); e != nil {
		t.Errorf("the 2-hour token survived while longer-lived ones were evicted")
	}
}

// Lookups stay correct under heavy hash collisions: every entry in one
// bucket.
func TestIndexCollisions(t *testing.T) {
	var x index
	var reqs []Request
	for i := range 50 {
		r := scopeReq(i)
		reqs = append(reqs, r)
		x.findOrAdd(42, &r, func() *entry {
			n, _ := normalize(r)
			return &entry{key: Key{TenantID: n.TenantID, Scopes: n.Scopes}}
		})
	}
	for _, r := range reqs {
		e := x.find(42, &r)
		if e == nil || e.key.Scopes[0] != r.Scopes[0] {
			t.Fatalf("lookup of %q found %v", r.Scopes[0], e)
		}
	}
	if x.count.Load() != 50 {
		t.Fatalf("count = %d", x.count.Load())
	}
}
