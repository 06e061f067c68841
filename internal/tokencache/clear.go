package tokencache

// Clear drops every entry, as if the cache were new, and returns how many it
// dropped. A credential calls it when the identity behind its tokens may
// have changed (a developer tool signed in as someone else), so no token of
// the previous identity is served again.
//
// Acquisitions in flight are not stopped: their waiters still receive the
// result, but it lands in a dropped entry and is never served to a later
// caller, who starts a fresh acquisition instead. That is what makes Clear
// safe against a token of the old identity arriving after the call. A
// GetToken running concurrently with Clear may still be answered from the
// index as it was just before.
func (c *Cache) Clear() int {
	n := 0
	for i := range c.idx.shards {
		n += c.idx.remove(&c.idx.shards[i], nil)
	}
	if n > 0 {
		c.n.clears.Add(uint64(n))
		c.emit(Event{Kind: EventCleared, Count: n})
	}
	return n
}
