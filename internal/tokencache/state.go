package tokencache

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// tokenState is what a cached token is good for at a given time.
type tokenState int

const (
	// expired: not served (no token, inside the expiry margin, or past
	// expiry); callers wait for an acquisition.
	expired tokenState = iota
	// fresh: before the refresh time, served as it is.
	fresh
	// refreshDue: served, and one background refresh starts unless one
	// runs or a backoff or Retry-After defers it.
	refreshDue
)

// state is an immutable snapshot of a cached token.
type state struct {
	tok azcore.AccessToken
	schedule
	cachedAt int64
	// refreshIn is the server's refresh_in (0 when absent), kept so a
	// Store records the server's advice rather than this process's jitter.
	refreshIn time.Duration
}

// at tells what s is good for at now (Unix nanoseconds). A nil state is
// expired. A token is usable when it is fresh or due for refresh.
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

// entry is one cache key's slot. Its key and req never change after
// creation; its token lives in an immutable state behind an atomic pointer.
type entry struct {
	key  Key
	req  Request // what to send when acquiring: the first caller's scopes, split and de-duplicated
	hash uint64

	state atomic.Pointer[state]
	// nextRefresh is the Unix-nanosecond time before which no background
	// refresh may start. It is the state's refresh time after a success, a
	// backoff after a failure, and maxTime while a refresh runs. The hit
	// path reads it only once a token is due for refresh.
	nextRefresh atomic.Int64

	mu sync.Mutex // guards the fields below; never held across I/O
	// flights are the acquisitions in flight by claims ("" for the plain
	// one): claims acquisitions fly separately because their result differs.
	flights map[string]*flight
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

// The timing rules. Every figure here is part of azid's documented behaviour
// (docs/ARCHITECTURE.md); change them together with the docs.
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
	// backoffBase is the first background retry delay after a failed
	// refresh; backoffMin is its floor, so that a token close to its end
	// is not retried in a tight loop.
	backoffBase = 30 * time.Second
	backoffMin  = time.Second
)

// schedule is when a token acquired (or cached) at issued should be refreshed
// and until when it may be served. All values are Unix nanoseconds.
type schedule struct {
	refreshAt, usableUntil, expiresAt int64
}

// plan computes a token's schedule. issued is when the token came into being
// (for a fresh acquisition, when the request was sent: a conservative bound);
// refreshIn is the server's suggestion (0 when absent); u is a uniform random
// number in [0, 1) that spreads refresh times.
//
// Rules: refresh at refresh_in when given; else at half-life for lifetimes of
// 2 h or more; else 5 minutes before expiry but never before half-life. Add a
// jitter of up to a tenth of the wait (at most 5 minutes, and never past half
// the remaining usable window). Serve until 1 minute before expiry, or a
// quarter of the lifetime before it for tokens shorter than 4 minutes.
func plan(issued time.Time, lifetime, refreshIn time.Duration, u float64) schedule {
	if lifetime <= 0 {
		t := issued.UnixNano()
		return schedule{refreshAt: t, usableUntil: t, expiresAt: t}
	}
	start := issued.UnixNano()
	expires := start + int64(lifetime)
	usable := expires - int64(min(expiryMargin, lifetime/4))

	var wait time.Duration
	switch {
	case refreshIn > 0 && refreshIn < lifetime:
		wait = refreshIn
	case lifetime >= longLived:
		wait = lifetime / 2
	default:
		wait = max(lifetime-refreshBeforeExpiry, lifetime/2)
	}
	refresh := start + int64(wait)
	if refresh > usable {
		refresh = usable
	}
	window := min(int64(wait)/10, int64(maxJitter), (usable-refresh)/2)
	if window > 0 {
		refresh += int64(float64(window) * u)
	}
	return schedule{refreshAt: refresh, usableUntil: usable, expiresAt: expires}
}

// backoff returns how long to wait before the next background refresh after
// failures consecutive failures, when the current token stays usable for
// left. The delay starts at 30 s and doubles, is capped by half the time
// left (so several attempts fit before the token becomes unusable), never
// goes under 1 s, is spread by ±20% with u in [0, 1), and is never shorter
// than the server's Retry-After.
func backoff(failures int, left, retryAfter time.Duration, u float64) time.Duration {
	d := backoffBase
	for i := 1; i < failures && d < left; i++ {
		d *= 2
	}
	if d > left/2 {
		d = left / 2
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*u))
	if d < backoffMin {
		d = backoffMin
	}
	if retryAfter > d {
		d = retryAfter
	}
	return d
}
