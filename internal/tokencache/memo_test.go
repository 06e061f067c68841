package tokencache

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A call site that passes the same strings every time is served through the
// memo, even when its scope is not in normal form, without allocating.
func TestMemoServesRepeatCallSites(t *testing.T) {
	src := newSource(time.Hour)
	c := newTestCache(t, src, newFakeClock(), nil)
	r := &Request{TenantID: "tenant", Scopes: []string{"https://Vault.Azure.net/.default"}}
	first := mustGet(t, c, *r)
	if e := c.memo.find(r); e == nil {
		t.Fatal("the miss did not remember its call site")
	}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		if tok, err := c.GetToken(ctx, r); err != nil || tok.Token != first {
			t.Fatalf("%q, %v", tok.Token, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("a repeat call with a non-canonical scope allocates %v times", allocs)
	}
	// Equal text at another address is the same key, found the long way.
	other := &Request{TenantID: "tenant", Scopes: []string{strings.Clone(r.Scopes[0])}}
	if got := mustGet(t, c, *other); got != first {
		t.Fatalf("an equal scope at another address got %q", got)
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d acquisitions, want 1", n)
	}
}

// The memo keys on every field it memoises: CAE and tenant make different
// entries even when the scope string is the same one.
func TestMemoKeepsKeysApart(t *testing.T) {
	c := newTestCache(t, newSource(time.Hour), newFakeClock(), nil)
	scopes := []string{"api://demo/.default"}
	a := mustGet(t, c, Request{TenantID: "t1", Scopes: scopes})
	b := mustGet(t, c, Request{TenantID: "t1", Scopes: scopes, EnableCAE: true})
	d := mustGet(t, c, Request{TenantID: "t2", Scopes: scopes})
	if a == b || a == d || b == d {
		t.Fatalf("keys shared tokens: %q %q %q", a, b, d)
	}
	for range 3 {
		if mustGet(t, c, Request{TenantID: "t1", Scopes: scopes}) != a ||
			mustGet(t, c, Request{TenantID: "t1", Scopes: scopes, EnableCAE: true}) != b ||
			mustGet(t, c, Request{TenantID: "t2", Scopes: scopes}) != d {
			t.Fatal("a repeat call got another key's token")
		}
	}
}

// An invalidated token is not served through the memo.
func TestMemoHonoursInvalidation(t *testing.T) {
	c := newTestCache(t, newSource(time.Hour), newFakeClock(), nil)
	r := &Request{TenantID: "tenant", Scopes: []string{"api://demo/.default"}}
	old := mustGet(t, c, *r)
	c.Invalidate(r, old)
	if got := mustGet(t, c, *r); got == old {
		t.Fatal("the memo served an invalidated token")
	}
}

// An evicted entry is not served through the memo, so it cannot outlive its
// place in the index (where Invalidate looks for it).
func TestMemoSkipsEvictedEntries(t *testing.T) {
	clk := newFakeClock()
	c := newTestCache(t, newSource(time.Hour), clk, func(o *Options) { o.MaxEntries = 4 })
	r := &Request{TenantID: "tenant", Scopes: []string{"api://first/.default"}}
	first := mustGet(t, c, *r)
	var e *entry
	if e = c.memo.find(r); e == nil {
		t.Fatal("not memoised")
	}
	clk.Advance(2 * time.Hour) // the first token expires: eviction takes it first
	for i := range 8 {
		mustGet(t, c, scopeReq(i))
	}
	eventually(t, "eviction", func() bool { return e.dead.Load() })
	if c.memo.find(r) != nil {
		t.Fatal("the memo still names an evicted entry")
	}
	if got := mustGet(t, c, *r); got == first {
		t.Fatal("an evicted entry's token was served")
	}
}
