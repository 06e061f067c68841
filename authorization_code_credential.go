package azid

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/internal/sts"
)

const credNameAuthCode = "AuthorizationCodeCredential"

// AuthorizationCodeCredentialOptions configures an
// [AuthorizationCodeCredential]. The zero value suits a public client
// that did not use PKCE.
type AuthorizationCodeCredentialOptions struct {
	azcore.ClientOptions

	// AdditionallyAllowedTenants lists tenants, besides the constructor's,
	// for which GetToken may be asked; "*" allows any.
	AdditionallyAllowedTenants []string

	// ClientSecret authenticates a confidential client (a web app). Leave
	// it empty for a public client.
	ClientSecret string

	// CodeVerifier is the PKCE code verifier whose challenge was sent in
	// the authorization request, when one was.
	CodeVerifier string

	// AuthenticationRecord names the account a credential of an earlier
	// run signed in (from its Authenticate). With it and a persistent
	// Cache, the credential first looks for that account's tokens and
	// redeems its code only when they cannot serve the request: a web app
	// restarted with a persistent cache keeps its users signed in. With a
	// record, the code may be empty; GetToken then fails with an
	// [*AuthenticationRequiredError] once the account's tokens cannot serve
	// a request.
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
func (o AuthorizationCodeCredentialOptions) publicOptions() publicOptions {
	return publicOptions{
		ClientOptions:              o.ClientOptions,
		AdditionallyAllowedTenants: o.AdditionallyAllowedTenants,
		DisableInstanceDiscovery:   o.DisableInstanceDiscovery,
		Record:                     o.AuthenticationRecord,
		Cache:                      o.Cache,
		Logger:                     o.Logger,
		clientSecret:               o.ClientSecret,
	}
}

// AuthorizationCodeCredential redeems an authorization code that an app
// received on its redirect URI (the OAuth 2.0 authorization code flow run
// by a web app, or by a program that opened the browser itself), then gets
// tokens for any scope silently with the refresh token that came with it.
//
// The code is redeemed at most once, on the first GetToken or
// Authenticate: Entra refuses a second redemption (AADSTS54005), so the
// credential never attempts one. When the refresh token stops working
// (revoked, or Entra demands interaction), GetToken fails with an
// [*AuthenticationRequiredError]: the app must send the user through the
// authorization flow again and build a new credential with the new code.
//
// azidentity for Go has no such credential; the Azure Identity libraries
// of other languages do.
type AuthorizationCodeCredential struct {
	client *publicClient
	flow   *authCodeFlow
}

// NewAuthorizationCodeCredential constructs a credential that redeems
// authCode, issued to clientID in tenantID for redirectURL (which must be
// the redirect_uri of the authorization request). Pass nil options for a
// public client without PKCE.
func NewAuthorizationCodeCredential(tenantID, clientID, authCode, redirectURL string, options *AuthorizationCodeCredentialOptions) (*AuthorizationCodeCredential, error) {
	var o AuthorizationCodeCredentialOptions
	if options != nil {
		o = *options
	}
	switch {
	case tenantID == "":
		return nil, errors.New(credNameAuthCode + ": a tenant ID is required")
	case clientID == "":
		return nil, errors.New(credNameAuthCode + ": a client ID is required")
	case authCode == "" && o.AuthenticationRecord.isZero():
		return nil, errors.New(credNameAuthCode + ": the authorization code is empty; pass the code, or an AuthenticationRecord of an earlier sign-in")
	case redirectURL == "":
		return nil, errors.New(credNameAuthCode + ": the redirect URL is required; it must equal the redirect_uri of the authorization request")
	}
	if u, err := url.Parse(redirectURL); err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("%s: the redirect URL %q is not an absolute URL", credNameAuthCode, redirectURL)
	}
	// Without a code there is nothing to redeem: the record's tokens are
	// all there is, as after a redemption.
	flow := &authCodeFlow{code: authCode, redirectURL: redirectURL, verifier: o.CodeVerifier, redeemed: authCode == ""}
	c, err := newPublicClient(credNameAuthCode, tenantID, clientID, flow, o.publicOptions())
	if err != nil {
		return nil, err
	}
	return &AuthorizationCodeCredential{client: c, flow: flow}, nil
}

