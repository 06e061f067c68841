package tokencache

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// entry is one cache key's slot. Its key and req never change after
// creation; its token lives in an immutable state behind an atomic pointer.
type entry struct {
	key  Key
	req  Request // what to send when acquiring: the first caller's scopes, split and de-duplicated
	hash uint64

	state atomic.Pointer[state]
	// dead is set when the entry leaves the index (eviction), so that the
	// memo, which may still point at it, stops serving it.
	dead atomic.Bool
	// nextRefresh is the Unix-nanosecond time before which no background
	// refresh may start. It is the state's refresh time after a success, a
	// backoff after a failure, and MaxInt64 while a refresh runs. The hit
	// path reads it only once a token is past its refresh time.
	nextRefresh atomic.Int64

	mu sync.Mutex // guards the fields below; never held across I/O
	// fl is the plain acquisition in flight, if any; claims acquisitions
	// fly separately because their result differs.
	fl       *flight
	claimsFl map[string]*flight
	// failures counts consecutive failed background refreshes.
	failures int
	// blockedUntil is the end of the last Retry-After: foreground
	// acquisitions fail fast until then rather than hammer a throttling
	// service.
	blockedUntil int64
	lastErr      error
	// rejected is the hash of the last token invalidated by value, so a
	// second-level store still holding it is not believed.
	rejected uint64
}

// state is an immutable snapshot of a cached token.
type state struct {
	tok azcore.AccessToken
	schedule
	cachedAt int64
	// refreshIn is the server's refresh_in (0 when absent), kept so a
	// Store records the server's advice rather than this process's jitter.
	refreshIn time.Duration
}
