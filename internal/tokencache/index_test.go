package tokencache

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// indexReq is the canonical request for key i.
func indexReq(i int) Request {
	return Request{TenantID: "t", Scopes: []string{fmt.Sprintf("s%d", i)}}
}

func addTo(x *index, h uint64, r Request) (*entry, bool) {
	return x.findOrAdd(h, &r, func() *entry {
		return &entry{key: Key{TenantID: r.TenantID, Scopes: r.Scopes}}
	})
}

// testHashes returns hashes of many shapes: random ones, ones sharing long
// prefixes or all but the lowest bits, and equal ones (several entries
// under one hash), spread over shards and over base and recent maps.
func testHashes(n int) []uint64 {
	rng := rand.New(rand.NewPCG(1, 2))
	hs := make([]uint64, 0, n)
	for i := range n {
		switch i % 5 {
		case 0, 1:
			hs = append(hs, rng.Uint64())
		case 2: // the same 40-bit prefix
			hs = append(hs, 0xABCDEF0123<<24|uint64(rng.IntN(1<<24)))
		case 3: // one of a few full hashes
			hs = append(hs, uint64(rng.IntN(3))*0x9E3779B97F4A7C15)
		case 4: // differ only in the lowest 3 bits (below the last level)
			hs = append(hs, 0x5555555555555550|uint64(rng.IntN(8)))
		}
	}
	return hs
}

func TestIndexInsertFindRemove(t *testing.T) {
	const n = 5000
	var x index
	hs := testHashes(n)
	entries := make([]*entry, n)
	for i, h := range hs {
		e, added := addTo(&x, h, indexReq(i))
		if !added {
			t.Fatalf("key %d reported present before insertion", i)
		}
		entries[i] = e
		if again, added := addTo(&x, h, indexReq(i)); added || again != e {
			t.Fatalf("key %d inserted twice", i)
		}
	}
	if got := x.count.Load(); got != n {
		t.Fatalf("count = %d, want %d", got, n)
	}
	for i, h := range hs {
		r := indexReq(i)
		if e := x.find(h, &r); e != entries[i] {
			t.Fatalf("key %d (hash %#x): found %v", i, h, e)
		}
	}
	seen := map[*entry]int{}
	x.each(func(e *entry) { seen[e]++ })
	if len(seen) != n {
		t.Fatalf("each visited %d entries, want %d", len(seen), n)
	}
	for e, k := range seen {
		if k != 1 {
			t.Fatalf("each visited %v %d times", e.key, k)
		}
	}

	// Remove the even keys.
	victims := map[*shard]map[*entry]bool{}
	for i, h := range hs {
		if i%2 == 0 {
			s := x.shard(h)
			if victims[s] == nil {
				victims[s] = map[*entry]bool{}
			}
			victims[s][entries[i]] = true
		}
	}
	removed := 0
	for s, v := range victims {
		removed += x.remove(s, v)
	}
	if removed != n/2 || x.count.Load() != n/2 {
		t.Fatalf("removed %d, count %d; want %d and %d", removed, x.count.Load(), n/2, n/2)
	}
	for i, h := range hs {
		r := indexReq(i)
		e := x.find(h, &r)
		if i%2 == 0 && e != nil {
			t.Fatalf("removed key %d still found", i)
		}
		if i%2 == 1 && e != entries[i] {
			t.Fatalf("kept key %d lost", i)
		}
	}

	// Removing everything leaves the shards empty.
	all := map[*entry]bool{}
	x.each(func(e *entry) { all[e] = true })
	for i := range x.shards {
		x.remove(&x.shards[i], all)
	}
	for i := range x.shards {
		if m := x.shards[i].m.Load(); m != nil && len(*m) != 0 {
			t.Fatalf("shard %d keeps %d hashes", i, len(*m))
		}
	}
	if x.count.Load() != 0 {
		t.Fatalf("count = %d after removing everything", x.count.Load())
	}
}

// Readers never miss a key that was inserted before they looked, while
// writers insert and remove other keys in the same shards. Run with -race.
func TestIndexConcurrentReaders(t *testing.T) {
	var x index
	hs := testHashes(1200)
	const stable = 200
	for i := range stable {
		addTo(&x, hs[i], indexReq(i))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				for i := range stable {
					r := indexReq(i)
					if x.find(hs[i], &r) == nil {
						t.Errorf("key %d vanished during writes", i)
						return
					}
				}
			}
		}()
	}
	for round := range 2 {
		added := map[int]*entry{}
		for i := stable; i < len(hs); i++ {
			added[i], _ = addTo(&x, hs[i], indexReq(i))
		}
		for i, e := range added {
			x.remove(x.shard(hs[i]), map[*entry]bool{e: true})
		}
		if got := x.count.Load(); got != stable {
			t.Fatalf("round %d: count = %d, want %d", round, got, stable)
		}
	}
	stop.Store(true)
	wg.Wait()
}

