package azid

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/internal/loopback"
	"github.com/azid-go/azid/internal/sts"
)

const credNameBrowser = "InteractiveBrowserCredential"

// defaultBrowserTimeout bounds how long a sign-in may take in the browser
// when the caller's context has no earlier deadline: a forgotten browser
// tab must not keep the redirect listener open forever.
const defaultBrowserTimeout = 5 * time.Minute

// InteractiveBrowserCredentialOptions configures an
// [InteractiveBrowserCredential]. The zero value is ready to use. The
// fields match azidentity's.
type InteractiveBrowserCredentialOptions struct {
	azcore.ClientOptions

	// AdditionallyAllowedTenants lists tenants, besides TenantID, for which
	// GetToken may be asked; "*" allows any.
	AdditionallyAllowedTenants []string

	// AuthenticationRecord, from an earlier Authenticate, names the account
	// to use.
	AuthenticationRecord AuthenticationRecord

	// Cache is the persistent cache; the zero value keeps tokens in memory
	// only.
	Cache cache.Cache

	// ClientID is the application users sign in to. Default: the Azure
	// development app; register your own for production (with the redirect
	// URI http://localhost).
	ClientID string

	// DisableAutomaticAuthentication makes GetToken return an
	// [*AuthenticationRequiredError] instead of opening a browser.
	DisableAutomaticAuthentication bool

	// DisableInstanceDiscovery skips authority validation; see
	// [ClientSecretCredentialOptions].
	DisableInstanceDiscovery bool

	// LoginHint pre-fills the sign-in page's username.
	LoginHint string

	// RedirectURL is the redirect URI registered for ClientID: an http URL
	// on localhost or 127.0.0.1. Its port (if any) and path are where the
	// credential listens; without a port, a free one is used, which Entra
	// accepts for loopback redirect URIs. Default: http://localhost.
	RedirectURL string

	// TenantID is the tenant to sign in to. Default "organizations".
	TenantID string

	// Logger receives the cache's events; see
	// [ClientSecretCredentialOptions].
	Logger *slog.Logger
}

// publicOptions maps o to the user client's options.
func (o InteractiveBrowserCredentialOptions) publicOptions() publicOptions {
	return publicOptions{
		ClientOptions:                  o.ClientOptions,
		AdditionallyAllowedTenants:     o.AdditionallyAllowedTenants,
		DisableAutomaticAuthentication: o.DisableAutomaticAuthentication,
		DisableInstanceDiscovery:       o.DisableInstanceDiscovery,
		Record:                         o.AuthenticationRecord,
		Cache:                          o.Cache,
		Logger:                         o.Logger,
	}
}

// InteractiveBrowserCredential signs a user in through the system browser
// with the authorization code flow and PKCE: it opens Entra's sign-in page
// and receives the code on a listener bound to 127.0.0.1, which accepts
// only the redirect carrying this sign-in's random state and then closes.
//
// After the first sign-in, tokens for any scope come silently from the
// account's refresh token; the browser opens again only when Entra
// demands it.
type InteractiveBrowserCredential struct {
	client *publicClient
}

// NewInteractiveBrowserCredential constructs an InteractiveBrowserCredential.
// Pass nil for the defaults.
func NewInteractiveBrowserCredential(options *InteractiveBrowserCredentialOptions) (*InteractiveBrowserCredential, error) {
	return newInteractiveBrowserCredential(options, nil)
}

// newInteractiveBrowserCredential takes the browser opener; nil means the
// platform's. Tests open a headless browser instead.
func newInteractiveBrowserCredential(options *InteractiveBrowserCredentialOptions, open func(context.Context, string) error) (*InteractiveBrowserCredential, error) {
	var o InteractiveBrowserCredentialOptions
	if options != nil {
		o = *options
	}
	if o.RedirectURL != "" {
		u, err := url.Parse(o.RedirectURL)
		if err != nil || u.Scheme != "http" || (u.Hostname() != "localhost" && u.Hostname() != "127.0.0.1") {
			return nil, fmt.Errorf("%s: RedirectURL %q must be an http URL on localhost or 127.0.0.1", credNameBrowser, o.RedirectURL)
		}
	}
	if open == nil {
		open = openBrowser
	}
	flow := &browserFlow{open: open, redirectURL: o.RedirectURL, loginHint: o.LoginHint, timeout: defaultBrowserTimeout}
	c, err := newPublicClient(credNameBrowser, o.TenantID, o.ClientID, flow, o.publicOptions())
	if err != nil {
		return nil, err
	}
	return &InteractiveBrowserCredential{client: c}, nil
}

