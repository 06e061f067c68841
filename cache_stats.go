package azid

import "github.com/azid-go/azid/internal/tokencache"

// CacheStats counts what a credential's token cache has done since the
// credential was created. Use it to check that caching works as you expect
// ("1,000 calls, 1 token request") or to export metrics: every field but
// Entries only grows, so export them as counters (Entries as a gauge).
//
// Reading the counters is cheap (a few dozen atomic loads) and never blocks
// GetToken; scrape them as often as you like. Every azid credential and
// [CachingCredential] has a CacheStats method; an exporter can accept them
// all through an interface of its own:
//
//	type statser interface{ CacheStats() azid.CacheStats }
type CacheStats struct {
	// Hits are GetToken calls answered from memory without waiting.
	Hits uint64
	// Misses are calls that found no usable token and waited for one: the
	// callers that waited.
	Misses uint64
	// Coalesced are the Misses that shared another call's token request
	// instead of making their own.
	Coalesced uint64
	// TokenRequests are requests for a token made to Entra, foreground and
	// background, sign-ins included.
	TokenRequests uint64
	// SignIns are the TokenRequests that signed a user in (a browser,
	// device code or password sign-in, through Authenticate or a first
	// GetToken) rather than being made by the cache. Credentials without a
	// user report 0.
	SignIns uint64
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
	// StoreHits are misses answered by the persistent or distributed cache
	// instead of the network.
	StoreHits uint64
	// StoreErrors are failed reads or writes of the persistent or
	// distributed cache; the credential carried on without it.
	StoreErrors uint64
	// Cleared are tokens dropped because the identity behind them may have
	// changed: the developer-tool credentials (Azure CLI, Azure Developer
	// CLI, Azure PowerShell) empty their cache when the tool's signed-in
	// account changes, so no token of the previous account is served again.
	// Other credentials never clear and report 0.
	Cleared uint64
	// Entries is the number of cache keys currently held.
	Entries int
}

func cacheStatsOf(s tokencache.Stats) CacheStats {
	return CacheStats{
		Hits:                 s.Hits,
		Misses:               s.Misses,
		Coalesced:            s.Coalesced,
		TokenRequests:        s.Acquisitions + s.Puts,
		SignIns:              s.Puts,
		TokenRequestFailures: s.AcquisitionFailures,
		BackgroundRefreshes:  s.BackgroundRefreshes,
		RefreshFailures:      s.RefreshFailures,
		Evictions:            s.Evictions,
		Invalidations:        s.Invalidations,
		StoreHits:            s.StoreHits,
		StoreErrors:          s.StoreErrors,
		Cleared:              s.Cleared,
		Entries:              s.Entries,
	}
}