// Authenticate redeems the code if that has not happened yet and returns
// the account's record. After the redemption it gets a token silently
// (for opts) and returns the same record.
func (c *AuthorizationCodeCredential) Authenticate(ctx context.Context, opts *policy.TokenRequestOptions) (AuthenticationRecord, error) {
	return traceAuthenticate(ctx, c.client.tracer, spanAuthCodeAuth, opts, c.authenticate)
}

func (c *AuthorizationCodeCredential) authenticate(ctx context.Context, opts *policy.TokenRequestOptions) (AuthenticationRecord, error) {
	if !c.flow.isRedeemed() {
		return c.client.authenticate(ctx, opts)
	}
	o := policy.TokenRequestOptions{}
	if opts != nil {
		o = *opts
	}
	if len(o.Scopes) == 0 {
		o.Scopes = c.client.defaultScope
	}
	if _, err := c.GetToken(ctx, o); err != nil {
		return AuthenticationRecord{}, err
	}
	if rec := c.client.record.Load(); rec != nil {
		return *rec, nil
	}
	return AuthenticationRecord{}, fmt.Errorf("%s: the authorization code was redeemed without signing an account in", credNameAuthCode)
}

// GetToken returns an access token for opts.Scopes: the first call
// redeems the code, later ones use the cache or the refresh token.
func (c *AuthorizationCodeCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.client.getToken(ctx, spanAuthCode, opts)
}

// CacheStats reports what the credential's token cache has done so far.
func (c *AuthorizationCodeCredential) CacheStats() CacheStats { return c.client.cacheStats() }

// invalidate drops token from the cache if it still holds it for opts: a
// resource rejected it (see [NewBearerTokenTransport]).
func (c *AuthorizationCodeCredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	return c.client.invalidate(opts, token)
}

var _ azcore.TokenCredential = (*AuthorizationCodeCredential)(nil)

// authCodeFlow redeems the code, once.
type authCodeFlow struct {
	code, redirectURL, verifier string

	mu       sync.Mutex
	redeemed bool
}

func (f *authCodeFlow) isRedeemed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.redeemed
}

// errCodeRedeemed is the cause when interaction is needed after the code
// was spent.
var errCodeRedeemed = errors.New("the authorization code was already redeemed and the refresh token cannot be used; send the user through the authorization flow again and create a credential with the new code")

// errNoCode is the cause when interaction is needed and the credential was
// built with a record and no code.
var errNoCode = errors.New("the credential has no authorization code and the account's refresh token cannot be used; send the user through the authorization flow again and create a credential with the new code")

func (f *authCodeFlow) interact(ctx context.Context, p *publicClient, r interactRequest) (*sts.TokenResponse, error) {
	f.mu.Lock()
	if f.redeemed {
		f.mu.Unlock()
		cause := errCodeRedeemed
		if f.code == "" {
			cause = errNoCode
		}
		return nil, &AuthenticationRequiredError{credType: p.name, err: cause,
			TokenRequestOptions: policy.TokenRequestOptions{Scopes: scopesOnly(r.scopes), TenantID: r.tenant}}
	}
	// Marked before the request: a code is never sent twice, even when the
	// first attempt failed in transit (Entra may have consumed it).
	f.redeemed = true
	f.mu.Unlock()

	form := url.Values{}
	form.Set("grant_type", "authorization_code")
	form.Set("client_id", p.clientID)
	form.Set("code", f.code)
	form.Set("redirect_uri", f.redirectURL)
	form.Set("scope", strings.Join(r.scopes, " "))
	form.Set("client_info", "1")
	secrets := []string{f.code}
	if f.verifier != "" {
		form.Set("code_verifier", f.verifier)
		secrets = append(secrets, f.verifier)
	}
	if p.clientSecret != "" {
		form.Set("client_secret", p.clientSecret)
		secrets = append(secrets, p.clientSecret)
	}
	if r.claims != "" {
		form.Set("claims", r.claims)
	}
	resp, err := p.sts.Token(ctx, p.tokenEndpoint(r.tenant), form, secrets...)
	if err != nil {
		return nil, newAuthenticationFailedError(p.name, err)
	}
	return resp, nil
}

// scopesOnly drops the OIDC scopes withOIDCScopes added.
func scopesOnly(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		switch s {
		case "openid", "profile", "offline_access":
		default:
			out = append(out, s)
		}
	}
	return out
}
