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

// Acquirer gets a token from the network. It is the credential's half of the
// contract: the engine decides when to call it, with a context detached from
// any one caller and bounded by [Options.AcquireTimeout].
type Acquirer interface {
	Acquire(ctx context.Context, r Request) (Token, error)
}

// AcquirerFunc adapts a function to [Acquirer].
type AcquirerFunc func(ctx context.Context, r Request) (Token, error)

// Acquire calls f.
func (f AcquirerFunc) Acquire(ctx context.Context, r Request) (Token, error) { return f(ctx, r) }

// Token is a freshly acquired access token. Lifetimes are relative: the
// engine anchors them to its own clock at the moment the request was sent,
// which errs on the side of refreshing early.
type Token struct {
	AccessToken string
	ExpiresIn   time.Duration
	// RefreshIn is the server's refresh_in, 0 when absent.
	RefreshIn time.Duration
}

// RetryAfterError is implemented by errors that carry a server's Retry-After.
// The engine waits at least that long before trying the same key again.
type RetryAfterError interface {
	error
	RetryAfterDuration() time.Duration
}

// HungError is implemented by errors of an acquisition whose request got no
// answer within its own try timeout while the acquisition had time left:
// the endpoint hung. Callers waiting on such an acquisition may have joined
// it long after the request went out, when the endpoint had recovered, so
// they get one fresh acquisition instead of the error.
type HungError interface {
	error
	Hung() bool
}

// Options configure a [Cache]. The zero value is usable.
type Options struct {
	// Authority and ClientID complete the Key handed to the Store.
	Authority, ClientID string
	// Clock defaults to the system clock.
	Clock Clock
	// MaxEntries bounds the number of keys held; 0 means 10,000. Expired
	// entries are evicted first, then those closest to expiry.
	MaxEntries int
	// AcquireTimeout bounds one acquisition; 0 means 1 minute. Callers can
	// always stop waiting earlier through their own context.
	AcquireTimeout time.Duration
	// ExtendToCallerDeadline lets a caller that starts an acquisition with
	// a deadline further away than AcquireTimeout give it until that
	// deadline: for sources whose answer may rightly take longer than the
	// engine's bound, and whose callers say so (a developer tool asked
	// with a 5-minute context). Background refreshes, and callers that
	// join an acquisition already started, keep AcquireTimeout.
	ExtendToCallerDeadline bool
	// Store is an optional second level (persistent or distributed cache).
	Store Store
	// Logger receives engine events; nil discards them. Tokens are never
	// logged.
	Logger *slog.Logger
	// OnEvent, when set, is called for every slow-path event (never on a
	// hit). It must not block.
	OnEvent func(Event)
	// Rand returns uniform numbers in [0, 1) for jitter; nil uses
	// math/rand/v2. Tests make it deterministic.
	Rand func() float64
}

// DefaultMaxEntries is the bound used when Options.MaxEntries is 0.
const DefaultMaxEntries = 10000

// DefaultAcquireTimeout is the bound used when Options.AcquireTimeout is 0.
const DefaultAcquireTimeout = time.Minute

// Cache is the engine. It is safe for concurrent use; create one per
// credential instance.
type Cache struct {
	acq   Acquirer
	clock Clock
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
	return &Cache{acq: a, clock: o.Clock, sys: sys, seed: maphash.MakeSeed(), opts: o}
}

// now returns the time in Unix nanoseconds. The default clock is called
// directly rather than through the interface: the hit path is that tight.
func (c *Cache) now() int64 {
	if c.sys != nil {
		return c.sys.nanos()
	}
	return c.clock.Now().UnixNano()
}

// GetToken returns a token for r: from memory when one is usable, otherwise
// from the Store or the network. It is the whole of the cache's behaviour;
// see the package documentation. r is only read, and not kept.
func (c *Cache) GetToken(ctx context.Context, r *Request) (azcore.AccessToken, error) {
	tok, _, err := c.GetTokenCached(ctx, r)
	return tok, err
}

// GetTokenCached is GetToken that also reports whether the token was served
// from memory (cached is true) rather than by an acquisition the caller
// waited for, for tracing.
func (c *Cache) GetTokenCached(ctx context.Context, r *Request) (tok azcore.AccessToken, cached bool, err error) {
	// The hit path: one hash, one atomic load of the shard's map, one of
	// the entry's state, one clock read.
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
	return c.slow(ctx, r)
}

// slow handles everything the hit path does not: requests that need
// normalising, claims, misses and tokens that are no longer usable.
func (c *Cache) slow(ctx context.Context, r *Request) (azcore.AccessToken, bool, error) {
	e, added, err := c.entryFor(r)
	if err != nil {
		return azcore.AccessToken{}, false, err
	}
	return c.wait(ctx, e, r.Claims, added)
}

// entryFor returns r's entry, creating it if needed; added reports whether
// it did.
func (c *Cache) entryFor(r *Request) (e *entry, added bool, err error) {
	n, err := normalize(*r)
	if err != nil {
		return nil, false, err
	}
	h, _ := hashKey(c.seed, &n)
	e, added = c.idx.findOrAdd(h, &n, func() *entry { return c.newEntry(n, r) })
	return e, added, nil
}

