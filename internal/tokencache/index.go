package tokencache

import (
	"errors"
	"hash/maphash"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Request is what a credential asks the cache for. The engine derives the
// cache key from it; credentials fill in the fields that apply to them.
type Request struct {
	// TenantID is the tenant the token is for, already resolved and validated
	// by the credential.
	TenantID string
	// Scopes are the requested scopes as the caller gave them. Entries may
	// hold several space-separated scopes; duplicates and letter case do not
	// make a different key.
	Scopes []string
	// EnableCAE asks for a token that supports Continuous Access Evaluation.
	// CAE and non-CAE tokens never share an entry.
	EnableCAE bool
	// Claims, when set, is a claims challenge: the cached token is skipped
	// and the result of a fresh acquisition replaces it.
	Claims string
	// Account is the home account ID, for user flows.
	Account string
	// AssertionHash identifies the user assertion, for on-behalf-of.
	AssertionHash string
	// Identity identifies a managed identity (client, object or resource ID).
	Identity string
	// Background is set by the engine, never by a caller, on the Request it
	// hands to [Acquirer.Acquire] for a refresh started while a usable
	// token is still being served. Such a refresh is one step of the
	// engine's backoff, so the Acquirer should make a single attempt (no
	// retries of its own inside the step): the engine spaces the next one.
	// It is false for acquisitions that callers wait on, which keep the
	// credential's retry settings. It is not part of the key.
	Background bool
	// Lock is set by the engine, like Background, on the Request it hands
	// to [Acquirer.Acquire] while it holds a [LockingStore]'s lock for the
	// key: an Acquirer that takes store locks of its own passes it on, so
	// that the same lock is not taken twice. It is not part of the key.
	Lock StoreLock
}

// Key identifies a cache entry across every layer, including a second-level
// [Store]. Scopes are normalised: split on spaces, lower-cased, de-duplicated
// and sorted. Key values handed to a Store are owned by the engine and must
// not be modified.
type Key struct {
	Authority     string
	ClientID      string
	TenantID      string
	Scopes        []string
	CAE           bool
	Account       string
	AssertionHash string
	Identity      string
}

// ScopeString is the key's scopes joined by spaces, the form token endpoints
// and the MSAL cache schema use.
func (k Key) ScopeString() string { return strings.Join(k.Scopes, " ") }

// ErrNoScopes is returned for a request without a single non-empty scope.
var ErrNoScopes = errors.New("at least one scope is required")

// normalize returns a copy of r with its key fields in normal form: scopes
// split on white space, ASCII-lower-cased, sorted and de-duplicated, the
// tenant lower-cased. It allocates; the hit path needs it only for requests
// that hashKey cannot hash as they are.
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

// hashKey hashes r's key fields as their normal form, ASCII-lower-casing
// on the fly, so that "User.Read" and "user.read" find one entry without
// allocating. ok is false when r needs real normalisation first: white
// space in a string (several scopes in one), non-ASCII text, an empty
// scope, or scopes not in strictly increasing order once lower-cased.
// The seed is per cache, so no outside party can choose keys that collide.
func hashKey(seed maphash.Seed, r *Request) (h uint64, ok bool) {
	if len(r.Scopes) == 0 {
		return 0, false
	}
	h, ok = hashLower(seed, r.TenantID)
	for i, s := range r.Scopes {
		x, sok := hashLower(seed, s)
		ok = ok && sok && s != "" && (i == 0 || compareFold(r.Scopes[i-1], s) < 0)
		h = mix(h, x)
	}
	if !ok {
		return 0, false
	}
	// The other fields are never normalised; each is mixed in with its
	// own tag, so that a value in one field never hashes as another.
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

// hashLower hashes the ASCII lower case of s, lower-casing into a stack
// buffer. It reports false when s holds white space or non-ASCII bytes:
// such strings need normalize.
func hashLower(seed maphash.Seed, s string) (uint64, bool) {
	var buf [64]byte
	if len(s) > len(buf) {
		return hashLowerLong(seed, s)
	}
	b := buf[:copy(buf[:], s)]
	if !lowerASCII(b) {
		return 0, false
	}
	return maphash.Bytes(seed, b), true
}

// hashLowerLong is hashLower for strings longer than its buffer, written in
// chunks: maphash hashes a byte sequence the same however it is split.
func hashLowerLong(seed maphash.Seed, s string) (uint64, bool) {
	var buf [64]byte
	var h maphash.Hash
	h.SetSeed(seed)
	for len(s) > 0 {
		b := buf[:copy(buf[:], s)]
		if !lowerASCII(b) {
			return 0, false
		}
		h.Write(b)
		s = s[len(b):]
	}
	return h.Sum64(), true
}

// lowerASCII lower-cases b's ASCII letters in place, and reports false if
// b holds white space or non-ASCII bytes.
func lowerASCII(b []byte) bool {
	for i, c := range b {
		switch {
		case c >= 0x80 || c == ' ' || (c >= '\t' && c <= '\r'):
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
			if x < y {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}

// equalLower reports whether canon (already lower case) is the ASCII lower
// case of s.
func equalLower(canon, s string) bool {
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

// matches reports whether r names key k. r is in normal form, or would be
// once ASCII-lower-cased (a request hashKey accepts).
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

// shardBits sets the number of index shards, each with its own writer lock.
// 32 keeps the empty index small (credentials are sometimes created per
// request) while letting misses on different keys insert in parallel.
const shardBits = 5

// index maps key hashes to entries. Each shard publishes an immutable map
// through one atomic pointer: readers load it and look, never locking;
// writers serialise per shard and publish a modified copy. A miss copies
// one shard (maps.Clone copies the table without rehashing), which is
// small next to the token request the miss makes.
type index struct {
	shards [1 << shardBits]shard
	count  atomic.Int64
}

type shard struct {
	mu sync.Mutex // serialises writers; readers never take it
	m  atomic.Pointer[map[uint64][]*entry]
}

func (x *index) shard(h uint64) *shard { return &x.shards[h>>(64-shardBits)] }

// find returns the entry for r with hash h, or nil.
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

// findOrAdd returns the entry for r, inserting the one built by mk when there
// is none. The boolean reports whether mk's entry was inserted.
func (x *index) findOrAdd(h uint64, r *Request, mk func() *entry) (*entry, bool) {
	s := x.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := x.find(h, r); e != nil {
		return e, false
	}
	e := mk()
	e.hash = h
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

// remove deletes the given entries (all from shard s) and returns how many
// were present. A nil victims empties the shard.
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
	s.m.Store(&m)
	x.count.Add(-int64(n))
	return n
}

// each calls f for every entry in the current snapshots of all shards.
func (x *index) each(f func(s *shard, e *entry)) {
	for i := range x.shards {
		s := &x.shards[i]
		if m := s.m.Load(); m != nil {
			for _, es := range *m {
				for _, e := range es {
					f(s, e)
				}
			}
		}
	}
}
