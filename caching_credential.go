package azid

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/internal/tokencache"
)

const credNameCaching = "CachingCredential"

// invalidator is implemented by credentials whose tokens live in azid's
// cache engine. invalidate drops token from the entry opts names if that
// entry still holds it, and reports whether it did; a newer token that
// replaced it is kept, so a burst of 401s for one token costs one new token.
//
// It also marks a credential as engine-backed: [NewBearerTokenTransport] and
// [TokenSource] use such a credential as it is and wrap any other one in a
// [CachingCredential].
type invalidator interface {
	invalidate(opts policy.TokenRequestOptions, token string) bool
}

// engineChecker is implemented by invalidators whose caching depends on how
// they were built: a chain is engine-backed only when its sources are, a
// developer-tool credential only when its cache is enabled.
type engineChecker interface {
	engineBacked() bool
}

// isEngineBacked reports whether azid's engine caches cred's tokens, so that
// wrapping it in a CachingCredential would only add a second cache.
func isEngineBacked(cred azcore.TokenCredential) bool {
	if _, ok := cred.(invalidator); !ok {
		return false
	}
	if ec, ok := cred.(engineChecker); ok {
		return ec.engineBacked()
	}
	return true
}

// CachingCredentialOptions configures a [CachingCredential]. The zero value
// is ready to use.
type CachingCredentialOptions struct {
	// Logger receives the cache's events (acquisitions, background
	// refreshes, refresh failures and their backoff, evictions) at debug and
	// warning level. Tokens are never logged. Nil discards them.
	Logger *slog.Logger

	// MaxCacheEntries bounds how many distinct token requests (tenant, scopes,
	// CAE) are cached; 0 means 10,000. Past it the entries closest to expiry
	// are dropped.
	MaxCacheEntries int

	clock tokencache.Clock // test seam
}

// CachingCredential gives any [azcore.TokenCredential], including one
// written outside azid, the token cache every azid credential has: a cached
// token is returned without locks or allocations; concurrent callers of a
// missing token share one call to the wrapped credential; a token is
// refreshed in the background before it expires, so callers do not wait;
// and when a refresh fails, the cached token keeps being served (with
// backoff between retries) until shortly before it expires.
//
// When the wrapped credential's tokens carry RefreshOn, the refresh happens
// then; otherwise by azid's rules (half-life for long-lived tokens, else 5
// minutes before expiry). azid's own credentials already cache; wrapping
// them adds nothing.
type CachingCredential struct {
	cred  azcore.TokenCredential
	clock tokencache.Clock
	cache *tokencache.Cache
}

// NewCachingCredential wraps cred in a cache. Pass nil options for the
// defaults.
func NewCachingCredential(cred azcore.TokenCredential, options *CachingCredentialOptions) (*CachingCredential, error) {
	if cred == nil {
		return nil, errors.New(credNameCaching + ": the credential to wrap is nil")
	}
	if options == nil {
		options = &CachingCredentialOptions{}
	}
	if options.MaxCacheEntries < 0 {
		return nil, fmt.Errorf("%s: MaxCacheEntries is %d; use 0 for the default or a positive bound", credNameCaching, options.MaxCacheEntries)
	}
	c := &CachingCredential{cred: cred, clock: options.clock}
	if c.clock == nil {
		c.clock = systemClock{}
	}
	c.cache = tokencache.New(tokencache.AcquirerFunc(c.acquire), tokencache.Options{
		Clock:      options.clock,
		Logger:     options.Logger,
		MaxEntries: options.MaxCacheEntries,
	})
	return c, nil
}

// GetToken returns a token for opts, from the cache when it holds a usable
// one, else from the wrapped credential. A request with opts.Claims (a
// claims challenge) always reaches the wrapped credential, and its token
// replaces the cached one.
func (c *CachingCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := c.cache.GetToken(ctx, &tokencache.Request{
		TenantID:  opts.TenantID,
		Scopes:    opts.Scopes,
		EnableCAE: opts.EnableCAE,
		Claims:    opts.Claims,
	})
	if err != nil {
		return tok, callerError(credNameCaching, err)
	}
	return tok, nil
}

// CacheStats reports what the cache has done so far; TokenRequests counts
// calls to the wrapped credential.
func (c *CachingCredential) CacheStats() CacheStats { return cacheStatsOf(c.cache.Stats()) }

// acquire asks the wrapped credential for a token. The engine works with
// lifetimes relative to the moment the request started, so the wrapped
// token's absolute times are converted against the same clock.
func (c *CachingCredential) acquire(ctx context.Context, r tokencache.Request) (tokencache.Token, error) {
	start := c.clock.Now()
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{
		Scopes:    r.Scopes,
		TenantID:  r.TenantID,
		EnableCAE: r.EnableCAE,
		Claims:    r.Claims,
	})
	if err != nil {
		return tokencache.Token{}, err
	}
	if tok.Token == "" {
		return tokencache.Token{}, errors.New(credNameCaching + ": the wrapped credential returned an empty token and no error")
	}
	expiresIn := tok.ExpiresOn.Sub(start)
	if expiresIn <= 0 {
		return tokencache.Token{}, fmt.Errorf("%s: the wrapped credential returned a token that expired at %s (ExpiresOn); it cannot be cached or used",
			credNameCaching, tok.ExpiresOn.UTC().Format(time.RFC3339))
	}
	t := tokencache.Token{AccessToken: tok.Token, ExpiresIn: expiresIn}
	// A RefreshOn already past is ignored rather than obeyed: obeying it
	// would start a refresh on every call while the credential keeps
	// returning the same token.
	if !tok.RefreshOn.IsZero() {
		if d := tok.RefreshOn.Sub(start); d > 0 {
			t.RefreshIn = d
		}
	}
	return t, nil
}

// invalidate drops token from the cache and from the wrapped credential's
// cache when that is an engine-backed credential too, so the next GetToken
// really gets a new token.
func (c *CachingCredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	dropped := c.cache.Invalidate(&tokencache.Request{TenantID: opts.TenantID, Scopes: opts.Scopes, EnableCAE: opts.EnableCAE}, token)
	if inner, ok := c.cred.(invalidator); ok {
		dropped = inner.invalidate(opts, token) || dropped
	}
	return dropped
}

// withEngine returns cred if azid's engine caches its tokens, else cred
// wrapped in a CachingCredential with default options.
func withEngine(cred azcore.TokenCredential) (azcore.TokenCredential, error) {
	if cred == nil {
		return nil, errors.New("azid: the credential is nil")
	}
	if isEngineBacked(cred) {
		return cred, nil
	}
	return NewCachingCredential(cred, nil)
}

// systemClock is the wall clock, for converting a wrapped token's times.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

var (
	_ azcore.TokenCredential = (*CachingCredential)(nil)
	_ invalidator            = (*CachingCredential)(nil)
	_ invalidator            = (*ClientSecretCredential)(nil)
)