func (c *Cache) newEntry(n Request, r *Request) *entry {
	e := &entry{
		key: Key{
			Authority: c.opts.Authority, ClientID: c.opts.ClientID, TenantID: n.TenantID,
			Scopes: n.Scopes, CAE: n.EnableCAE, Account: n.Account,
			AssertionHash: n.AssertionHash, Identity: n.Identity,
		},
	}
	e.req = *r
	e.req.Claims, e.req.Lock = "", nil
	e.req.Scopes = requestScopes(r.Scopes)
	return e
}

// wait serves e's token if one became usable meanwhile, else joins or starts
// an acquisition and waits for it or for ctx.
//
// When the entry is new (added), the cache may have outgrown its bound;
// eviction runs after the entry's flight has started, so the new entry is
// never its own victim, and on another goroutine, so the caller does not pay
// for it.
//
// An acquisition whose request hung (a [HungError]) may have been joined
// long after it was sent, when the endpoint had recovered, so its waiters
// try once more with a new acquisition (still one per key) instead of
// failing with the hang's error. Other deadlines (the engine's own limit, a
// developer tool's timeout) and any other failure are the answer: they come
// from the endpoint as it is now, unless a token was put meanwhile (Put).
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
// sign-in), for r: it replaces the key's token, anchored at now, clears the
// background backoff (a server's Retry-After still holds for
// acquisitions), and is written to the Store before Put returns, as a
// network token is. It returns the token as GetToken would serve it.
func (c *Cache) Put(ctx context.Context, r *Request, t Token) (azcore.AccessToken, error) {
	if t.AccessToken == "" || t.ExpiresIn <= 0 {
		return azcore.AccessToken{}, ErrEmptyToken
	}
	e, added, err := c.entryFor(r)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	if added && c.idx.count.Load() > int64(c.opts.MaxEntries) {
		go c.evict.run(c)
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
	c.n.puts.Add(1)
	c.emit(Event{Kind: EventPut, Key: e.key})
	return st.tok, nil
}

// refreshInBackground starts one background refresh of e if none is running
// and no backoff is pending. Called on the hit path past a token's refresh
// time, so the common case (a refresh already running) is one atomic load.
func (c *Cache) refreshInBackground(ctx context.Context, e *entry, now int64) {
	next := e.nextRefresh.Load()
	if now < next || !e.nextRefresh.CompareAndSwap(next, maxTime) {
		return
	}
	e.mu.Lock()
	c.flightLocked(ctx, e, "", true)
	e.mu.Unlock()
}

// Invalidate drops e's token if it is still token: a resource rejected it. A
// newer token that replaced it meanwhile is kept (compare-and-swap), so a
// burst of 401s for one token causes one re-acquisition, not a burst.
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
	for {
		st := e.state.Load()
		if st == nil || st.tok.Token != token {
			return false
		}
		if e.state.CompareAndSwap(st, nil) {
			e.mu.Lock()
			e.rejected = maphash.String(c.seed, token)
			e.mu.Unlock()
			c.n.invalidations.Add(1)
			c.emit(Event{Kind: EventInvalidated, Key: e.key})
			c.deleteStored(e, token)
			return true
		}
	}
}

// Stats returns the counters as of now.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits:                c.n.hits.load(),
		Misses:              c.n.misses.Load(),
		Coalesced:           c.n.coalesced.Load(),
		Acquisitions:        c.n.acquisitions.Load(),
		AcquisitionFailures: c.n.acquisitionFailures.Load(),
		BackgroundRefreshes: c.n.backgroundRefreshes.Load(),
		RefreshFailures:     c.n.refreshFailures.Load(),
		StoreHits:           c.n.storeHits.Load(),
		StoreErrors:         c.n.storeErrors.Load(),
		Evictions:           c.n.evictions.Load(),
		Invalidations:       c.n.invalidations.Load(),
		Cleared:             c.n.clears.Load(),
		Puts:                c.n.puts.Load(),
		Entries:             int(c.idx.count.Load()),
	}
}

// ThrottledError is returned without contacting the network while a
// server's Retry-After for this key has not passed and no usable token is
// cached.
type ThrottledError struct {
	// Until is when the server's Retry-After ends.
	Until time.Time
	// Left is how much of the window remained when the error was returned.
	Left time.Duration
	// Err is the failure that carried the Retry-After.
	Err error
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("not requesting a new token for another %s (until %s), as the token service asked (Retry-After); try again after that. Last failure: %v",
		e.Left.Round(time.Millisecond), e.Until.UTC().Format(time.RFC3339), e.Err)
}

// RetryAfterDuration is the time left in the window, so that a cache in
// front of this one (or a caller) waits it out too.
func (e *ThrottledError) RetryAfterDuration() time.Duration { return e.Left }

func (e *ThrottledError) Unwrap() error { return e.Err }
