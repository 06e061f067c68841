package azid

import (
	"context"
	"errors"
	"log/slog"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/cache"
)

const credNameSecret = "ClientSecretCredential"

// ClientSecretCredentialOptions configures a [ClientSecretCredential]. The
// zero value is ready to use. The fields match azidentity's, so switching is
// an import change.
type ClientSecretCredentialOptions struct {
	azcore.ClientOptions

	// AdditionallyAllowedTenants lists tenants, besides the one given to the
	// constructor, for which GetToken may be asked (TokenRequestOptions.TenantID).
	// "*" allows any tenant the application is provisioned in.
	AdditionallyAllowedTenants []string

	// DisableInstanceDiscovery skips asking Entra whether the authority host
	// is a known Entra authority before the first token request. Set it for
	// private clouds and Azure Stack, and for local emulators; azid then
	// trusts the configured host as it is.
	DisableInstanceDiscovery bool

	// Logger receives the cache's events (acquisitions, refresh failures,
	// evictions) at debug and warning level. Tokens and secrets are never
	// logged. Nil discards them.
	Logger *slog.Logger

	// Cache is a persistent cache (from cache.New) shared with other
	// credentials, processes and runs, and with azidentity programs using
	// the same cache name. The zero value keeps tokens in memory only.
	// Hits are served from memory either way; the persistent cache is read
	// only on a miss.
	Cache cache.Cache

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
func (o *ClientSecretCredentialOptions) appOptions() appOptions {
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

// ClientSecretCredential authenticates an application (a service principal)
// with a client secret, using the OAuth 2.0 client credentials grant.
//
// Tokens are cached in memory, per credential instance: a GetToken for a
// cached scope costs well under a microsecond and never touches the network;
// a token is refreshed in the background before it expires, so callers do
// not wait for refreshes; and during an Entra outage the cached token keeps
// being served until shortly before it expires.
type ClientSecretCredential struct {
	app *appClient
}

// NewClientSecretCredential constructs a ClientSecretCredential for the app
// clientID in tenant tenantID. Pass nil options for the defaults.
func NewClientSecretCredential(tenantID, clientID, clientSecret string, options *ClientSecretCredentialOptions) (*ClientSecretCredential, error) {
	if clientSecret == "" {
		return nil, errors.New(credNameSecret + ": the client secret is empty")
	}
	app, err := newAppClient(credNameSecret, tenantID, clientID, clientCredentialsGrant{secretAuth(clientSecret)}, options.appOptions())
	if err != nil {
		return nil, err
	}
	return &ClientSecretCredential{app: app}, nil
}

// GetToken returns an access token for opts.Scopes, from the cache when it
// holds a usable one. Azure SDK clients call it for you.
//
// opts.TenantID selects another tenant (it must be allowed by
// AdditionallyAllowedTenants); opts.EnableCAE asks for a token that supports
// Continuous Access Evaluation; opts.Claims, a claims challenge from a
// resource, bypasses the cache and the token it returns replaces the cached
// one.
func (c *ClientSecretCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.app.getToken(ctx, spanSecret, opts)
}

// CacheStats reports what the credential's token cache has done so far.
func (c *ClientSecretCredential) CacheStats() CacheStats { return c.app.cacheStats() }

func (c *ClientSecretCredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	return c.app.invalidate(opts, token)
}

var _ azcore.TokenCredential = (*ClientSecretCredential)(nil)
