package tokencache

import (
	"math/rand/v2"
	"runtime"
	"sync"
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

// counters holds the live counts. Hits happen on every core at once (see
// hitCounter); the rest happen on slow paths and are plain atomics.
type counters struct {
	hits                                     hitCounter
	misses, coalesced, acquisitions          atomic.Uint64
	acquisitionFailures, backgroundRefreshes atomic.Uint64
	refreshFailures, storeHits, storeErrors  atomic.Uint64
	evictions, invalidations, clears, puts   atomic.Uint64
}

// hitCounter counts hits in per-processor cells: sync.Pool keeps one cell
// per P, so each core adds to a cache line of its own. A cell picked at
// random per call measured more than twice as slow in parallel, as every
// line ends up written by every core in turn. Cells the pool drops at a
// GC stay in cells, and new ones are made only up to a bound, past which
// the old ones are reused: a shared cell is still counted right.
type hitCounter struct {
	pool  sync.Pool // of *hitCell
	mu    sync.Mutex
	cells []*hitCell
}

type hitCell struct {
	n atomic.Uint64
	_ [120]byte // a cache line (and its prefetch pair) of its own
}

func (c *hitCounter) add() {
	cell, _ := c.pool.Get().(*hitCell)
	if cell == nil {
		cell = c.cell()
	}
	cell.n.Add(1)
	c.pool.Put(cell)
}

func (c *hitCounter) cell() *hitCell {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.cells); n >= 4*runtime.GOMAXPROCS(0) {
		return c.cells[rand.IntN(n)]
	}
	cell := new(hitCell)
	c.cells = append(c.cells, cell)
	return cell
}

func (c *hitCounter) load() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n uint64
	for _, cell := range c.cells {
		n += cell.n.Load()
	}
	return n
}