// A request in normal form but for ASCII letter case hashes as its normal
// form does and finds its entry; requests that need more than lower-casing
// are refused by hashKey and go through normalize.
func TestFoldedRequests(t *testing.T) {
	seed := maphash.MakeSeed()
	long := "https://example.com/Very-Long-Scope-Name-That-Is-Longer-Than-One-Hundred-And-Twenty-Eight-Bytes-So-The-Hash-Is-Written-In-Chunks-Of-The-Stack-Buffer/.default"
	for _, r := range []Request{
		{TenantID: "Tenant", Scopes: []string{"https://graph.microsoft.com/User.Read"}},
		{TenantID: "tenant", Scopes: []string{"A", "b", "C"}, AssertionHash: "AbC=", EnableCAE: true},
		{TenantID: "T", Scopes: []string{long}},
		{TenantID: "t", Scopes: []string{strings.ToLower(long)}}, // lower case already: hashed as it is
		{TenantID: "t\x01", Scopes: []string{"a\x7f", "b"}},      // control bytes: lower-cased, not refused
		{TenantID: "T \n", Scopes: []string{"a"}},                // white space in a tenant: kept, never split
	} {
		h, ok := hashKey(seed, &r)
		n, err := normalize(r)
		if err != nil || !ok {
			t.Fatalf("%+v: hashKey ok %v, normalize %v", r, ok, err)
		}
		if hn, _ := hashKey(seed, &n); hn != h {
			t.Fatalf("%+v hashes differently from its normal form", r)
		}
		k := Key{TenantID: n.TenantID, Scopes: n.Scopes, CAE: n.EnableCAE, AssertionHash: n.AssertionHash}
		if !k.matches(&r) {
			t.Fatalf("%+v does not match its own key", r)
		}
	}
	for _, r := range []Request{
		{TenantID: "t", Scopes: []string{"B", "a"}},  // out of order
		{TenantID: "t", Scopes: []string{"a", "A"}},  // duplicate once folded
		{TenantID: "t", Scopes: []string{"a b"}},     // two scopes in one string
		{TenantID: "t", Scopes: []string{"a\tb"}},    // likewise
		{TenantID: "t", Scopes: []string{"Ünïcode"}}, // not ASCII
		{TenantID: "t", Scopes: []string{""}},        // empty
	} {
		if _, ok := hashKey(seed, &r); ok {
			t.Errorf("%q hashed without normalising", r.Scopes)
		}
	}
}

// The one lookup path: any two requests that normalise to the same key
// find the same entry, and requests of different keys never share one.
func FuzzLookup(f *testing.F) {
	f.Add("Tenant", "User.Read", "z", "", "tenant", "user.read z", "", "")
	f.Add("t", "B", "a", "h", "T", "a", "b", "h")
	f.Add("t", "a", "", "", "t", "a", "", "x")
	f.Fuzz(func(t *testing.T, t1, s1, s2, a1, t2, s3, s4, a2 string) {
		c := New(AcquirerFunc(func(_ context.Context, r Request) (Token, error) {
			return Token{AccessToken: fmt.Sprint(r), ExpiresIn: time.Hour}, nil
		}), Options{})
		r1 := Request{TenantID: t1, Scopes: []string{s1, s2}, AssertionHash: a1}
		r2 := Request{TenantID: t2, Scopes: []string{s3, s4}, AssertionHash: a2}
		n1, err1 := normalize(r1)
		n2, err2 := normalize(r2)
		if err1 != nil || err2 != nil {
			return
		}
		ctx := context.Background()
		tok1, err := c.GetToken(ctx, &r1)
		if err != nil {
			t.Fatal(err)
		}
		tok2, err := c.GetToken(ctx, &r2)
		if err != nil {
			t.Fatal(err)
		}
		same := n1.TenantID == n2.TenantID && slices.Equal(n1.Scopes, n2.Scopes) && a1 == a2
		if same != (tok1.Token == tok2.Token) {
			t.Fatalf("%+v and %+v: same key %v, but tokens %q and %q", r1, r2, same, tok1.Token, tok2.Token)
		}
		// Asked again (a hit), each finds its own entry.
		if again, _ := c.GetToken(ctx, &r1); again.Token != tok1.Token {
			t.Fatalf("%+v found another entry on a hit", r1)
		}
	})
}

