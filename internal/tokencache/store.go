package tokencache

import (
	"context"
	"time"
)

// Store is a second-level cache under the engine's in-memory index: a
// persistent cache on disk, or a distributed one shared by a fleet. The
// engine consults it only on a miss, before asking the network, and writes
// to it after a network acquisition, before the waiting callers get the
// token (so that a process that exits right after GetToken has persisted
// it). It is never touched on a hit.
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

// DeletingStore is a [Store] that can forget a token a resource rejected.
// The engine calls Delete after [Cache.Invalidate] dropped token from
// memory, so that no other process (or a later run) takes it back.
type DeletingStore interface {
	Store
	// Delete removes k's stored token if it is still token; a newer token
	// stored meanwhile is kept.
	Delete(ctx context.Context, k Key, token string) error
}

// StoreLock is a LockingStore's hold on one key's storage (see LockingStore).
type StoreLock interface {
	// Load and Save are Store's, for the locked key, run under the lock.
	Load(ctx context.Context) (Stored, bool, error)
	Save(ctx context.Context, t Stored) error
	// Unlock releases the lock; calls after the first do nothing.
	Unlock()
}

// LockingStore is a [Store] shared by many processes or machines that can
// hold the others off a key while one of them acquires it: of N instances
// missing the same key, one asks the network and the rest read its result.
//
// On a miss the engine calls Lock, loads again through the lock (another
// instance may have stored the token while this one waited), and, if still
// missing, acquires the token and saves it through the lock before
// unlocking. The Acquirer sees the lock as [Request.Lock].
type LockingStore interface {
	Store
	Lock(ctx context.Context, k Key) (StoreLock, error)
}
