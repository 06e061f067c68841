package tokencache

import (
	"context"
	"errors"
	"hash/maphash"
	"math"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// maxTime parks an entry's nextRefresh while a refresh runs.
const maxTime = math.MaxInt64

// flight is one acquisition in progress; every caller of the key waits on
// the same one. done is closed after tok and err are set.
type flight struct {
	done chan struct{}
	tok  azcore.AccessToken
	err  error
}

// ErrEmptyToken is reported when a token source returns success without a
// token or with a lifetime that is not positive. Nothing is cached.
var ErrEmptyToken = errors.New("the token source returned no token or a token that has already expired")

// flightLocked returns the acquisition in flight for e and claims, starting
// one if there is none. e.mu must be held. The acquisition runs on its own
// goroutine with ctx's values but not its cancellation: the caller that
// happened to start it may give up, the others still want the token.
func (c *Cache) flightLocked(ctx context.Context, e *entry, claims string, background bool) (*flight, bool) {
	if f := e.flights[claims]; f != nil {
		return f, false
	}
	f := &flight{done: make(chan struct{})}
	if e.flights == nil {
		e.flights = make(map[string]*flight)
	}
	e.flights[claims] = f
	if claims == "" {
		e.nextRefresh.Store(maxTime)
	}
	if background {
		c.n.backgroundRefreshes.Add(1)
	}
	// Context deadlines are wall-clock times, whatever the engine's Clock.
	deadline := time.Now().Add(c.opts.AcquireTimeout)
	if c.opts.ExtendToCallerDeadline && !background {
		if d, ok := ctx.Deadline(); ok && d.After(deadline) {
			deadline = d
		}
	}
	go c.fly(context.WithoutCancel(ctx), e, f, claims, background, deadline)
	return f, true
}

// fly performs one acquisition, until deadline: the Store first (not
// for claims, which must reach the service), then the network; for a
// network token it writes the Store, then lands the result.
func (c *Cache) fly(parent context.Context, e *entry, f *flight, claims string, background bool, deadline time.Time) {
	ctx, cancel := context.WithDeadline(parent, deadline)
	defer cancel()
	start := time.Unix(0, c.now())

	var st *state
	var lk StoreLock
	if claims == "" && c.opts.Store != nil {
		st = c.loadStore(ctx, e, start, background, nil)
		if ls, ok := c.opts.Store.(LockingStore); ok && st == nil {
			// Hold the other instances off this key, then look again: one
			// of them may have stored the token while this one waited.
			l, err := ls.Lock(ctx, e.key)
			if err != nil {
				c.storeError(ctx, e, "token store lock failed; acquiring without it", err)
			} else {
				lk = l
				defer lk.Unlock()
				st = c.loadStore(ctx, e, start, background, lk)
			}
		}
	}
	fromStore := st != nil
	var err error
	if st == nil {
		req := e.req
		req.Claims, req.Background, req.Lock = claims, background, lk
		c.n.acquisitions.Add(1)
		var tok Token
		tok, err = c.acq.Acquire(ctx, req)
		if err == nil {
			if tok.AccessToken == "" || tok.ExpiresIn <= 0 {
				err = ErrEmptyToken
			} else {
				st = c.newState(tok.AccessToken, start, tok.ExpiresIn, tok.RefreshIn)
			}
		}
	}
	// A network token is stored before the waiters get it: once GetToken
	// returns, the token is persisted (or the failure logged), so a
	// short-lived process that exits right after still leaves it for the
	// next run. Callers of other keys are not delayed, and during a
	// background refresh the old token keeps being served meanwhile.
	if st != nil && !fromStore && c.opts.Store != nil {
		c.saveStore(ctx, e, st, lk)
	}
	c.land(ctx, e, f, claims, background, st, err, start)
}

// land publishes an acquisition's outcome to the entry and its waiters.
func (c *Cache) land(ctx context.Context, e *entry, f *flight, claims string, background bool, st *state, err error, start time.Time) {
	nowNs := c.now()
	now := time.Unix(0, nowNs)
	ev := Event{Key: e.key, Background: background, Claims: claims != "", Duration: now.Sub(start), Err: err}

	e.mu.Lock()
	if err == nil {
		e.state.Store(st)
		e.failures, e.blockedUntil, e.lastErr = 0, 0, nil
		if e.flights[""] == nil || claims == "" {
			e.nextRefresh.Store(st.refreshAt)
		}
		f.tok = st.tok
		ev.Kind = EventAcquired
	} else {
		c.n.acquisitionFailures.Add(1)
		f.err = err
		ev.Kind = EventAcquireFailed
		var ra time.Duration
		var rae RetryAfterError
		if errors.As(err, &rae) {
			ra = rae.RetryAfterDuration()
		}
		if ra > 0 {
			e.blockedUntil, e.lastErr = max(e.blockedUntil, nowNs+int64(ra)), err
			// The floor holds for the background too, whichever
			// acquisition (a claims one included) heard it.
			deferRefresh(e, e.blockedUntil)
		}
		if claims == "" {
			if cur := e.state.Load(); cur.at(nowNs) != expired {
				// The outage case: the token in hand stays in service and
				// the next attempt waits.
				e.failures++
				// An earlier Retry-After still running is a floor too.
				floor := max(ra, time.Duration(e.blockedUntil-nowNs))
				d := backoff(e.failures, time.Duration(cur.usableUntil-nowNs), floor, c.opts.Rand())
				e.nextRefresh.Store(nowNs + int64(d))
				ev.Kind, ev.RetryIn = EventRefreshFailed, d
				if background {
					c.n.refreshFailures.Add(1)
				}
			} else {
				e.nextRefresh.Store(0)
			}
		}
	}
	delete(e.flights, claims)
	e.mu.Unlock()
	// Observers hear of the outcome before waiters get it, so that whoever
	// reacts to GetToken's return finds the event already reported.
	c.emit(ev)
	c.log(ctx, ev)
	close(f.done)
}

// deferRefresh moves e's next background refresh to at least t. A parked
// value (a refresh running) is left alone: that refresh's landing sets the
// next time, itself never before t.
func deferRefresh(e *entry, t int64) {
	for {
		cur := e.nextRefresh.Load()
		if cur >= t || e.nextRefresh.CompareAndSwap(cur, t) {
			return
		}
	}
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
	c.emit(Event{Kind: EventStoreHit, Key: e.key})
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
	c.emit(Event{Kind: EventStoreError, Key: e.key, Err: err})
	c.opts.Logger.LogAttrs(ctx, slogWarn, msg, keyAttr(e.key), errAttr(err))
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
