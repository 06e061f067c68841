package tokencache

import (
	"time"
)

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
	// First and cap of the background retry delay after a failed refresh.
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
