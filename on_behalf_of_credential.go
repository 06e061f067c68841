package azid

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"sync"
	"weak"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/internal/tokencache"
)

const credNameOBO = "OnBehalfOfCredential"

// OnBehalfOfCredentialOptions configures an [OnBehalfOfCredential]. The zero
// value is ready to use. The fields match azidentity's; Cache and Logger are
// azid's additions.
type OnBehalfOfCredentialOptions struct {
	azcore.ClientOptions

	// AdditionallyAllowedTenants lists tenants, besides the one given to the
	// constructor, for which GetToken may be asked. "*" allows any tenant.
	AdditionallyAllowedTenants []string

	// Cache is a persistent or distributed cache (see package cache). Tokens
	// are stored under a hash of the user assertion, never the assertion
	// itself, so any number of processes (and credentials) serving the same
	// user share them. The zero value keeps tokens in memory only.
	Cache cache.Cache

	// DisableInstanceDiscovery skips asking Entra whether the authority host
	// is a known Entra authority before the first token request.
	DisableInstanceDiscovery bool

	// SendCertificateChain sends the certificate chain (x5c) with client
	// assertions, for subject name/issuer authentication. Only
	// NewOnBehalfOfCredentialWithCertificate uses it.
	SendCertificateChain bool

	// Logger receives the cache's events at debug and warning level. Tokens,
	// assertions and secrets are never logged. Nil discards them.
	Logger *slog.Logger

	// MaxCacheEntries bounds how many tokens the credential and those
	// derived from it with WithUserAssertion keep in memory: one per user,
	// tenant, scope set and CAE setting. 0 means 10,000. Past the bound,
	// expired tokens are dropped first, then those closest to expiry, and a
	// dropped token is simply requested again when next needed. A service
	// acting for more users than that at once should raise it (a cached
	// token costs a few hundred bytes). azid's addition.
	MaxCacheEntries int
}

// appOptions maps o to the application client's options; nil is the
// defaults.
func (o *OnBehalfOfCredentialOptions) appOptions() appOptions {
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

// OnBehalfOfCredential gets tokens for a downstream API on behalf of a user,
// with the OAuth 2.0 on-behalf-of flow: a middle-tier API exchanges the
// user's access token it received (the user assertion) for a token to call
// another API as that user.
//
// As in azidentity, a credential is built for one user assertion. Unlike
// azidentity, a service that acts for many users need not pay for a client,
// a pipeline and a cache per user: [OnBehalfOfCredential.WithUserAssertion]
// derives a credential for another user that shares the first one's token
// cache, HTTP pipeline and client authentication. The shared cache is
// partitioned by a SHA-256 hash of the assertion (never the assertion
// itself), holds at most 10,000 tokens unless
// [OnBehalfOfCredentialOptions.MaxCacheEntries] says otherwise (least useful
// evicted first), and concurrent requests for one user make one token
// request.
type OnBehalfOfCredential struct {
	fam       *oboFamily
	assertion *string // keeps the family's weak reference alive
	hash      string
}

// oboFamily is what credentials derived from one constructor call share.
type oboFamily struct {
	app *appClient
	// users maps an assertion hash to the assertion, held weakly: the
	// credentials for the user keep it alive, so the cache never holds a
	// user's token beyond the lifetime of the credentials for that user.
	users sync.Map // string → weak.Pointer[string]
}

// NewOnBehalfOfCredentialWithSecret constructs an OnBehalfOfCredential for
// the API clientID in tenant tenantID, authenticating with a client secret.
// userAssertion is the access token the API received from its caller.
func NewOnBehalfOfCredentialWithSecret(tenantID, clientID, userAssertion, clientSecret string, options *OnBehalfOfCredentialOptions) (*OnBehalfOfCredential, error) {
	if clientSecret == "" {
		return nil, errors.New(credNameOBO + ": the client secret is empty")
	}
	return newOnBehalfOfCredential(tenantID, clientID, userAssertion, secretAuth(clientSecret), options)
}

// NewOnBehalfOfCredentialWithCertificate constructs an OnBehalfOfCredential
// that authenticates with a certificate, as [NewClientCertificateCredential]
// does (see [ParseCertificates]).
func NewOnBehalfOfCredentialWithCertificate(tenantID, clientID, userAssertion string, certs []*x509.Certificate, key crypto.PrivateKey, options *OnBehalfOfCredentialOptions) (*OnBehalfOfCredential, error) {
	send := options != nil && options.SendCertificateChain
	cc, err := newCertCredential(certs, key, send)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", credNameOBO, err)
	}
	return newOnBehalfOfCredential(tenantID, clientID, userAssertion, newCertAuth(clientID, cc, nil), options)
}

// NewOnBehalfOfCredentialWithClientAssertions constructs an
// OnBehalfOfCredential that authenticates with client assertions from
// getAssertion, called only when a token must come from the network (see
// [NewClientAssertionCredential]).
func NewOnBehalfOfCredentialWithClientAssertions(tenantID, clientID, userAssertion string, getAssertion func(context.Context) (string, error), options *OnBehalfOfCredentialOptions) (*OnBehalfOfCredential, error) {
	if getAssertion == nil {
		return nil, errors.New(credNameOBO + ": getAssertion must be a function that returns client assertions")
	}
	return newOnBehalfOfCredential(tenantID, clientID, userAssertion, callbackAuth(getAssertion), options)
}

