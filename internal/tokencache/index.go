package tokencache

import (
	"maps"
	"math"
	"sync"
	"sync/atomic"
)

// shardBits sets the number of index shards, each with its own writer lock.
// 32 keeps the empty index small (credentials are sometimes created per
// request) while letting misses on different keys insert in parallel.
const shardBits = 5

// index maps key hashes to entries. Each shard publishes an immutable pair
// of maps through one atomic pointer: a large base and a small map of recent
// additions. Readers load the pair and look in both, never locking; writers
// serialise per shard and publish a new pair.
//
// An insert copies only the recent map, and folds it into a new base once
// it outgrows the square root of the base (see recentLimit). A
// copy-on-write design with one map per shard copied the whole shard on
// every insert (about 3,000 entries at 100,000 keys); this one copies about
// 80 on average, and the hit path stays what it was: one atomic load and a
// map lookup (two for a key added since the last fold).
type index struct {
	shards [1 << shardBits]shard
	count  atomic.Int64
}

type shard struct {
	mu sync.Mutex // serialises writers; readers never take it
	t  atomic.Pointer[tables]
}

// tables is one shard's published contents; it never changes once stored.
type tables struct {
	base, recent map[uint64][]*entry
}

func (x *index) shard(h uint64) *shard { return &x.shards[h>>(64-shardBits)] }

// find returns the entry for canonical request r with hash h, or nil.
func (x *index) find(h uint64, r *Request) *entry {
	t := x.shard(h).t.Load()
	if t == nil {
		return nil
	}
	for _, e := range t.base[h] {
		if e.key.matches(r) {
			return e
		}
	}
	for _, e := range t.recent[h] {
		if e.key.matches(r) {
			return e
		}
	}
	return nil
}

// findFold is find for a request that is canonical but for letter case
// (see foldable): it compares keys case-insensitively.
func (x *index) findFold(h uint64, r *Request) *entry {
	t := x.shard(h).t.Load()
	if t == nil {
		return nil
	}
	for _, e := range t.base[h] {
		if e.key.matchesFold(r) {
			return e
		}
	}
	for _, e := range t.recent[h] {
		if e.key.matchesFold(r) {
			return e
		}
	}
	return nil
}

// recentLimit is how large the recent map may grow over a base of n
// entries before it is folded in. Each insert copies the recent map (half
// the limit on average) and each fold copies the base (n entries once per
// limit inserts), so a limit near the square root of n keeps both small:
// about 80 entries copied per insert at 100,000 keys (3,000 per shard),
// about 260 at a million.
func recentLimit(n int) int { return 8 + int(math.Sqrt(float64(n))) }

// findOrAdd returns the entry for r, inserting the one built by mk when there
// is none. The boolean reports whether mk's entry was inserted.
func (x *index) findOrAdd(h uint64, r *Request, mk func() *entry) (*entry, bool) {
	s := x.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.t.Load()
	if old == nil {
		old = &tables{}
	}
	for _, e := range old.base[h] {
		if e.key.matches(r) {
			return e, false
		}
	}
	for _, e := range old.recent[h] {
		if e.key.matches(r) {
			return e, false
		}
	}
	e := mk()
	e.hash = h
	// maps.Clone copies a map's table as it is, without rehashing.
	nt := &tables{base: old.base}
	if len(old.recent)+1 > recentLimit(len(old.base)) {
		// Fold: a new base holding everything, and no recent map.
		nt.base = maps.Clone(old.base)
		if nt.base == nil {
			nt.base = make(map[uint64][]*entry, len(old.recent)+1)
		}
		for k, es := range old.recent {
			nt.base[k] = appendFresh(nt.base[k], es...)
		}
		nt.base[h] = appendFresh(nt.base[h], e)
	} else {
		nt.recent = maps.Clone(old.recent)
		if nt.recent == nil {
			nt.recent = make(map[uint64][]*entry, 1)
		}
		nt.recent[h] = appendFresh(nt.recent[h], e)
	}
	s.t.Store(nt)
	x.count.Add(1)
	return e, true
}

// appendFresh appends to a copy of es: the original may be shared with a
// published map.
func appendFresh(es []*entry, more ...*entry) []*entry {
	out := make([]*entry, 0, len(es)+len(more))
	return append(append(out, es...), more...)
}

// remove deletes the given entries (all from one shard) and returns how many
// were present.
func (x *index) remove(s *shard, victims map[*entry]bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.t.Load()
	if old == nil {
		return 0
	}
	n := 0
	filter := func(m map[uint64][]*entry) map[uint64][]*entry {
		if len(m) == 0 {
			return nil
		}
		out := make(map[uint64][]*entry, len(m))
		for h, es := range m {
			var keep []*entry
			for _, e := range es {
				if victims[e] {
					// The memo may still point at e; it checks this flag.
					e.dead.Store(true)
					n++
					continue
				}
				keep = append(keep, e)
			}
			if len(keep) > 0 {
				out[h] = keep
			}
		}
		return out
	}
	s.t.Store(&tables{base: filter(old.base), recent: filter(old.recent)})
	x.count.Add(-int64(n))
	return n
}

// clearShard empties one shard, flagging its entries dead so that the memo
// (which may still point at them) stops serving them.
func (x *index) clearShard(s *shard) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.t.Load()
	if t == nil {
		return 0
	}
	n := 0
	t.each(func(e *entry) {
		e.dead.Store(true)
		n++
	})
	s.t.Store(nil)
	x.count.Add(-int64(n))
	return n
}

func (t *tables) each(f func(*entry)) {
	for _, m := range [2]map[uint64][]*entry{t.base, t.recent} {
		for _, es := range m {
			for _, e := range es {
				f(e)
			}
		}
	}
}

// each calls f for every entry in the current snapshots of all shards.
func (x *index) each(f func(s *shard, e *entry)) {
	for i := range x.shards {
		s := &x.shards[i]
		if t := s.t.Load(); t != nil {
			t.each(func(e *entry) { f(s, e) })
		}
	}
}
