// Package tokencache is azid's token cache engine, the one place where
// access tokens are kept, refreshed and shared. A credential says how to
// acquire a token (an [Acquirer]); a [Cache] decides when.
//
// GetToken hashes the request as its normal form (letter case folded as it
// reads), finds the entry in a sharded index of immutable maps, and looks at
// the entry's token at the current time (see tokenState):
//
//   - fresh: served. No lock, no allocation, no I/O.
//   - refreshDue: served, and one background acquisition replaces it unless
//     one is running or a backoff defers it. A failed refresh leaves the
//     token in service and retries with backoff (Request.Background asks
//     the Acquirer for a single try per step).
//   - expired or missing: the caller waits for the key's one acquisition
//     (single flight), which runs detached from any caller's context: the
//     Store first, then the network. Inside a server's Retry-After the
//     caller gets a [ThrottledError] at once. Waiters of an acquisition that
//     hung (a [HungError]) get one fresh acquisition instead of its error.
//
// Tokens acquired elsewhere (an interactive sign-in) enter through
// [Cache.Put]. The timing rules live in state.go, lookup and eviction in
// index.go, single flight in flight.go, the second level in store.go.
package tokencache
