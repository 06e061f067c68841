package tokencache

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

const maxTime = math.MaxInt64 // parks nextRefresh while a refresh runs

// flight is one acquisition in progress, which every caller of the key
// waits on; done is closed once tok or err is set.
type flight struct {
	done chan struct{}
	tok  azcore.AccessToken
	err  error
}

// ErrEmptyToken: the token source returned success without a token or with
// a lifetime that is not positive. Nothing is cached.
var ErrEmptyToken = errors.New("the token source returned no token or a token that has already expired")

// flightLocked returns e's acquisition for claims, starting one if there is
// none, and whether it did; e.mu is held. It runs with ctx's values but not
// its cancellation: the caller that started it may give up, others still
// want the token.
func (c *Cache) flightLocked(ctx context.Context, e *entry, claims string, background bool) (*flight, bool) {
	if f := e.flights[claims]; f != nil {
		return f, false
	}
	f := &flight{done: make(chan struct{})}
	e.flights[claims] = f
	if claims == "" {
		e.nextRefresh.Store(maxTime)
	}
	if background {
		c.n.backgroundRefreshes.Add(1)
	}
	deadline := time.Now().Add(c.opts.AcquireTimeout) // wall-clock, whatever the Clock
	if d, ok := ctx.Deadline(); ok && c.opts.ExtendToCallerDeadline && !background && d.After(deadline) {
		deadline = d
	}
	go c.fly(context.WithoutCancel(ctx), e, f, claims, background, deadline)
	return f, true
}

// fly performs one acquisition, until deadline: the Store first (not for
// claims, which must reach the service), then the network.
func (c *Cache) fly(parent context.Context, e *entry, f *flight, claims string, background bool, deadline time.Time) {
	ctx, cancel := context.WithDeadline(parent, deadline)
	defer cancel()
	start := time.Unix(0, c.now())
	var lk StoreLock
	if claims == "" && c.opts.Store != nil {
		st := c.loadStore(ctx, e, start, background, nil)
		if ls, ok := c.opts.Store.(LockingStore); ok && st == nil {
			// Hold the other instances off the key, then look again: one of
			// them may have stored the token meanwhile.
			if l, err := ls.Lock(ctx, e.key); err != nil {
				c.storeError(ctx, e, "token store lock failed; acquiring without it", err)
			} else {
				lk = l
				defer lk.Unlock()
				st = c.loadStore(ctx, e, start, background, lk)
			}
		}
		if st != nil {
			c.land(ctx, e, f, claims, background, st, nil, start)
			return
		}
	}
	req := e.req
	req.Claims, req.Background, req.Lock = claims, background, lk
	c.n.acquisitions.Add(1)
	tok, err := c.acq.Acquire(ctx, req)
	if err == nil && (tok.AccessToken == "" || tok.ExpiresIn <= 0) {
		err = ErrEmptyToken
	}
	var st *state
	if err == nil {
		st = c.newState(tok.AccessToken, start, tok.ExpiresIn, tok.RefreshIn)
		// Stored before the waiters get it, so a process that exits right
		// after GetToken leaves it for the next run. Other keys are not
		// delayed; during a background refresh the old token is served.
		if c.opts.Store != nil {
			c.saveStore(ctx, e, st, lk)
		}
	}
	c.land(ctx, e, f, claims, background, st, err, start)
}

// land publishes an acquisition's outcome to the entry and its waiters.
func (c *Cache) land(ctx context.Context, e *entry, f *flight, claims string, background bool, st *state, err error, start time.Time) {
	now := c.now()
	var retryIn time.Duration
	e.mu.Lock()
	if err == nil {
		e.state.Store(st)
		e.failures, e.blockedUntil, e.lastErr = 0, 0, nil
		if e.flights[""] == nil || claims == "" {
			e.nextRefresh.Store(st.refreshAt)
		}
		f.tok = st.tok
	} else {
		c.n.acquisitionFailures.Add(1)
		f.err = err
		var ra time.Duration
		if rae := RetryAfterError(nil); errors.As(err, &rae) {
			ra = rae.RetryAfterDuration()
		}
		if ra > 0 {
			// The floor holds for the background too, whichever
			// acquisition (a claims one included) heard it.
			e.blockedUntil, e.lastErr = max(e.blockedUntil, now+int64(ra)), err
			deferRefresh(e, e.blockedUntil)
		}
		if cur := e.state.Load(); claims == "" && cur.at(now) != expired {
			// The outage case: the token in hand stays in service, and the
			// next attempt waits for the backoff and any Retry-After.
			e.failures++
			floor := time.Duration(max(e.blockedUntil-now, 0))
			retryIn = backoff(e.failures, time.Duration(cur.usableUntil-now), floor, c.opts.Rand())
			e.nextRefresh.Store(now + int64(retryIn))
			if background {
				c.n.refreshFailures.Add(1)
			}
		} else if claims == "" {
			e.nextRefresh.Store(0)
		}
	}
	delete(e.flights, claims)
	e.mu.Unlock()
	// Logged before the waiters are woken, so whoever reacts to GetToken's
	// return finds the outcome already reported.
	c.logOutcome(ctx, e.key, background, time.Unix(0, now).Sub(start), err, retryIn)
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
