package azid

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/internal/sts"
)

const credNameUserPassword = "UsernamePasswordCredential"

// UsernamePasswordCredentialOptions configures a
// [UsernamePasswordCredential]. The zero value is ready to use.
//
// Deprecated: UsernamePasswordCredential cannot satisfy multifactor
// authentication, which Entra increasingly requires; see
// https://aka.ms/azsdk/identity/mfa for alternatives.
type UsernamePasswordCredentialOptions struct {
	azcore.ClientOptions

	// AdditionallyAllowedTenants lists tenants, besides the constructor's,
	// for which GetToken may be asked; "*" allows any.
	AdditionallyAllowedTenants []string

	// AuthenticationRecord names the account, as for the other user
	// credentials.
	AuthenticationRecord AuthenticationRecord

	// Cache is the persistent cache; the zero value keeps tokens in memory
	// only.
	Cache cache.Cache

	// DisableInstanceDiscovery skips authority validation; see
	// [ClientSecretCredentialOptions].
	DisableInstanceDiscovery bool

	// Logger receives the cache's events; see
	// [ClientSecretCredentialOptions].
	Logger *slog.Logger
}

// publicOptions maps o to the user client's options.
func (o UsernamePasswordCredentialOptions) publicOptions() publicOptions {
	return publicOptions{
		ClientOptions:              o.ClientOptions,
		AdditionallyAllowedTenants: o.AdditionallyAllowedTenants,
		DisableInstanceDiscovery:   o.DisableInstanceDiscovery,
		Record:                     o.AuthenticationRecord,
		Cache:                      o.Cache,
		Logger:                     o.Logger,
	}
}

// UsernamePasswordCredential signs a user in with a username and password
// (the resource owner password credentials grant). It cannot do
// multifactor authentication or consent, and works only for work and
// school accounts whose tenant allows it. The password is sent only when
// no refresh token can get the token silently.
//
// Deprecated: Microsoft deprecates this flow because it cannot support
// multifactor authentication; see https://aka.ms/azsdk/identity/mfa. Use
// [InteractiveBrowserCredential] or [DeviceCodeCredential] for people, and
// a service principal or managed identity for automation.
type UsernamePasswordCredential struct {
	client *publicClient
}

// NewUsernamePasswordCredential constructs a UsernamePasswordCredential
// for username in tenantID, signing in to the application clientID. Pass
// nil options for the defaults.
//
// Deprecated: see [UsernamePasswordCredential].
func NewUsernamePasswordCredential(tenantID, clientID, username, password string, options *UsernamePasswordCredentialOptions) (*UsernamePasswordCredential, error) {
	var o UsernamePasswordCredentialOptions
	if options != nil {
		o = *options
	}
	if tenantID == "" {
		return nil, errors.New(credNameUserPassword + ": a tenant ID is required")
	}
	if clientID == "" {
		return nil, errors.New(credNameUserPassword + ": a client ID is required")
	}
	if username == "" || password == "" {
		return nil, errors.New(credNameUserPassword + ": a username and a password are required")
	}
	c, err := newPublicClient(credNameUserPassword, tenantID, clientID, passwordFlow{username: username, password: password}, o.publicOptions())
	if err != nil {
		return nil, err
	}
	return &UsernamePasswordCredential{client: c}, nil
}

// Authenticate signs the user in and returns the account's record.
func (c *UsernamePasswordCredential) Authenticate(ctx context.Context, opts *policy.TokenRequestOptions) (AuthenticationRecord, error) {
	return traceAuthenticate(ctx, c.client.tracer, spanUserPasswordAuth, opts, c.client.authenticate)
}

// GetToken returns an access token for opts.Scopes: from the cache, else
// with the refresh token, else with the password.
func (c *UsernamePasswordCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.client.getToken(ctx, spanUserPassword, opts)
}

// CacheStats reports what the credential's token cache has done so far.
func (c *UsernamePasswordCredential) CacheStats() CacheStats { return c.client.cacheStats() }

// invalidate drops token from the cache if it still holds it for opts: a
// resource rejected it (see [NewBearerTokenTransport]).
func (c *UsernamePasswordCredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	return c.client.invalidate(opts, token)
}

var _ azcore.TokenCredential = (*UsernamePasswordCredential)(nil)

// passwordFlow is the password grant. Its String hides the password.
type passwordFlow struct {
	username, password string
}

func (f passwordFlow) String() string { return "passwordFlow{" + f.username + "}" }

func (f passwordFlow) interact(ctx context.Context, p *publicClient, r interactRequest) (*sts.TokenResponse, error) {
	form := url.Values{}
	form.Set("grant_type", "password")
	form.Set("client_id", p.clientID)
	form.Set("username", f.username)
	form.Set("password", f.password)
	form.Set("scope", strings.Join(r.scopes, " "))
	form.Set("client_info", "1")
	if r.claims != "" {
		form.Set("claims", r.claims)
	}
	resp, err := p.sts.Token(ctx, p.tokenEndpoint(r.tenant), form, f.password)
	if err != nil {
		return nil, newAuthenticationFailedError(p.name, err)
	}
	return resp, nil
}
