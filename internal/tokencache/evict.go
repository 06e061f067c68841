package tokencache

import (
	"slices"
	"sync"
)

// evictor keeps the cache under Options.MaxEntries. It runs on the insert
// path of a miss, after the insert, and only one eviction runs at a time.
type evictor struct{ mu sync.Mutex }

// run drops entries until the cache is at most 15/16 of its bound, so that
// evictions come in batches rather than on every insert. Expired and empty
// entries go first, then those closest to expiry. Entries with an
// acquisition in flight are spared: their waiters expect to see the result
// cached.
func (v *evictor) run(c *Cache) {
	max := int64(c.opts.MaxEntries)
	// An insert whose run found another one under way relies on that run to
	// see its entry: so after each pass, look again, and pass again if the
	// cache is still over its bound and the last pass made progress.
	for c.idx.count.Load() > max && v.mu.TryLock() {
		n := v.pass(c, max)
		v.mu.Unlock()
		if n == 0 {
			return // everything left is busy; the next insert tries again
		}
	}
}

// pass evicts once and returns how many entries it dropped.
func (v *evictor) pass(c *Cache, max int64) int {
	if c.idx.count.Load() <= max {
		return 0
	}
	target := max - max/16
	now := c.now()

	type cand struct {
		s   *shard
		e   *entry
		exp int64
	}
	var cands []cand
	c.idx.each(func(s *shard, e *entry) {
		e.mu.Lock()
		busy := len(e.flights) > 0
		e.mu.Unlock()
		if busy {
			return
		}
		exp := int64(0) // empty entries sort first
		if st := e.state.Load(); st.at(now) != expired {
			exp = st.expiresAt
		}
		cands = append(cands, cand{s, e, exp})
	})
	slices.SortFunc(cands, func(a, b cand) int {
		switch {
		case a.exp < b.exp:
			return -1
		case a.exp > b.exp:
			return 1
		}
		return 0
	})
	excess := c.idx.count.Load() - target
	victims := map[*shard]map[*entry]bool{}
	for _, cd := range cands {
		// Unusable entries are always worth dropping; usable ones only
		// while over the target.
		if cd.exp != 0 && excess <= 0 {
			break
		}
		if victims[cd.s] == nil {
			victims[cd.s] = map[*entry]bool{}
		}
		victims[cd.s][cd.e] = true
		excess--
	}
	n := 0
	for s, es := range victims {
		n += c.idx.remove(s, es)
	}
	if n > 0 {
		c.n.evictions.Add(uint64(n))
		c.emit(Event{Kind: EventEvicted, Count: n})
	}
	return n
}
