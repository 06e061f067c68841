package azid

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"log/slog"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/cache"
)

const credNameCert = "ClientCertificateCredential"

// ClientCertificateCredentialOptions configures a
// [ClientCertificateCredential]. The zero value is ready to use. The fields
// match azidentity's; Logger is azid's addition.
type ClientCertificateCredentialOptions struct {
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

	// SendCertificateChain sends the certificate chain (the x5c header) with
	// every client assertion. Apps configured for subject name/issuer
	// authentication need it; others need not send it.
	SendCertificateChain bool

	// Logger receives the cache's events at debug and warning level. Tokens,
	// keys and assertions are never logged. Nil discards them.
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
func (o *ClientCertificateCredentialOptions) appOptions() appOptions {
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

// ClientCertificateCredential authenticates an application (a service
// principal) with a certificate: each token request carries a client
// assertion, a short-lived JWT signed with the certificate's private key.
// Get the certificates and key from a file with [ParseCertificates].
//
// Tokens are cached per credential instance exactly as for
// [ClientSecretCredential]. Every token request carries a new assertion
// (its own random jti, valid for ten minutes), so a server that refuses a
// replayed assertion accepts each one.
type ClientCertificateCredential struct {
	app *appClient
}

// NewClientCertificateCredential constructs a ClientCertificateCredential
// for the app clientID in tenant tenantID. certs must include the
// certificate of key, which must be an RSA private key; further certificates
// form the chain sent when SendCertificateChain is set. Pass nil options for
// the defaults.
func NewClientCertificateCredential(tenantID, clientID string, certs []*x509.Certificate, key crypto.PrivateKey, options *ClientCertificateCredentialOptions) (*ClientCertificateCredential, error) {
	cc, err := newCertCredential(certs, key, options != nil && options.SendCertificateChain)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", credNameCert, err)
	}
	app, err := newAppClient(credNameCert, tenantID, clientID, clientCredentialsGrant{newCertAuth(clientID, cc, nil)}, options.appOptions())
	if err != nil {
		return nil, err
	}
	return &ClientCertificateCredential{app: app}, nil
}

// GetToken returns an access token for opts.Scopes, from the cache when it
// holds a usable one. Azure SDK clients call it for you. opts.TenantID,
// opts.EnableCAE and opts.Claims work as for [ClientSecretCredential.GetToken].
func (c *ClientCertificateCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.app.getToken(ctx, spanCert, opts)
}

// CacheStats reports what the credential's token cache has done so far.
func (c *ClientCertificateCredential) CacheStats() CacheStats { return c.app.cacheStats() }

// invalidate drops token from the cache if it still holds it for opts: a
// resource rejected it (see [NewBearerTokenTransport]).
func (c *ClientCertificateCredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	return c.app.invalidate(opts, token)
}

var _ azcore.TokenCredential = (*ClientCertificateCredential)(nil)
