package tokencache

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// tokenState is what a cached token is good for at a given time. A token is
// usable when it is fresh or due for refresh.
type tokenState int

const (
	expired    tokenState = iota // no token, or inside the expiry margin: callers wait
	fresh                        // before the refresh time: served as it is
	refreshDue                   // served, and one background refresh starts unless one runs or is deferred
)

type state struct { // an immutable snapshot of a cached token
	tok azcore.AccessToken
	schedule
	cachedAt int64
	// refreshIn is the server's refresh_in (0: none), kept so a Store
	// records the server's advice rather than this process's jitter.
	refreshIn time.Duration
}

// at tells what s is good for at now (Unix nanoseconds); nil is expired.
func (s *state) at(now int64) tokenState {
	switch {
	case s == nil || now >= s.usableUntil:
		return expired
	case now < s.refreshAt:
		return fresh
	}
	return refreshDue
}

func (c *Cache) newState(token string, issued time.Time, lifetime, refreshIn time.Duration) *state {
	s := plan(issued, lifetime, refreshIn, c.opts.Rand())
	return &state{
		tok: azcore.AccessToken{
			Token:     token,
			ExpiresOn: time.Unix(0, s.expiresAt).UTC(),
			RefreshOn: time.Unix(0, s.refreshAt).UTC(),
		},
		schedule:  s,
		cachedAt:  issued.UnixNano(),
		refreshIn: refreshIn,
	}
}

// entry is one key's slot. key and req never change; the token lives in an
// immutable state behind an atomic pointer.
type entry struct {
	key Key
	req Request // what to send: the first caller's scopes, split and de-duplicated

	state atomic.Pointer[state]
	// nextRefresh: no background refresh starts before it (Unix ns). The
	// refresh time after a success, a backoff after a failure, maxTime
	// while a refresh runs; read by hits only once a refresh is due.
	nextRefresh atomic.Int64

	mu sync.Mutex // guards the fields below; never held across I/O
	// flights are the acquisitions running, by claims ("" the plain one):
	// a claims acquisition's result differs, so it flies apart.
	flights  map[string]*flight
	failures int // consecutive failed refreshes while a token was usable
	// blockedUntil ends the last Retry-After (lastErr carried it): until
	// then callers with no usable token fail fast.
	blockedUntil int64
	lastErr      error
	// rejected hashes the last token invalidated, so a Store still holding
	// it is not believed.
	rejected uint64
}

// The timing rules, documented in docs/ARCHITECTURE.md: change both together.
const (
	// longLived tokens (2 h or more) are refreshed at half-life when the
	// server gives no refresh_in: managed identity tokens live 24 h, and
	// waiting until 5 minutes before expiry would leave no room for an outage.
	longLived = 2 * time.Hour
	// refreshBeforeExpiry is the default refresh point for shorter tokens.
	refreshBeforeExpiry = 5 * time.Minute
	// expiryMargin: a token is not handed out in its last minute, so it does
	// not expire in flight between client and resource.
	expiryMargin = time.Minute
	// maxJitter bounds the random delay added to a refresh time so that a
	// fleet started together does not refresh together.
	maxJitter = 5 * time.Minute
	// backoffBase is the first retry delay after a failed refresh;
	// backoffMin its floor, so a token near its end is not retried in a
	// tight loop.
	backoffBase = 30 * time.Second
	backoffMin  = time.Second
)

// schedule is when a token should be refreshed, until when it may be served
// and when it expires, in Unix nanoseconds.
type schedule struct {
	refreshAt, usableUntil, expiresAt int64
}

// plan computes the schedule of a token issued at issued (for an acquisition,
// when the request was sent). Refresh at refresh_in when given; else at
// half-life for long-lived tokens; else 5 minutes before expiry but not
// before half-life; plus u ∈ [0, 1) of a jitter window of a tenth of the wait
// (at most maxJitter, at most half the usable time left). Serve until the
// expiry margin, or a quarter of the lifetime for tokens under 4 minutes.
func plan(issued time.Time, lifetime, refreshIn time.Duration, u float64) schedule {
	start := issued.UnixNano()
	if lifetime <= 0 {
		return schedule{start, start, start}
	}
	expires := start + int64(lifetime)
	usable := expires - int64(min(expiryMargin, lifetime/4))
	wait := max(lifetime-refreshBeforeExpiry, lifetime/2)
	if refreshIn > 0 && refreshIn < lifetime {
		wait = refreshIn
	} else if lifetime >= longLived {
		wait = lifetime / 2
	}
	refresh := min(start+int64(wait), usable)
	if window := min(int64(wait)/10, int64(maxJitter), (usable-refresh)/2); window > 0 {
		refresh += int64(float64(window) * u)
	}
	return schedule{refreshAt: refresh, usableUntil: usable, expiresAt: expires}
}

// backoff is the wait before the next refresh after failures failures in a
// row, with the token usable for left: from backoffBase, doubling, at most
// half of left (so several tries fit), spread ±20% by u ∈ [0, 1), at least
// backoffMin and the server's Retry-After.
func backoff(failures int, left, retryAfter time.Duration, u float64) time.Duration {
	d := backoffBase
	for i := 1; i < failures && d < left; i++ {
		d *= 2
	}
	d = time.Duration(float64(min(d, left/2)) * (0.8 + 0.4*u))
	return max(d, backoffMin, retryAfter)
}

// Clock tells the engine the time; tests inject a fake one.
type Clock interface{ Now() time.Time }

// wallResync bounds how long a wall-clock jump (a resume from suspend, which
// the monotonic clock does not count) goes unnoticed by systemClock.
const wallResync = 10 * time.Millisecond

// systemClock is the default clock. time.Now reads two clocks (about 54 ns
// on a virtual machine), the monotonic one alone half that, so hits read the
// monotonic clock plus a wall offset re-measured every wallResync.
type systemClock struct {
	base      time.Time    // carries a monotonic reading
	offset    atomic.Int64 // wall Unix ns minus monotonic ns since base
	lastCheck atomic.Int64 // monotonic ns since base of the last wall read
}

func newSystemClock() *systemClock {
	c := &systemClock{base: time.Now()}
	c.resync()
	return c
}

func (c *systemClock) Now() time.Time { return time.Unix(0, c.nanos()) }

// nanos returns the wall time in Unix nanoseconds.
func (c *systemClock) nanos() int64 {
	m := int64(time.Since(c.base))
	if m-c.lastCheck.Load() >= int64(wallResync) {
		return c.resync()
	}
	return c.offset.Load() + m
}

func (c *systemClock) resync() int64 {
	w := time.Now()
	m := int64(w.Sub(c.base)) // monotonic, from the same reading
	c.offset.Store(w.UnixNano() - m)
	c.lastCheck.Store(m)
	return w.UnixNano()
}
