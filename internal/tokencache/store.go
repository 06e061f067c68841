package tokencache

import (
	"context"
	"hash/maphash"
	"log/slog"
	"time"
)

// Store is a second level under the in-memory index: a persistent cache on
// disk, or a distributed one shared by a fleet. The engine reads it only on
// a miss, before the network, and writes a network token to it before the
// waiting callers get it (so a process that exits right after GetToken has
// persisted it). Its errors never fail a GetToken: the engine counts them,
// logs them and carries on.
type Store interface {
	// Load returns k's token, if any; the engine checks it is usable.
	Load(ctx context.Context, k Key) (Stored, bool, error)
	Save(ctx context.Context, k Key, t Stored) error // replaces k's token
}

// Stored is a token as a Store keeps it: absolute times, so another process
// can tell how old it is.
type Stored struct {
	AccessToken string
	ExpiresOn   time.Time
	RefreshOn   time.Time // from the server's refresh_in; zero without one
	CachedAt    time.Time // when the token was acquired
}

// DeletingStore is a [Store] that can forget a token a resource rejected,
// so that no other process (or a later run) takes it back.
type DeletingStore interface {
	Store
	// Delete removes k's token if it is still token, keeping a newer one.
	Delete(ctx context.Context, k Key, token string) error
}

// StoreLock is a [LockingStore]'s hold on one key: Store's Load and Save
// for that key, under the lock. Unlock calls after the first do nothing.
type StoreLock interface {
	Load(ctx context.Context) (Stored, bool, error)
	Save(ctx context.Context, t Stored) error
	Unlock()
}

// LockingStore is a [Store] shared by many processes or machines that holds
// the others off a key while one acquires it: of N instances missing a key,
// one asks the network and the rest read its result. On a miss the engine
// locks, loads again through the lock, and if still missing acquires the
// token (the Acquirer sees the lock as [Request.Lock]) and saves it through
// the lock before unlocking.
type LockingStore interface {
	Store
	Lock(ctx context.Context, k Key) (StoreLock, error)
}

// loadStore asks the Store (through lk if held) for e's token. It is taken
// when usable and, for a background refresh, fresh and other than the one
// being refreshed (another process refreshed it); a token a resource
// rejected is never taken back.
func (c *Cache) loadStore(ctx context.Context, e *entry, now time.Time, background bool, lk StoreLock) *state {
	load := func(ctx context.Context) (Stored, bool, error) { return c.opts.Store.Load(ctx, e.key) }
	if lk != nil {
		load = lk.Load
	}
	t, ok, err := load(ctx)
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
	save := func(ctx context.Context, t Stored) error { return c.opts.Store.Save(ctx, e.key, t) }
	if lk != nil {
		save = lk.Save
	}
	if err := save(ctx, t); err != nil {
		c.storeError(ctx, e, "token store write failed; the token is cached in memory only", err)
	}
}

// storeError counts and logs a failure of the Store.
func (c *Cache) storeError(ctx context.Context, e *entry, msg string, err error) {
	c.n.storeErrors.Add(1)
	c.opts.Logger.LogAttrs(ctx, slog.LevelWarn, msg, keyAttr(e.key), errAttr(err))
}

// deleteStored forgets an invalidated token in the Store, off the caller's
// path.
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
