package tokencache

import (
	"math/rand/v2"
	"sync/atomic"
)

// Stats counts what the engine did. Every field only grows, except Entries.
type Stats struct {
	// Hits are calls answered from memory without waiting.
	Hits uint64
	// Misses are calls that found no usable token and waited for one.
	Misses uint64
	// Coalesced are the Misses that joined an acquisition another call had
	// already started (single-flight at work).
	Coalesced uint64
	// Acquisitions are requests made to the token source (the network),
	// foreground and background.
	Acquisitions uint64
	// AcquisitionFailures are failed acquisitions of either kind.
	AcquisitionFailures uint64
	// BackgroundRefreshes are refreshes started ahead of expiry while
	// callers kept being served (answered by the store or the network).
	BackgroundRefreshes uint64
	// RefreshFailures are failed background refreshes; the cached token
	// stayed in service.
	RefreshFailures uint64
	// StoreHits are misses answered by the second-level store.
	StoreHits uint64
	// StoreErrors are failed reads or writes of the second-level store.
	StoreErrors uint64
	// Evictions are entries dropped to keep the cache under its bound.
	Evictions uint64
	// Invalidations are tokens dropped because a resource rejected them.
	Invalidations uint64
	// Cleared are entries dropped by [Cache.Clear].
	Cleared uint64
	// Puts are tokens acquired elsewhere (an interactive sign-in) and
	// handed to [Cache.Put]; they count neither as Misses nor as
	// Acquisitions.
	Puts uint64
	// Entries is the number of keys currently held.
	Entries int
}

// counters holds the live counts. Hits happen on every core at once, so they
// are spread over padded cells to keep cores from fighting over one cache
// line; the rest happen on slow paths and are plain atomics.
type counters struct {
	hits                                     stripedCounter
	misses, coalesced, acquisitions          atomic.Uint64
	acquisitionFailures, backgroundRefreshes atomic.Uint64
	refreshFailures, storeHits, storeErrors  atomic.Uint64
	evictions, invalidations, clears, puts   atomic.Uint64
}

const (
	stripeBits = 5
	stripes    = 1 << stripeBits
)

type stripedCounter struct {
	cells [stripes]struct {
		// Padding on both sides keeps each counter alone on its cache line
		// (and its prefetch pair) whatever the struct's alignment.
		_ [64]byte
		n atomic.Uint64
		_ [56]byte
	}
}

// add counts one hit in a cell picked at random. math/rand/v2's generator
// is per thread in the runtime (a few ns, no shared state), so cores
// rarely write the same cell at once; a cell per goroutine would need the
// goroutine's identity, which Go does not expose.
func (c *stripedCounter) add() {
	c.cells[rand.Uint32()>>(32-stripeBits)].n.Add(1)
}

func (c *stripedCounter) load() uint64 {
	var n uint64
	for i := range c.cells {
		n += c.cells[i].n.Load()
	}
	return n
}
