package azid

import "github.com/azid-go/azid/internal/tokencache"

// CacheStats counts what a credential's token cache has done since the
// credential was created. Use it to check that caching works as you expect
// ("1,000 calls, 1 token request") or to export metrics.
type CacheStats struct {
	// Hits are GetToken calls answered from memory without waiting.
	Hits uint64
	// Misses are calls that found no usable token and waited for one.
	Misses uint64
	// Coalesced are the Misses that shared another call's token request
	// instead of making their own.
	Coalesced uint64
	// TokenRequests are acquisitions from Entra, foreground and background.
	TokenRequests uint64
	// TokenRequestFailures are failed acquisitions of either kind.
	TokenRequestFailures uint64
	// BackgroundRefreshes are token requests made ahead of expiry while
	// callers kept being served the cached token.
	BackgroundRefreshes uint64
	// RefreshFailures are failed background refreshes; the cached token
	// stayed in service and the refresh was retried later.
	RefreshFailures uint64
	// Evictions are tokens dropped to keep the cache within its bound.
	Evictions uint64
	// Invalidations are tokens dropped because a resource rejected them.
	Invalidations uint64
	// PersistentHits are Misses answered by the persistent cache (a token
	// another credential, process or run stored) instead of Entra.
	PersistentHits uint64
	// PersistentErrors are failed reads or writes of the persistent cache;
	// they never fail a GetToken (the cause is logged).
	PersistentErrors uint64
	// Entries is the number of cache keys currently held.
	Entries int
}

func cacheStatsOf(s tokencache.Stats) CacheStats {
	return CacheStats{
		Hits:                 s.Hits,
		Misses:               s.Misses,
		Coalesced:            s.Coalesced,
		TokenRequests:        s.Acquisitions,
		TokenRequestFailures: s.AcquisitionFailures,
		BackgroundRefreshes:  s.BackgroundRefreshes,
		RefreshFailures:      s.RefreshFailures,
		Evictions:            s.Evictions,
		Invalidations:        s.Invalidations,
		PersistentHits:       s.StoreHits,
		PersistentErrors:     s.StoreErrors,
		Entries:              s.Entries,
	}
}
