package tokencache

import (
	"cmp"
	"errors"
	"hash/maphash"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Request is what a credential asks the cache for; the engine derives the
// key from it. Credentials fill in the fields that apply to them.
type Request struct {
	TenantID string // resolved and validated by the credential
	// Scopes as the caller gave them: an element may hold several
	// space-separated scopes; duplicates and letter case make no new key.
	Scopes    []string
	EnableCAE bool // CAE and non-CAE tokens never share an entry
	// Claims is a claims challenge: the cached token is skipped and a fresh
	// acquisition's result replaces it.
	Claims        string
	Account       string // home account ID, for user flows
	AssertionHash string // identifies the user assertion, for on-behalf-of
	Identity      string // a managed identity's client, object or resource ID

	// The engine sets the fields below (never a caller) on the Request it
	// hands to [Acquirer.Acquire]; they are not part of the key.
	//
	// Background marks a refresh started while a usable token is served:
	// one step of the engine's backoff, so the Acquirer makes one attempt
	// and leaves spacing the next to the engine.
	Background bool
	// Lock is the [LockingStore] lock the engine holds for the key, for an
	// Acquirer that takes store locks of its own not to take it twice.
	Lock StoreLock
}

// Key identifies a cache entry in every layer, a [Store] included. Scopes
// are split on spaces, lower-cased, de-duplicated and sorted. A Store must
// not modify the Keys it is handed.
type Key struct {
	Authority, ClientID, TenantID    string
	Scopes                           []string
	CAE                              bool
	Account, AssertionHash, Identity string
}

// ScopeString joins the scopes with spaces, as token endpoints and MSAL do.
func (k Key) ScopeString() string { return strings.Join(k.Scopes, " ") }

// ErrNoScopes is returned for a request without a single non-empty scope.
var ErrNoScopes = errors.New("at least one scope is required")

// normalize returns r with its key fields in normal form (see Key; the
// tenant lower-cased too). It allocates, so the hit path calls it only for
// requests hashKey cannot hash as they are.
func normalize(r Request) (Request, error) {
	var scopes []string
	for _, s := range r.Scopes {
		for _, f := range strings.Fields(s) {
			scopes = append(scopes, strings.ToLower(f))
		}
	}
	if len(scopes) == 0 {
		return Request{}, ErrNoScopes
	}
	slices.Sort(scopes)
	r.Scopes = slices.Compact(scopes)
	r.TenantID = strings.ToLower(r.TenantID)
	return r, nil
}

// requestScopes returns the scopes to send to the token endpoint: split and
// de-duplicated, but in the caller's order and letter case, because the
// service, not the cache, decides whether case matters.
func requestScopes(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		for _, f := range strings.Fields(s) {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// hashKey hashes r's key fields as their normal form, lower-casing ASCII
// as it reads, so "User.Read" and "user.read" find one entry without
// allocating. ok is false when r needs normalize first: white space or
// non-ASCII text in a string, an empty scope, or scopes out of order once
// lower-cased. The seed is per cache, so nobody outside can choose keys
// that collide.
func hashKey(seed maphash.Seed, r *Request) (h uint64, ok bool) {
	if len(r.Scopes) == 0 {
		return 0, false
	}
	h, ok = hashLower(seed, r.TenantID, false)
	for i, s := range r.Scopes {
		x, sok := hashLower(seed, s, true)
		ok = ok && sok && s != "" && (i == 0 || compareFold(r.Scopes[i-1], s) < 0)
		h = mix(h, x)
	}
	if !ok {
		return 0, false
	}
	// The other fields are never normalised; each gets its own tag so a
	// value in one field never hashes as another.
	if r.EnableCAE {
		h = mix(h, 1)
	}
	for i, s := range [3]string{r.Account, r.AssertionHash, r.Identity} {
		if s != "" {
			h = mix(h^uint64(i+2), maphash.String(seed, s))
		}
	}
	return h, true
}

// hashLower hashes the ASCII lower case of s (false for non-ASCII, or white
// space in a scope): as it is if lower case already, else lower-cased in a
// stack buffer, in chunks when long (maphash hashes bytes the same however split).
func hashLower(seed maphash.Seed, s string, scope bool) (uint64, bool) {
	i := 0
	for i < len(s) && s[i] < 0x80 && s[i]-'A' >= 26 && (s[i] > ' ' || !scope) {
		i++
	}
	if i == len(s) {
		return maphash.String(seed, s), true
	}
	var buf [64]byte
	if len(s) <= len(buf) {
		b := buf[:copy(buf[:], s)]
		ok := lowerASCII(b, scope)
		return maphash.Bytes(seed, b), ok
	}
	var h maphash.Hash
	h.SetSeed(seed)
	for ; s != ""; s = s[min(len(s), len(buf)):] {
		b := buf[:copy(buf[:], s)]
		if !lowerASCII(b, scope) {
			return 0, false
		}
		h.Write(b)
	}
	return h.Sum64(), true
}

// lowerASCII lower-cases b in place; false as for hashLower.
func lowerASCII(b []byte, scope bool) bool {
	for i, c := range b {
		switch {
		case c >= 0x80 || scope && (c == ' ' || c >= '\t' && c <= '\r'):
			return false
		case c-'A' < 26:
			b[i] = c + ('a' - 'A')
		}
	}
	return true
}

func mix(h, x uint64) uint64 {
	return bits.RotateLeft64(h^x, 27)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
}

func lowerByte(c byte) byte {
	if c-'A' < 26 {
		return c + ('a' - 'A')
	}
	return c
}

// compareFold compares the ASCII lower cases of a and b.
func compareFold(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if x, y := lowerByte(a[i]), lowerByte(b[i]); x != y {
			return cmp.Compare(x, y)
		}
	}
	return len(a) - len(b)
}

// equalLower reports whether canon is the ASCII lower case of s.
func equalLower(canon, s string) bool {
	if canon == s {
		return true // s was lower case already
	}
	if len(canon) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lowerByte(s[i]) != canon[i] {
			return false
		}
	}
	return true
}

// matches reports whether r, normal once lower-cased, names k.
func (k *Key) matches(r *Request) bool {
	if k.CAE != r.EnableCAE || len(k.Scopes) != len(r.Scopes) || !equalLower(k.TenantID, r.TenantID) ||
		k.Account != r.Account || k.AssertionHash != r.AssertionHash || k.Identity != r.Identity {
		return false
	}
	for i, s := range k.Scopes {
		if !equalLower(s, r.Scopes[i]) {
			return false
		}
	}
	return true
}

// shardBits: 32 shards keep an empty index small (credentials are sometimes
// made per request) yet let misses of different keys insert in parallel.
const shardBits = 5

// index maps key hashes to entries. Each shard publishes an immutable map
// through an atomic pointer: readers never lock; a writer copies the
// shard's map (maps.Clone, no rehash), changes it and publishes it, which
// costs a miss little next to the token request it makes.
type index struct {
	shards [1 << shardBits]shard
	count  atomic.Int64
}

type shard struct {
	mu sync.Mutex // serialises writers; readers never take it
	m  atomic.Pointer[map[uint64][]*entry]
}

func (x *index) shard(h uint64) *shard { return &x.shards[h>>(64-shardBits)] }

func (x *index) find(h uint64, r *Request) *entry {
	if m := x.shard(h).m.Load(); m != nil {
		for _, e := range (*m)[h] {
			if e.key.matches(r) {
				return e
			}
		}
	}
	return nil
}

// findOrAdd returns r's entry, inserting mk's if there is none, and
// whether it did.
func (x *index) findOrAdd(h uint64, r *Request, mk func() *entry) (*entry, bool) {
	s := x.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := x.find(h, r); e != nil {
		return e, false
	}
	e := mk()
	m := map[uint64][]*entry{}
	if old := s.m.Load(); old != nil {
		m = maps.Clone(*old)
	}
	// A new slice: the old one may be read through the published map.
	m[h] = append(slices.Clip(m[h]), e)
	s.m.Store(&m)
	x.count.Add(1)
	return e, true
}

// remove deletes victims (nil: all) from shard s, and says how many.
func (x *index) remove(s *shard, victims map[*entry]bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.m.Load()
	if old == nil {
		return 0
	}
	n := 0
	m := make(map[uint64][]*entry, len(*old))
	for h, es := range *old {
		keep := slices.DeleteFunc(slices.Clone(es), func(e *entry) bool { return victims == nil || victims[e] })
		n += len(es) - len(keep)
		if len(keep) > 0 {
			m[h] = keep
		}
	}
	if n > 0 {
		s.m.Store(&m)
		x.count.Add(-int64(n))
	}
	return n
}

// each calls f for every entry of the shards as they are now.
func (x *index) each(f func(e *entry)) {
	for i := range x.shards {
		if m := x.shards[i].m.Load(); m != nil {
			for _, es := range *m {
				for _, e := range es {
					f(e)
				}
			}
		}
	}
}

// evictor keeps the cache under Options.MaxEntries, one eviction at a time.
type evictor struct{ mu sync.Mutex }

// run drops entries down to 15/16 of the bound, so evictions come in
// batches: unusable entries first, then those closest to expiry, sparing
// entries with an acquisition in flight (their waiters expect the result
// cached). An insert that finds a run under way relies on it to see its
// entry, so a run passes again while the cache is over its bound and the
// last pass made progress.
func (v *evictor) run(c *Cache) {
	max := int64(c.opts.MaxEntries)
	for c.idx.count.Load() > max && v.mu.TryLock() {
		n := c.evictPass(max, max-max/16)
		v.mu.Unlock()
		if n == 0 {
			return // everything left is busy; the next insert tries again
		}
	}
}

func (c *Cache) evictPass(max, target int64) int {
	if c.idx.count.Load() <= max {
		return 0
	}
	now := c.now()
	type cand struct {
		e   *entry
		exp int64 // 0 for unusable entries, which sort first
	}
	var cands []cand
	c.idx.each(func(e *entry) {
		e.mu.Lock()
		busy := len(e.flights) > 0
		e.mu.Unlock()
		if st := e.state.Load(); !busy && st.at(now) != expired {
			cands = append(cands, cand{e, st.expiresAt})
		} else if !busy {
			cands = append(cands, cand{e, 0})
		}
	})
	slices.SortFunc(cands, func(a, b cand) int { return cmp.Compare(a.exp, b.exp) })
	excess := c.idx.count.Load() - target
	victims := map[*entry]bool{}
	for _, cd := range cands {
		if cd.exp != 0 && excess <= 0 { // unusable entries go whatever the count
			break
		}
		victims[cd.e] = true
		excess--
	}
	n := 0
	for i := range c.idx.shards {
		n += c.idx.remove(&c.idx.shards[i], victims)
	}
	c.n.evictions.Add(uint64(n))
	return n
}
