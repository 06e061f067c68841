package azid

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/internal/authority"
	"github.com/azid-go/azid/internal/sts"
	"github.com/azid-go/azid/internal/tokencache"
)

// appGrant is what distinguishes one application credential from another:
// the grant it asks for and how the app proves its identity in a token
// request. Everything else (the cache, the endpoint, tenants, errors) is
// shared.
type appGrant interface {
	// grant adds the grant and client authentication fields of the token
	// request r to form, for endpoint, and returns the values among them
	// that are secrets. r matters beyond its scopes and tenant only to
	// on-behalf-of, which finds the user assertion by r.AssertionHash.
	grant(ctx context.Context, form url.Values, endpoint string, r tokencache.Request) (secrets []string, err error)
}

// appOptions are the options every application credential accepts.
type appOptions struct {
	azcore.ClientOptions
	AdditionallyAllowedTenants []string
	DisableInstanceDiscovery   bool
	Logger                     *slog.Logger
	// Cache is the persistent cache; the zero value keeps tokens in memory
	// only.
	Cache cache.Cache
	// MaxCacheEntries is the engine's bound; 0 is its default.
	MaxCacheEntries int

	// Test seams, settable only from this package's tests.
	clock         tokencache.Clock
	discoveryHost string
}

// appClient is the machinery shared by application credentials
// (client secret, certificate, assertion, workload identity, on-behalf-of):
// it resolves tenants, builds cache keys and acquires tokens through a grant.
// The token cache engine does all caching.
type appClient struct {
	name     string // credential type, for errors and logs
	tenants  authority.Tenants
	clientID string
	grant    appGrant
	clientCore
	cache *tokencache.Cache
}

func newAppClient(name, tenantID, clientID string, grant appGrant, o appOptions) (*appClient, error) {
	if err := authority.ValidateTenantID(tenantID); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if clientID == "" {
		return nil, fmt.Errorf("%s: a client ID is required", name)
	}
	if err := checkMaxEntries(name, o.MaxCacheEntries); err != nil {
		return nil, err
	}
	core, err := newClientCore(name, o.ClientOptions, o.DisableInstanceDiscovery, o.discoveryHost)
	if err != nil {
		return nil, err
	}
	a := &appClient{
		name:       name,
		tenants:    authority.NewTenants(name, tenantID, o.AdditionallyAllowedTenants),
		clientID:   clientID,
		grant:      grant,
		clientCore: core,
	}
	a.cache = a.newCache(a, clientID, cacheOptions{clock: o.clock, maxEntries: o.MaxCacheEntries, logger: o.Logger, store: o.Cache})
	return a, nil
}

// getToken is GetToken for every application credential, inside a span
// named span when a tracing provider is configured. Without one it calls
// getTokenCached directly: this is the hit path (see traceGetToken).
func (a *appClient) getToken(ctx context.Context, span string, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if a.tracer.Enabled() {
		return traceGetToken(ctx, &a.tracer, span, opts, a.getTokenCached)
	}
	tok, _, err := a.getTokenCached(ctx, opts)
	return tok, err
}

// getTokenCached is getToken, also reporting whether the token came from
// the cache.
func (a *appClient) getTokenCached(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, bool, error) {
	return a.getTokenFor(ctx, opts, "")
}

// getTokenFor is getTokenCached partitioned by a user assertion's hash, for
// on-behalf-of ("" for app tokens).
func (a *appClient) getTokenFor(ctx context.Context, opts policy.TokenRequestOptions, assertionHash string) (azcore.AccessToken, bool, error) {
	if len(opts.Scopes) == 0 {
		return azcore.AccessToken{}, false, fmt.Errorf("%s.GetToken requires at least one scope", a.name)
	}
	tenant, err := a.tenants.Resolve(opts.TenantID)
	if err != nil {
		return azcore.AccessToken{}, false, err
	}
	tok, cached, err := a.cache.GetTokenCached(ctx, &tokencache.Request{
		TenantID:      tenant,
		Scopes:        opts.Scopes,
		EnableCAE:     opts.EnableCAE,
		Claims:        opts.Claims,
		AssertionHash: assertionHash,
	})
	if err != nil {
		return tok, false, callerError(a.name, err)
	}
	return tok, cached, nil
}

// invalidate drops token from the cache entry opts names, if that entry
// still holds it: a resource rejected it (see [invalidator]).
func (a *appClient) invalidate(opts policy.TokenRequestOptions, token string) bool {
	return a.invalidateFor(opts, token, "")
}

// invalidateFor is invalidate for the partition of one user assertion
// (on-behalf-of).
func (a *appClient) invalidateFor(opts policy.TokenRequestOptions, token, assertionHash string) bool {
	tenant, err := a.tenants.Resolve(opts.TenantID)
	if err != nil {
		return false
	}
	return a.cache.Invalidate(&tokencache.Request{TenantID: tenant, Scopes: opts.Scopes, EnableCAE: opts.EnableCAE, AssertionHash: assertionHash}, token)
}

// Acquire implements tokencache.Acquirer: one token request to Entra.
func (a *appClient) Acquire(ctx context.Context, r tokencache.Request) (tokencache.Token, error) {
	if a.discovery != nil {
		if err := a.discovery.Validate(ctx, a.host, r.TenantID); err != nil {
			return tokencache.Token{}, newAuthenticationFailedError(a.name, err)
		}
	}
	endpoint := authority.TokenEndpoint(a.host, r.TenantID)
	form := url.Values{}
	form.Set("client_id", a.clientID)
	form.Set("scope", strings.Join(r.Scopes, " "))
	claims, err := sts.MergeClaims(r.Claims, r.EnableCAE)
	if err != nil {
		return tokencache.Token{}, fmt.Errorf("%s: %w", a.name, err)
	}
	if claims != "" {
		form.Set("claims", claims)
	}
	secrets, err := a.grant.grant(ctx, form, endpoint, r)
	if err != nil {
		if errors.As(err, new(*AuthenticationFailedError)) {
			return tokencache.Token{}, err // it names the credential already
		}
		return tokencache.Token{}, fmt.Errorf("%s: %w", a.name, err)
	}
	ctx = a.sts.AttemptContext(ctx, r.Background)
	resp, err := a.sts.TokenWithOptions(ctx, endpoint, form, sts.TokenOptions{Resign: resignFor(a.grant, form, endpoint)}, secrets...)
	if err != nil {
		return tokencache.Token{}, newAuthenticationFailedError(a.name, err)
	}
	return tokencache.Token{AccessToken: resp.AccessToken, ExpiresIn: resp.ExpiresIn, RefreshIn: resp.RefreshIn}, nil
}

// cacheStats converts the engine's counters to the public type.
func (a *appClient) cacheStats() CacheStats { return cacheStatsOf(a.cache.Stats()) }