// Mixed-case scopes, and requests whose strings are new on every call (an
// on-behalf-of credential per incoming request), are served from memory
// without allocating, and share the entry of their normal form.
func TestMixedCaseHitsDoNotAllocate(t *testing.T) {
	src := newSource(time.Hour)
	c := newTestCache(t, src, newFakeClock(), nil)
	lower := Request{TenantID: "tenant", Scopes: []string{"https://graph.microsoft.com/user.read"}, AssertionHash: "user-1"}
	mustGet(t, c, lower)
	user := []byte("user-1")
	ctx := context.Background()
	for _, scope := range []string{"https://graph.microsoft.com/User.Read", "HTTPS://GRAPH.MICROSOFT.COM/USER.READ"} {
		scopes := []string{scope}
		allocs := testing.AllocsPerRun(100, func() {
			r := Request{TenantID: "Tenant", Scopes: scopes, AssertionHash: string(user)}
			if _, err := c.GetToken(ctx, &r); err != nil {
				t.Fatal(err)
			}
		})
		// string(user) is the caller's allocation, not the cache's.
		if allocs > 1 {
			t.Fatalf("%s: %.0f allocations per hit, want only the test's own", scope, allocs)
		}
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d acquisitions, want 1: the cases must share an entry", n)
	}
	mixed := Request{TenantID: "Tenant", Scopes: []string{"https://graph.microsoft.com/User.Read"}, AssertionHash: "user-1"}
	if allocs := testing.AllocsPerRun(100, func() { c.GetToken(ctx, &mixed) }); allocs != 0 {
		t.Fatalf("%.0f allocations per mixed-case hit", allocs)
	}
}

// BenchmarkIndexInsert fills an index with n keys, the work of n misses in
// a cache with n users; ns/op is per insert.
func BenchmarkIndexInsert(b *testing.B) {
	for _, n := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			seed := maphash.MakeSeed()
			reqs := make([]Request, n)
			hs := make([]uint64, n)
			for i := range reqs {
				reqs[i] = indexReq(i)
				hs[i], _ = hashKey(seed, &reqs[i])
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N / n {
				var x index
				for i := range reqs {
					addTo(&x, hs[i], reqs[i])
				}
			}
			if b.N < n { // too few iterations for one fill: insert a part
				var x index
				for i := range b.N {
					addTo(&x, hs[i], reqs[i])
				}
			}
		})
	}
}

// BenchmarkHitMixedCase is BenchmarkHit with the scope in the caller's
// letter case, with the same strings every call and with a tenant string
// at another address every call.
func BenchmarkHitMixedCase(b *testing.B) {
	c := New(newSource(time.Hour), Options{})
	r := Request{TenantID: "Tenant", Scopes: []string{"https://graph.microsoft.com/User.Read"}}
	mustGet(b, c, r)
	ctx := context.Background()
	b.Run("same-strings", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.GetToken(ctx, &r)
		}
	})
	b.Run("other-strings", func(b *testing.B) {
		tenants := make([]string, 64)
		for i := range tenants {
			tenants[i] = string([]byte("Tenant"))
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r2 := Request{TenantID: tenants[i&63], Scopes: r.Scopes}
			c.GetToken(ctx, &r2)
			i++
		}
	})
}

// BenchmarkHitOBO hits a user's token among 100,000 cached users, with a
// credential per request (the assertion hash a new string each time).
func BenchmarkHitOBO(b *testing.B) {
	const users = 100_000
	c := New(newSource(time.Hour), Options{MaxEntries: 2 * users})
	reqs := make([]Request, users)
	for i := range reqs {
		reqs[i] = Request{TenantID: "tenant", Scopes: []string{"https://graph.microsoft.com/user.read"}, AssertionHash: fmt.Sprintf("%044d", i)}
		mustGet(b, c, reqs[i])
	}
	ctx := context.Background()
	for _, mixed := range []bool{false, true} {
		name := "lower-case"
		if mixed {
			name = "mixed-case"
		}
		b.Run(name, func(b *testing.B) {
			probe := make([]Request, 1024)
			for i := range probe {
				probe[i] = reqs[(i*97)%users]
				probe[i].AssertionHash = string([]byte(probe[i].AssertionHash))
				if mixed {
					probe[i].Scopes = []string{"https://graph.microsoft.com/User.Read"}
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c.GetToken(ctx, &probe[i&1023])
				i++
			}
		})
	}
}
