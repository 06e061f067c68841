// Package tokencache is azid's token cache engine: the one place where access
// tokens are kept, refreshed and shared. Credentials describe how to acquire a
// token (an [Acquirer]); a [Cache] decides when to do it.
//
// The engine is built around three promises:
//
//   - A hit is cheap. Looking up a cached token takes no lock, allocates
//     nothing, does no I/O and reads the clock once. Each cache entry holds an
//     atomic pointer to an immutable state; writers replace the whole state.
//     The index is sharded, and each shard publishes an immutable map through
//     one atomic pointer, so a lookup costs the same with one token cached as
//     with a hundred thousand. A request is hashed as its normal form while
//     it is read (ASCII letter case folded), so "User.Read" and "user.read"
//     find one entry without normalising.
//   - Nobody waits for a refresh that could happen in the background. From a
//     token's refresh time on, callers keep receiving it while a single
//     background acquisition replaces it. Callers wait only when no usable
//     token exists, and then all callers of one key share one acquisition
//     (single-flight) that runs detached from any one caller's context.
//   - An outage is survivable. A failed background refresh leaves the cached
//     token in service until it is no longer usable, and retries back off
//     (30 s doubling, capped by the time left), one request per step
//     ([Request.Background] tells the Acquirer to make a single try). A
//     server's Retry-After is a floor for every request of the key: inside
//     it, callers with no usable token get a [ThrottledError] at once. An
//     acquisition whose request hung (a [HungError]) gives its waiters one
//     fresh acquisition rather than its error.
//
// A token is fresh, due for refresh, or expired (see tokenState); the timing
// rules (refresh time, "usable until", backoff) live in state.go, the lookup
// in index.go, single-flight in flight.go. A token acquired elsewhere (an
// interactive sign-in) enters through [Cache.Put].
package tokencache
