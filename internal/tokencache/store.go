package tokencache

import (
	"context"
	"hash/maphash"
	"log/slog"
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

// loadStore asks the second level for e's token. A stored token is taken
// when it is usable and, for a background refresh, newer than the one being
// refreshed (another process refreshed it already); a token a resource
// rejected is never taken back.
func (c *Cache) loadStore(ctx context.Context, e *entry, now time.Time, background bool, lk StoreLock) *state {
	var t Stored
	var ok bool
	var err error
	if lk != nil {
		t, ok, err = lk.Load(ctx)
	} else {
		t, ok, err = c.opts.Store.Load(ctx, e.key)
	}
	if err != nil {
		c.storeError(ctx, e, "token store read failed; using the network", err)
		return nil
	}
	if !ok || t.AccessToken == "" {
		return nil
	}
	e.mu.Lock()
	rejected := e.rejected
	e.mu.Unlock()
	if rejected != 0 && maphash.String(c.seed, t.AccessToken) == rejected {
		return nil
	}
	if cur := e.state.Load(); background && cur != nil && cur.tok.Token == t.AccessToken {
		return nil
	}
	issued := t.CachedAt
	if issued.IsZero() || issued.After(now) {
		issued = now
	}
	var refreshIn time.Duration
	if !t.RefreshOn.IsZero() {
		refreshIn = t.RefreshOn.Sub(issued)
	}
	st := c.newState(t.AccessToken, issued, t.ExpiresOn.Sub(issued), refreshIn)
	if s := st.at(now.UnixNano()); s == expired || (background && s != fresh) {
		return nil
	}
	c.n.storeHits.Add(1)
	return st
}

// saveStore writes st to the Store, through lk when the engine holds one.
func (c *Cache) saveStore(ctx context.Context, e *entry, st *state, lk StoreLock) {
	t := Stored{
		AccessToken: st.tok.Token,
		ExpiresOn:   st.tok.ExpiresOn,
		CachedAt:    time.Unix(0, st.cachedAt).UTC(),
	}
	if st.refreshIn > 0 {
		t.RefreshOn = t.CachedAt.Add(st.refreshIn)
	}
	var err error
	if lk != nil {
		err = lk.Save(ctx, t)
	} else {
		err = c.opts.Store.Save(ctx, e.key, t)
	}
	if err != nil {
		c.storeError(ctx, e, "token store write failed; the token is cached in memory only", err)
	}
}

// storeError counts, reports and logs a failure of the second level; it
// never fails a GetToken.
func (c *Cache) storeError(ctx context.Context, e *entry, msg string, err error) {
	c.n.storeErrors.Add(1)
	c.opts.Logger.LogAttrs(ctx, slog.LevelWarn, msg, keyAttr(e.key), errAttr(err))
}

// deleteStored forgets an invalidated token in the second level, off the
// caller's path.
func (c *Cache) deleteStored(e *entry, token string) {
	ds, ok := c.opts.Store.(DeletingStore)
	if !ok {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.AcquireTimeout)
		defer cancel()
		if err := ds.Delete(ctx, e.key, token); err != nil {
			c.storeError(ctx, e, "token store delete failed; the rejected token stays stored but is never served", err)
		}
	}()
}
