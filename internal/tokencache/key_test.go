package tokencache

import (
	"context"
	"errors"
	"hash/maphash"
	"slices"
	"testing"
	"time"
)

func TestNormalizedRequestsShareOneEntry(t *testing.T) {
	src := newSource(time.Hour)
	c := newTestCache(t, src, newFakeClock(), nil)
	variants := [][]string{
		{"https://vault.azure.net/.default", "user.read"},
		{"user.read", "https://vault.azure.net/.default"},
		{"https://Vault.Azure.NET/.default user.read"},
		{"  user.read   https://vault.azure.net/.default ", "USER.READ"},
		{"user.read", "user.read", "https://vault.azure.net/.default"},
	}
	first := ""
	for _, scopes := range variants {
		got := mustGet(t, c, Request{TenantID: "Tenant", Scopes: scopes})
		if first == "" {
			first = got
		}
		if got != first {
			t.Errorf("scopes %q got token %q, want %q from the same entry", scopes, got, first)
		}
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d acquisitions for equivalent scopes, want 1", n)
	}
	// What is sent is split and de-duplicated, but keeps the caller's case.
	if got, want := src.lastRequest().Scopes, []string{"https://vault.azure.net/.default", "user.read"}; !slices.Equal(got, want) {
		t.Errorf("acquired with scopes %q, want %q", got, want)
	}
	if st := c.Stats(); st.Entries != 1 {
		t.Errorf("%d entries, want 1", st.Entries)
	}
}

func TestDistinctKeys(t *testing.T) {
	src := newSource(time.Hour)
	c := newTestCache(t, src, newFakeClock(), nil)
	reqs := []Request{
		{TenantID: "t1", Scopes: []string{"a"}},
		{TenantID: "t2", Scopes: []string{"a"}},
		{TenantID: "t1", Scopes: []string{"b"}},
		{TenantID: "t1", Scopes: []string{"a", "b"}},
		{TenantID: "t1", Scopes: []string{"a"}, EnableCAE: true},
		{TenantID: "t1", Scopes: []string{"a"}, Account: "u1"},
		{TenantID: "t1", Scopes: []string{"a"}, Account: "u2"},
		{TenantID: "t1", Scopes: []string{"a"}, AssertionHash: "u1"},
		{TenantID: "t1", Scopes: []string{"a"}, Identity: "u1"},
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		tok := mustGet(t, c, r)
		if seen[tok] {
			t.Errorf("request %+v shared token %q with another key", r, tok)
		}
		seen[tok] = true
	}
	// Each of them hits on the second round.
	for _, r := range reqs {
		mustGet(t, c, r)
	}
	if n := src.calls.Load(); n != int64(len(reqs)) {
		t.Fatalf("%d acquisitions, want %d", n, len(reqs))
	}
}

func TestNoScopes(t *testing.T) {
	c := newTestCache(t, newSource(time.Hour), newFakeClock(), nil)
	for _, scopes := range [][]string{nil, {}, {""}, {"  ", ""}} {
		if _, err := c.GetToken(context.Background(), &Request{TenantID: "t", Scopes: scopes}); !errors.Is(err, ErrNoScopes) {
			t.Errorf("scopes %q: err = %v, want ErrNoScopes", scopes, err)
		}
	}
}

// Normalisation is idempotent, and its ASCII output hashes as it is, for
// any input.
func FuzzNormalize(f *testing.F) {
	f.Add("Tenant", "B a", "a")
	f.Add("", "", " ")
	f.Add(" ", "0", "0") // white space in a tenant is no reason to normalise again
	f.Fuzz(func(t *testing.T, tenant, s1, s2 string) {
		n, err := normalize(Request{TenantID: tenant, Scopes: []string{s1, s2}})
		if err != nil {
			return
		}
		n2, err := normalize(n)
		if err != nil || !slices.Equal(n.Scopes, n2.Scopes) || n.TenantID != n2.TenantID {
			t.Fatalf("normalize not idempotent: %+v then %+v", n, n2)
		}
		if _, ok := hashKey(maphash.MakeSeed(), &n); isASCII(n.TenantID) && allASCII(n.Scopes) && !ok {
			t.Fatalf("normalized ASCII request needs normalising: %+v", n)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !isASCII(s) {
			return false
		}
	}
	return true
}
