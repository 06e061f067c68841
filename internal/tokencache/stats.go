package tokencache

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts what the engine did. Every field only grows, except Entries.
type Stats struct {
	Hits                uint64 // calls answered from memory without waiting
	Misses              uint64 // calls that found no usable token and waited for one
	Coalesced           uint64 // misses that joined an acquisition already started (single flight)
	Acquisitions        uint64 // requests to the token source, foreground and background
	AcquisitionFailures uint64 // failed acquisitions of either kind
	BackgroundRefreshes uint64 // refreshes started while callers kept being served
	RefreshFailures     uint64 // failed background refreshes; the cached token stayed in service
	StoreHits           uint64 // misses answered by the second-level store
	StoreErrors         uint64 // failed reads, writes or locks of the second-level store
	Evictions           uint64 // entries dropped to stay under MaxEntries
	Invalidations       uint64 // tokens dropped because a resource rejected them
	Cleared             uint64 // entries dropped by Clear
	Puts                uint64 // tokens acquired elsewhere and given to Put (neither misses nor acquisitions)
	Entries             int    // keys held now
}

// counters are the live counts: hits on every core at once, the rest on slow paths.
type counters struct {
	hits                                     hitCounter
	misses, coalesced, acquisitions          atomic.Uint64
	acquisitionFailures, backgroundRefreshes atomic.Uint64
	refreshFailures, storeHits, storeErrors  atomic.Uint64
	evictions, invalidations, clears, puts   atomic.Uint64
}

// hitCounter counts in per-processor cells: sync.Pool keeps one per P, so
// each core adds to a cache line of its own (a shared atomic, or a random
// cell per call, measured over twice as slow in parallel). Cells the pool
// drops at a GC stay in cells, which past a bound are handed out again.
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
		c.mu.Lock()
		if n := len(c.cells); n >= 4*runtime.GOMAXPROCS(0) {
			cell = c.cells[rand.IntN(n)]
		} else {
			cell = new(hitCell)
			c.cells = append(c.cells, cell)
		}
		c.mu.Unlock()
	}
	cell.n.Add(1)
	c.pool.Put(cell)
}

func (c *hitCounter) load() (n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cell := range c.cells {
		n += cell.n.Load()
	}
	return n
}

// Stats returns the counters as of now.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits: c.n.hits.load(), Misses: c.n.misses.Load(), Coalesced: c.n.coalesced.Load(),
		Acquisitions: c.n.acquisitions.Load(), AcquisitionFailures: c.n.acquisitionFailures.Load(),
		BackgroundRefreshes: c.n.backgroundRefreshes.Load(), RefreshFailures: c.n.refreshFailures.Load(),
		StoreHits: c.n.storeHits.Load(), StoreErrors: c.n.storeErrors.Load(), Evictions: c.n.evictions.Load(),
		Invalidations: c.n.invalidations.Load(), Cleared: c.n.clears.Load(), Puts: c.n.puts.Load(),
		Entries: int(c.idx.count.Load()),
	}
}

// logOutcome logs an acquisition, never its token. A failed refresh is a
// warning (callers are still served, so nobody else hears of it); other
// failures reach their callers, so they are logged at debug level.
func (c *Cache) logOutcome(ctx context.Context, k Key, background bool, took time.Duration, err error, retryIn time.Duration) {
	attrs := []slog.Attr{keyAttr(k), slog.Bool("background", background), slog.Duration("took", took)}
	switch {
	case err == nil:
		c.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "token acquired", attrs...)
	case retryIn > 0:
		c.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "token refresh failed; serving the cached token", append(attrs, slog.Duration("retry_in", retryIn), errAttr(err))...)
	default:
		c.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "token acquisition failed", append(attrs, errAttr(err))...)
	}
}

func keyAttr(k Key) slog.Attr {
	return slog.Group("key", slog.String("tenant", k.TenantID), slog.String("scopes", k.ScopeString()), slog.Bool("cae", k.CAE))
}

func errAttr(err error) slog.Attr { return slog.String("error", err.Error()) }
