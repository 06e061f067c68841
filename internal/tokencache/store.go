package tokencache

import (
	"context"
	"time"
)

// Store is a second-level cache under the engine's in-memory index: a
// persistent cache on disk, or a distributed one shared by a fleet. The
// engine consults it only on a miss, before asking the network, and writes
// to it after a network acquisition. It is never touched on a hit.
//
// A Store's errors never fail a GetToken call: the engine counts them, logs
// them and carries on with the network.
type Store interface {
	// Load returns the token stored under k, if any. A token that is no
	// longer usable may be returned; the engine checks.
	Load(ctx context.Context, k Key) (Stored, bool, error)
	// Save stores t under k, replacing what was there.
	Save(ctx context.Context, k Key, t Stored) error
}

// Stored is a token as a Store keeps it: absolute times, so that another
// process can tell how old it is.
type Stored struct {
	AccessToken string
	ExpiresOn   time.Time
	// RefreshOn is the server's suggested refresh time (refresh_in), zero
	// when it gave none.
	RefreshOn time.Time
	// CachedAt is when the token was acquired.
	CachedAt time.Time
}
