package tokencache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// Acquirer gets a token from the network, when the engine decides, with a
// context detached from any one caller and bounded by Options.AcquireTimeout.
type Acquirer interface {
	Acquire(ctx context.Context, r Request) (Token, error)
}

// AcquirerFunc adapts a function to [Acquirer].
type AcquirerFunc func(ctx context.Context, r Request) (Token, error)

// Acquire calls f.
func (f AcquirerFunc) Acquire(ctx context.Context, r Request) (Token, error) { return f(ctx, r) }

// Token is a freshly acquired access token. The engine anchors its relative
// lifetimes at the moment the request was sent, erring towards refreshing early.
type Token struct {
	AccessToken string
	ExpiresIn   time.Duration
	RefreshIn   time.Duration // the server's refresh_in, 0 when absent
}

// RetryAfterError is an error carrying a server's Retry-After: the engine
// waits at least that long before trying the key again.
type RetryAfterError interface {
	error
	RetryAfterDuration() time.Duration
}

// HungError is an acquisition's error when its request got no answer within
// its try timeout while the acquisition had time left: the endpoint hung.
// Its waiters get one fresh acquisition instead (see Cache.wait).
type HungError interface {
	error
	Hung() bool
}

// Options configure a [Cache]; the zero value is usable.
type Options struct {
	Authority, ClientID string // complete the Key handed to the Store
	Clock               Clock  // nil: the system clock
	// MaxEntries bounds the keys held (0: DefaultMaxEntries); expired
	// entries are evicted first, then those closest to expiry.
	MaxEntries int
	// AcquireTimeout bounds one acquisition (0: DefaultAcquireTimeout).
	// Callers can stop waiting earlier through their own context.
	AcquireTimeout time.Duration
	// ExtendToCallerDeadline lets the caller that starts an acquisition
	// give it until its own, later deadline: for sources that may rightly
	// take longer, whose callers say so (a developer tool asked with a
	// 5-minute context). Background refreshes keep AcquireTimeout.
	ExtendToCallerDeadline bool
	Store                  Store          // optional second level: persistent or distributed
	Logger                 *slog.Logger   // nil discards; tokens are never logged
	Rand                   func() float64 // uniform in [0, 1) for jitter; nil: math/rand/v2
}

// The bounds used when Options leave them 0.
const (
	DefaultMaxEntries     = 10000
	DefaultAcquireTimeout = time.Minute
)

// Cache is the engine, one per credential instance, safe for concurrent use.
type Cache struct {
	acq   Acquirer
	sys   *systemClock // the default clock, read directly on the hit path
	seed  maphash.Seed
	opts  Options
	idx   index
	n     counters
	evict evictor
}

