package tokencache

import (
	"maps"
	"sync"
	"sync/atomic"
)

// shardBits sets the number of index shards. Writers copy one shard's map, so
// more shards make inserts cheaper in large caches; 32 keeps the empty index
// small (credentials are sometimes created per request).
const shardBits = 5

// index maps key hashes to entries. Readers load one shard's map through an
// atomic pointer and never lock; writers serialise per shard and publish a
// modified copy. A write is paid for by a network acquisition, so copying is
// cheap by comparison, and it keeps the read side free of any synchronisation
// beyond one atomic load.
type index struct {
	shards [1 << shardBits]shard
	count  atomic.Int64
}

type shard struct {
	mu sync.Mutex
	m  atomic.Pointer[map[uint64][]*entry]
}

func (x *index) shard(h uint64) *shard { return &x.shards[h>>(64-shardBits)] }

// find returns the entry for canonical request r with hash h, or nil.
func (x *index) find(h uint64, r *Request) *entry {
	m := x.shard(h).m.Load()
	if m == nil {
		return nil
	}
	for _, e := range (*m)[h] {
		if e.key.matches(r) {
			return e
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
	old := s.m.Load()
	if old != nil {
		for _, e := range (*old)[h] {
			if e.key.matches(r) {
				return e, false
			}
		}
	}
	e := mk()
	e.hash = h
	var m map[uint64][]*entry
	if old == nil {
		m = make(map[uint64][]*entry, 1)
	} else {
		m = maps.Clone(*old)
	}
	// A fresh slice: the old one may be shared with the published map.
	m[h] = append(append([]*entry(nil), m[h]...), e)
	s.m.Store(&m)
	x.count.Add(1)
	return e, true
}

// remove deletes the given entries (all from one shard) and returns how many
// were present.
func (x *index) remove(s *shard, victims map[*entry]bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.m.Load()
	if old == nil {
		return 0
	}
	m := make(map[uint64][]*entry, len(*old))
	n := 0
	for h, es := range *old {
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
		m := s.m.Load()
		if m == nil {
			continue
		}
		for _, es := range *m {
			for _, e := range es {
				f(s, e)
			}
		}
	}
}