// Authenticate opens the browser for the user to sign in and returns the
// account's record; later GetToken calls use that account.
func (c *InteractiveBrowserCredential) Authenticate(ctx context.Context, opts *policy.TokenRequestOptions) (AuthenticationRecord, error) {
	return traceAuthenticate(ctx, c.client.tracer, spanBrowserAuth, opts, c.client.authenticate)
}

// GetToken returns an access token for opts.Scopes: from the cache, else
// silently with the refresh token, else by opening the browser (unless
// DisableAutomaticAuthentication).
func (c *InteractiveBrowserCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.client.getToken(ctx, spanBrowser, opts)
}

// CacheStats reports what the credential's token cache has done so far.
func (c *InteractiveBrowserCredential) CacheStats() CacheStats { return c.client.cacheStats() }

// invalidate drops token from the cache if it still holds it for opts: a
// resource rejected it (see [NewBearerTokenTransport]).
func (c *InteractiveBrowserCredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	return c.client.invalidate(opts, token)
}

var _ azcore.TokenCredential = (*InteractiveBrowserCredential)(nil)

// browserFlow is the authorization code flow with PKCE (RFC 7636) and a
// loopback redirect (RFC 8252).
type browserFlow struct {
	open        func(ctx context.Context, url string) error
	redirectURL string
	loginHint   string
	timeout     time.Duration
}

func (f *browserFlow) interact(ctx context.Context, p *publicClient, r interactRequest) (*sts.TokenResponse, error) {
	verifier := randomString(32) // 43 characters, RFC 7636's minimum
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	state := randomString(24)

	l, err := loopback.Listen(f.redirectURL, state)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.name, err)
	}
	defer l.Close()

	q := url.Values{}
	q.Set("client_id", p.clientID)
	q.Set("response_type", "code")
	q.Set("response_mode", "query")
	q.Set("redirect_uri", l.RedirectURI())
	q.Set("scope", strings.Join(r.scopes, " "))
	q.Set("state", state)
	q.Set("code_challenge", challenge)
	q.Set("code_challenge_method", "S256")
	q.Set("client_info", "1")
	q.Set("prompt", "select_account")
	hint := f.loginHint
	if hint == "" {
		hint = r.loginHint
	}
	if hint != "" {
		q.Set("login_hint", hint)
	}
	if r.claims != "" {
		q.Set("claims", r.claims)
	}
	authURL := p.endpoint(r.tenant, "authorize") + "?" + q.Encode()

	wctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	if err := f.open(wctx, authURL); err != nil {
		return nil, fmt.Errorf("%s: could not open a browser (%w); on a machine without one, use DeviceCodeCredential", p.name, err)
	}
	res, err := l.Wait(wctx)
	if err != nil {
		return nil, fmt.Errorf("%s: the sign-in in the browser did not complete: %w", p.name, err)
	}
	if res.Error != "" {
		return nil, &AuthenticationFailedError{
			CredentialType: p.name,
			ErrorCode:      res.Error,
			Description:    res.Description,
			err:            fmt.Errorf("the sign-in page answered %s: %s", res.Error, res.Description),
		}
	}
	form := url.Values{}
	form.Set("grant_type", "authorization_code")
	form.Set("client_id", p.clientID)
	form.Set("code", res.Code)
	form.Set("redirect_uri", l.RedirectURI())
	form.Set("code_verifier", verifier)
	form.Set("scope", strings.Join(r.scopes, " "))
	form.Set("client_info", "1")
	if r.claims != "" {
		form.Set("claims", r.claims)
	}
	resp, err := p.sts.Token(ctx, p.tokenEndpoint(r.tenant), form, res.Code, verifier)
	if err != nil {
		return nil, newAuthenticationFailedError(p.name, err)
	}
	return resp, nil
}

// openBrowser opens url with the platform's opener. The URL is one
// argument, never passed through a shell. The opener is not bound to the
// sign-in's context: cancelling the sign-in must not kill the browser the
// user is looking at.
func openBrowser(_ context.Context, u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	case "darwin":
		cmd = exec.Command("open", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	// The opener exits once it handed the URL over; reap it meanwhile.
	go func() { _ = cmd.Wait() }()
	if cmd.Process == nil {
		return errors.New("the browser opener did not start")
	}
	return nil
}