// New returns an empty cache that acquires tokens through a.
func New(a Acquirer, o Options) *Cache {
	var sys *systemClock
	if o.Clock == nil {
		sys = newSystemClock()
		o.Clock = sys
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.AcquireTimeout <= 0 {
		o.AcquireTimeout = DefaultAcquireTimeout
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Cache{acq: a, sys: sys, seed: maphash.MakeSeed(), opts: o}
}

// now returns Unix nanoseconds, from the default clock without an
// interface call: the hit path is that tight.
func (c *Cache) now() int64 {
	if c.sys != nil {
		return c.sys.nanos()
	}
	return c.opts.Clock.Now().UnixNano()
}

// GetToken returns a token for r, as the package documentation describes.
// r is only read, and not kept.
func (c *Cache) GetToken(ctx context.Context, r *Request) (azcore.AccessToken, error) {
	tok, _, err := c.GetTokenCached(ctx, r)
	return tok, err
}

// GetTokenCached is GetToken that also reports, for tracing, whether the
// token came from memory rather than an acquisition the caller waited for.
func (c *Cache) GetTokenCached(ctx context.Context, r *Request) (tok azcore.AccessToken, cached bool, err error) {
	// The hit path: one hash, two atomic loads, one clock read.
	if r.Claims == "" {
		if h, ok := hashKey(c.seed, r); ok {
			if e := c.idx.find(h, r); e != nil {
				st := e.state.Load()
				switch now := c.now(); st.at(now) {
				case refreshDue:
					c.refreshInBackground(ctx, e, now)
					fallthrough
				case fresh:
					c.n.hits.add()
					return st.tok, true, nil
				}
			}
		}
	}
	// Everything else: requests to normalise, claims, misses, expired tokens.
	e, added, err := c.entryFor(r)
	if err != nil {
		return azcore.AccessToken{}, false, err
	}
	return c.wait(ctx, e, r.Claims, added)
}

// entryFor returns r's entry, creating it if needed, and whether it did.
func (c *Cache) entryFor(r *Request) (*entry, bool, error) {
	n, err := normalize(*r)
	if err != nil {
		return nil, false, err
	}
	h, _ := hashKey(c.seed, &n)
	e, added := c.idx.findOrAdd(h, &n, func() *entry {
		e := &entry{flights: map[string]*flight{}, key: Key{Authority: c.opts.Authority, ClientID: c.opts.ClientID, TenantID: n.TenantID,
			Scopes: n.Scopes, CAE: n.EnableCAE, Account: n.Account, AssertionHash: n.AssertionHash, Identity: n.Identity}}
		e.req = *r
		e.req.Claims, e.req.Lock, e.req.Scopes = "", nil, requestScopes(r.Scopes)
		return e
	})
	return e, added, nil
}

// wait serves e's token if one became usable meanwhile, else joins or starts
// an acquisition and waits for it or for ctx.
//
// Waiters of an acquisition whose request hung (a [HungError]) may have
// joined it long after it was sent, when the endpoint had recovered, so they
// try once more with a new acquisition (still one per key). Any other
// failure is the endpoint's answer as it is now, unless a token was put
// meanwhile.
func (c *Cache) wait(ctx context.Context, e *entry, claims string, added bool) (azcore.AccessToken, bool, error) {
	for again := false; ; again = true {
		e.mu.Lock()
		now := c.now()
		st := e.state.Load()
		if s := st.at(now); claims == "" && s != expired {
			e.mu.Unlock()
			if s == refreshDue {
				c.refreshInBackground(ctx, e, now)
			}
			c.n.hits.add()
			return st.tok, true, nil
		}
		// Retry-After is a floor for every request of the key, claims
		// challenges included: inside the window callers fail at once, and
		// the first call after it goes to the network.
		if now < e.blockedUntil {
			err := &ThrottledError{Until: time.Unix(0, e.blockedUntil), Left: time.Duration(e.blockedUntil - now), Err: e.lastErr}
			e.mu.Unlock()
			return azcore.AccessToken{}, false, err
		}
		f, started := c.flightLocked(ctx, e, claims, false)
		e.mu.Unlock()
		if !again {
			// Past the bound, a new entry starts an eviction once its flight
			// runs (so it is never its own victim), on another goroutine.
			if added && c.idx.count.Load() > int64(c.opts.MaxEntries) {
				go c.evict.run(c)
			}
			c.n.misses.Add(1)
			if !started {
				c.n.coalesced.Add(1)
			}
		}
		select {
		case <-f.done:
			if f.err == nil || claims != "" {
				return f.tok, false, f.err
			}
			if st := e.state.Load(); st.at(c.now()) != expired {
				return st.tok, false, nil // put while the acquisition ran
			}
			var h HungError
			if !again && ctx.Err() == nil && errors.As(f.err, &h) && h.Hung() {
				continue
			}
			return f.tok, false, f.err
		case <-ctx.Done():
			return azcore.AccessToken{}, false, fmt.Errorf("stopped waiting for a token: %w", context.Cause(ctx))
		}
	}
}

// Put caches t, a token acquired outside the engine (an interactive
// sign-in), for r, as GetToken would serve it: it replaces the key's token,
// anchored at now, clears the background backoff (a server's Retry-After
// still holds) and is in the Store when Put returns.
func (c *Cache) Put(ctx context.Context, r *Request, t Token) (azcore.AccessToken, error) {
	if t.AccessToken == "" || t.ExpiresIn <= 0 {
		return azcore.AccessToken{}, ErrEmptyToken
	}
	e, added, err := c.entryFor(r)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	st := c.newState(t.AccessToken, time.Unix(0, c.now()), t.ExpiresIn, t.RefreshIn)
	if c.opts.Store != nil {
		c.saveStore(ctx, e, st, nil)
	}
	e.mu.Lock()
	e.state.Store(st)
	e.failures = 0
	if e.flights[""] == nil { // else the acquisition in flight sets it when it lands
		e.nextRefresh.Store(st.refreshAt)
	}
	e.mu.Unlock()
	if added && c.idx.count.Load() > int64(c.opts.MaxEntries) {
		go c.evict.run(c) // once the token is in, so the entry is no empty victim
	}
	c.n.puts.Add(1)
	return st.tok, nil
}

// refreshInBackground starts a background refresh of e unless one runs or a
// backoff is pending: on the hit path, the common case is one atomic load.
func (c *Cache) refreshInBackground(ctx context.Context, e *entry, now int64) {
	next := e.nextRefresh.Load()
	if now < next || !e.nextRefresh.CompareAndSwap(next, maxTime) {
		return
	}
	e.mu.Lock()
	c.flightLocked(ctx, e, "", true)
	e.mu.Unlock()
}

// Invalidate drops r's token if it is still token: a resource rejected it.
// A newer token is kept (compare-and-swap), so a burst of 401s for one
// token causes one re-acquisition, not a burst.
func (c *Cache) Invalidate(r *Request, token string) bool {
	n, err := normalize(*r)
	if err != nil {
		return false
	}
	h, _ := hashKey(c.seed, &n)
	e := c.idx.find(h, &n)
	if e == nil {
		return false
	}
	for st := e.state.Load(); st != nil && st.tok.Token == token; st = e.state.Load() {
		if e.state.CompareAndSwap(st, nil) {
			e.mu.Lock()
			e.rejected = maphash.String(c.seed, token)
			e.mu.Unlock()
			c.n.invalidations.Add(1)
			c.deleteStored(e, token)
			return true
		}
	}
	return false
}

// Clear drops every entry, and says how many: the identity behind the tokens
// may have changed (a developer tool signed in as someone else). Flights
// still answer their waiters, but land in dropped entries no later caller
// finds. A GetToken concurrent with Clear may still see the index as it was.
func (c *Cache) Clear() int {
	n := 0
	for i := range c.idx.shards {
		n += c.idx.remove(&c.idx.shards[i], nil)
	}
	c.n.clears.Add(uint64(n))
	return n
}

// ThrottledError is returned, without contacting the network, while a
// server's Retry-After for the key runs and no usable token is cached.
type ThrottledError struct {
	Until time.Time     // when the Retry-After ends
	Left  time.Duration // what remained of it when the error was returned
	Err   error         // the failure that carried it
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("not requesting a new token for another %s (until %s), as the token service asked (Retry-After); try again after that. Last failure: %v",
		e.Left.Round(time.Millisecond), e.Until.UTC().Format(time.RFC3339), e.Err)
}

// RetryAfterDuration is the time left, for a cache or caller in front to wait out.
func (e *ThrottledError) RetryAfterDuration() time.Duration { return e.Left }

func (e *ThrottledError) Unwrap() error { return e.Err }
