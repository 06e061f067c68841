package tokencache

import (
	"sync"
	"sync/atomic"
)

const (
	// shardBits sets the number of index shards, each with its own writer
	// lock. 32 keeps the empty index small (credentials are sometimes
	// created per request) while letting misses on different keys insert
	// in parallel.
	shardBits = 5
	// levelBits sets the fan-out of the trie under each shard: 16 children
	// per branch, so 100,000 keys sit about three branches deep.
	levelBits = 4
	fanout    = 1 << levelBits
)

// index maps key hashes to entries. Each shard is a hash trie: a slot holds
// nothing, a leaf (an entry, chained to others whose hash is the same), or a
// branch of 16 slots chosen by the next four bits of the hash. Every slot is
// an atomic pointer and nodes never change once reachable, except that a
// branch's slots are replaced one at a time, so readers follow pointers
// without locking, allocating or retrying, and always see either the old or
// the new contents of a slot: both are correct answers.
//
// Writers serialise per shard. An insert replaces a single slot: with a new
// leaf, or with a new branch holding the old leaf and the new one when
// their hashes share the prefix so far. It costs a few small allocations,
// whatever the cache holds; a copy-on-write map copied the whole shard,
// thousands of entries per insert at 100,000 keys.
type index struct {
	shards [1 << shardBits]shard
	count  atomic.Int64
}

type shard struct {
	mu   sync.Mutex // serialises writers; readers never take it
	root atomic.Pointer[node]
}

// node is a leaf when kids is nil, else a branch. A leaf's e and next never
// change; a branch's kids are replaced by writers holding the shard's lock.
type node struct {
	e    *entry
	next *node // another leaf in the same slot: same hash, or the trie's last level
	kids *[fanout]atomic.Pointer[node]
}

// rootShift is the shift that picks a child of a shard's root branch; each
// level below uses the next levelBits bits. A slot whose shift would be
// negative is on the last level and chains leaves of different hashes.
const rootShift = 64 - shardBits - levelBits

func (x *index) shard(h uint64) *shard { return &x.shards[h>>(64-shardBits)] }

func child(n *node, h uint64, shift int) *atomic.Pointer[node] {
	return &n.kids[(h>>uint(shift))&(fanout-1)]
}

// find returns the entry for canonical request r with hash h, or nil.
func (x *index) find(h uint64, r *Request) *entry {
	n := x.shard(h).root.Load()
	// Branches exist only where shift >= 0, so the shift never goes below.
	for shift := rootShift; n != nil && n.kids != nil; shift -= levelBits {
		n = child(n, h, shift).Load()
	}
	for ; n != nil; n = n.next {
		if n.e.hash == h && n.e.key.matches(r) {
			return n.e
		}
	}
	return nil
}

// findFold is find for a request that is canonical but for letter case
// (see foldable): it compares keys case-insensitively.
func (x *index) findFold(h uint64, r *Request) *entry {
	n := x.shard(h).root.Load()
	for shift := rootShift; n != nil && n.kids != nil; shift -= levelBits {
		n = child(n, h, shift).Load()
	}
	for ; n != nil; n = n.next {
		if n.e.hash == h && n.e.key.matchesFold(r) {
			return n.e
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
	slot, shift := &s.root, rootShift
	for {
		n := slot.Load()
		if n != nil && n.kids != nil {
			slot, shift = child(n, h, shift), shift-levelBits
			continue
		}
		for l := n; l != nil; l = l.next {
			if l.e.hash == h && l.e.key.matches(r) {
				return l.e, false
			}
		}
		e := mk()
		e.hash = h
		leaf := &node{e: e}
		switch {
		case n == nil:
		case shift < 0 || n.e.hash == h:
			leaf.next = n
		default:
			leaf = split(n, leaf, shift)
		}
		// Readers see the slot's old contents or all of the new ones: split
		// builds its branch completely before this one store publishes it.
		slot.Store(leaf)
		x.count.Add(1)
		return e, true
	}
}

// split returns a branch holding the leaf chain old (whose entries share
// one hash) and the new leaf nw, whose hash differs, descending while the
// two hashes pick the same child.
func split(old, nw *node, shift int) *node {
	b := &node{kids: new([fanout]atomic.Pointer[node])}
	ho, hn := old.e.hash, nw.e.hash
	io, in := (ho>>uint(shift))&(fanout-1), (hn>>uint(shift))&(fanout-1)
	switch {
	case io != in:
		b.kids[io].Store(old)
		b.kids[in].Store(nw)
	case shift-levelBits < 0:
		nw.next = old // the last level: chain
		b.kids[in].Store(nw)
	default:
		b.kids[in].Store(split(old, nw, shift-levelBits))
	}
	return b
}

// remove deletes the given entries (all from one shard) and returns how many
// were present. Branches left empty are dropped, so a cache whose keys come
// and go (on-behalf-of users) does not accumulate empty branches.
func (x *index) remove(s *shard, victims map[*entry]bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := removeIn(&s.root, victims)
	x.count.Add(-int64(n))
	return n
}

func removeIn(slot *atomic.Pointer[node], victims map[*entry]bool) int {
	n := slot.Load()
	if n == nil {
		return 0
	}
	if n.kids != nil {
		removed, empty := 0, true
		for i := range n.kids {
			removed += removeIn(&n.kids[i], victims)
			if n.kids[i].Load() != nil {
				empty = false
			}
		}
		if empty {
			slot.Store(nil)
		}
		return removed
	}
	removed := 0
	for l := n; l != nil; l = l.next {
		if victims[l.e] {
			removed++
		}
	}
	if removed == 0 {
		return 0
	}
	// Rebuild the chain without the victims; the old one stays intact for
	// readers still walking it.
	var keep *node
	for l := n; l != nil; l = l.next {
		if victims[l.e] {
			// The memo may still point at the entry; it checks this flag.
			l.e.dead.Store(true)
			continue
		}
		keep = &node{e: l.e, next: keep}
	}
	slot.Store(keep)
	return removed
}

// clearShard empties one shard, flagging its entries dead so that the memo
// (which may still point at them) stops serving them.
func (x *index) clearShard(s *shard) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	walk(s.root.Load(), func(e *entry) {
		e.dead.Store(true)
		n++
	})
	s.root.Store(nil)
	x.count.Add(-int64(n))
	return n
}

// each calls f for every entry in the current snapshots of all shards.
func (x *index) each(f func(s *shard, e *entry)) {
	for i := range x.shards {
		s := &x.shards[i]
		walk(s.root.Load(), func(e *entry) { f(s, e) })
	}
}

func walk(n *node, f func(*entry)) {
	if n == nil {
		return
	}
	if n.kids != nil {
		for i := range n.kids {
			walk(n.kids[i].Load(), f)
		}
		return
	}
	for ; n != nil; n = n.next {
		f(n.e)
	}
}