func newOnBehalfOfCredential(tenantID, clientID, userAssertion string, auth clientAuthenticator, options *OnBehalfOfCredentialOptions) (*OnBehalfOfCredential, error) {
	if userAssertion == "" {
		return nil, errors.New(credNameOBO + ": the user assertion is empty; pass the access token the API received")
	}
	fam := &oboFamily{}
	app, err := newAppClient(credNameOBO, tenantID, clientID, oboGrant{auth: auth, fam: fam}, options.appOptions())
	if err != nil {
		return nil, err
	}
	fam.app = app
	return fam.forUser(userAssertion), nil
}

// WithUserAssertion returns a credential for another user (another incoming
// access token) that shares c's token cache, HTTP pipeline, client
// authentication and options. It is cheap: a hash and a small object, no
// network. Build one per incoming request, from the first credential made
// with a constructor at start-up.
//
// Tokens are cached per assertion, so a user's later requests bearing the
// same access token reuse the cached downstream token, and requests in
// flight for the same user share one token request.
func (c *OnBehalfOfCredential) WithUserAssertion(userAssertion string) (*OnBehalfOfCredential, error) {
	if userAssertion == "" {
		return nil, errors.New(credNameOBO + ": the user assertion is empty; pass the access token the API received")
	}
	return c.fam.forUser(userAssertion), nil
}

// assertionHash names a user assertion in cache keys: SHA-256, base64url
// with padding,
// the form MSAL uses for its OBO partition key, so the persistent cache
// partitions as MSAL does.
func assertionHash(assertion string) string {
	sum := sha256.Sum256([]byte(assertion))
	return base64.URLEncoding.EncodeToString(sum[:])
}

// forUser makes the credential for one assertion and registers it, weakly,
// so the grant can find the assertion by its hash when the cache acquires.
func (f *oboFamily) forUser(assertion string) *OnBehalfOfCredential {
	p := new(string)
	*p = assertion
	c := &OnBehalfOfCredential{fam: f, assertion: p, hash: assertionHash(assertion)}
	wp := weak.Make(p)
	f.users.Store(c.hash, wp)
	// When no credential for this user remains, forget the assertion; a
	// newer credential for the same user has stored its own pointer, which
	// CompareAndDelete leaves alone.
	runtime.AddCleanup(c, func(k oboCleanup) { k.fam.users.CompareAndDelete(k.hash, k.wp) },
		oboCleanup{fam: f, hash: c.hash, wp: wp})
	return c
}

type oboCleanup struct {
	fam  *oboFamily
	hash string
	wp   weak.Pointer[string]
}

// assertionFor returns the user assertion with the given hash, if a
// credential for it is still alive.
func (f *oboFamily) assertionFor(hash string) (string, bool) {
	v, ok := f.users.Load(hash)
	if !ok {
		return "", false
	}
	p := v.(weak.Pointer[string]).Value()
	if p == nil {
		return "", false
	}
	return *p, true
}

// GetToken returns an access token for opts.Scopes on behalf of the user,
// from the cache when it holds a usable one. Scopes name the downstream API
// ("https://graph.microsoft.com/User.Read", or "api://<id>/.default").
// opts.TenantID, opts.EnableCAE and opts.Claims work as for
// [ClientSecretCredential.GetToken].
func (c *OnBehalfOfCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	var tok azcore.AccessToken
	var err error
	if c.fam.app.tracer.Enabled() {
		tok, err = traceGetToken(ctx, &c.fam.app.tracer, spanOBO, opts, c.getTokenCached)
	} else {
		// The hit path: a direct call (see traceGetToken).
		tok, _, err = c.getTokenCached(ctx, opts)
	}
	// The assertion must outlive the acquisition this call may wait for.
	runtime.KeepAlive(c)
	return tok, err
}

// getTokenCached is GetToken in the partition of this credential's user
// assertion, also reporting whether the token came from the cache.
func (c *OnBehalfOfCredential) getTokenCached(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, bool, error) {
	return c.fam.app.getTokenFor(ctx, opts, c.hash)
}

// CacheStats reports what the token cache shared by this credential and
// those derived from it has done so far.
func (c *OnBehalfOfCredential) CacheStats() CacheStats { return c.fam.app.cacheStats() }

// invalidate drops token from the cache if it still holds it for opts: a
// resource rejected it (see [NewBearerTokenTransport]).
// Only this user's entry is looked at.
func (c *OnBehalfOfCredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	return c.fam.app.invalidateFor(opts, token, c.hash)
}

var _ azcore.TokenCredential = (*OnBehalfOfCredential)(nil)

// oboGrant is the jwt-bearer grant of the on-behalf-of flow, with any
// client authentication.
type oboGrant struct {
	auth clientAuthenticator
	fam  *oboFamily
}

func (g oboGrant) clientAuth() clientAuthenticator { return g.auth }

func (g oboGrant) grant(ctx context.Context, form url.Values, endpoint string, r tokencache.Request) ([]string, error) {
	assertion, ok := g.fam.assertionFor(r.AssertionHash)
	if !ok {
		return nil, errors.New("no credential for this user assertion is in use any more, so its token cannot be refreshed; make a new credential with the user's current access token")
	}
	form.Set("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
	form.Set("requested_token_use", "on_behalf_of")
	form.Set("assertion", assertion)
	secrets, err := g.auth.authenticateClient(ctx, form, endpoint)
	if err != nil {
		return nil, err
	}
	return append(secrets, assertion), nil
}
