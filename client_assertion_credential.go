package azid

import (
	"context"
	"errors"
	"log/slog"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/cache"
)

const credNameAssertion = "ClientAssertionCredential"

// ClientAssertionCredentialOptions configures a [ClientAssertionCredential].
// The zero value is ready to use. The fields match azidentity's; Logger is
// azid's addition.
type ClientAssertionCredentialOptions struct {
	azcore.ClientOptions

	// AdditionallyAllowedTenants lists tenants, besides the one given to the
	// constructor, for which GetToken may be asked (TokenRequestOptions.TenantID).
	// "*" allows any tenant the application is provisioned in.
	AdditionallyAllowedTenants []string

	// Cache is a persistent cache (see package cache) shared across
	// processes and restarts. The zero value keeps tokens in memory only.
	Cache cache.Cache

	// DisableInstanceDiscovery skips asking Entra whether the authority host
	// is a known Entra authority before the first token request. Set it for
	// private clouds, Azure Stack and local emulators.
	DisableInstanceDiscovery bool

	// Logger receives the cache's events at debug and warning level. Tokens
	// and assertions are never logged. Nil discards them.
	Logger *slog.Logger

	// MaxCacheEntries bounds how many tokens the credential keeps in memory:
	// one per tenant, scope set and CAE setting. 0 means 10,000. Past the
	// bound, expired tokens are dropped first, then those closest to expiry,
	// and a dropped token is simply requested again when next needed. A
	// multi-tenant service that gets tokens for more tenants than that
	// should raise it. azid's addition; azidentity has no bound to set.
	MaxCacheEntries int
}

// appOptions maps o to the application client's options; nil is the
// defaults.
func (o *ClientAssertionCredentialOptions) appOptions() appOptions {
	if o == nil {
		return appOptions{}
	}
	return appOptions{
		ClientOptions:              o.ClientOptions,
		AdditionallyAllowedTenants: o.AdditionallyAllowedTenants,
		DisableInstanceDiscovery:   o.DisableInstanceDiscovery,
		Logger:                     o.Logger,
		Cache:                      o.Cache,
		MaxCacheEntries:            o.MaxCacheEntries,
	}
}

// ClientAssertionCredential authenticates an application with a client
// assertion that your code supplies: a JWT signed by a key held elsewhere
// (a hardware module, a key vault) or a federated token from another
// identity provider (GitHub Actions, a Kubernetes service account).
//
// The callback is called only when a token must come from the network: a
// cached token costs no call. Its result is used for that one request and
// never stored, so each acquisition gets a fresh assertion; an error it
// returns fails the acquisition (wrapped, so errors.Is and errors.As reach
// it) and nothing is cached.
type ClientAssertionCredential struct {
	app *appClient
}

// NewClientAssertionCredential constructs a ClientAssertionCredential for
// the app clientID in tenant tenantID. getAssertion returns an assertion;
// it gets the acquisition's context (with the caller's values, bounded by
// the cache's acquisition timeout) and may be called from several
// goroutines at once, for different tenants or scopes. Pass nil options for
// the defaults.
func NewClientAssertionCredential(tenantID, clientID string, getAssertion func(context.Context) (string, error), options *ClientAssertionCredentialOptions) (*ClientAssertionCredential, error) {
	if getAssertion == nil {
		return nil, errors.New(credNameAssertion + ": getAssertion must be a function that returns client assertions")
	}
	app, err := newAppClient(credNameAssertion, tenantID, clientID, clientCredentialsGrant{callbackAuth(getAssertion)}, options.appOptions())
	if err != nil {
		return nil, err
	}
	return &ClientAssertionCredential{app: app}, nil
}

// GetToken returns an access token for opts.Scopes, from the cache when it
// holds a usable one. Azure SDK clients call it for you. opts.TenantID,
// opts.EnableCAE and opts.Claims work as for [ClientSecretCredential.GetToken].
func (c *ClientAssertionCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.app.getToken(ctx, spanAssertion, opts)
}

// CacheStats reports what the credential's token cache has done so far.
func (c *ClientAssertionCredential) CacheStats() CacheStats { return c.app.cacheStats() }

// invalidate drops token from the cache if it still holds it for opts: a
// resource rejected it (see [NewBearerTokenTransport]).
func (c *ClientAssertionCredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	return c.app.invalidate(opts, token)
}

var _ azcore.TokenCredential = (*ClientAssertionCredential)(nil)
