package azid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/internal/sts"
)

const credNameDeviceCode = "DeviceCodeCredential"

// DeviceCodeCredentialOptions configures a [DeviceCodeCredential]. The zero
// value is ready to use. The fields match azidentity's.
type DeviceCodeCredentialOptions struct {
	azcore.ClientOptions

	// AdditionallyAllowedTenants lists tenants, besides TenantID, for which
	// GetToken may be asked; "*" allows any.
	AdditionallyAllowedTenants []string

	// AuthenticationRecord, from an earlier Authenticate, names the account
	// to use: with a persistent Cache, the credential then gets tokens
	// silently in a new process.
	AuthenticationRecord AuthenticationRecord

	// Cache is the persistent cache; the zero value keeps tokens in memory
	// only, per credential instance.
	Cache cache.Cache

	// ClientID is the application users sign in to. Default: the Azure
	// development app (as azidentity); register your own for production.
	ClientID string

	// DisableAutomaticAuthentication makes GetToken return an
	// [*AuthenticationRequiredError] instead of prompting when the user must
	// interact; call Authenticate to prompt.
	DisableAutomaticAuthentication bool

	// DisableInstanceDiscovery skips authority validation; see
	// [ClientSecretCredentialOptions].
	DisableInstanceDiscovery bool

	// TenantID is the tenant to sign in to. Default "organizations": any
	// work or school account.
	TenantID string

	// UserPrompt shows the user where to go and which code to enter. It is
	// called once per sign-in, before polling starts; an error from it ends
	// the sign-in. Default: the message is printed to stderr (azidentity
	// prints to stdout, which would mix it into a program's output).
	UserPrompt func(context.Context, DeviceCodeMessage) error

	// Logger receives the cache's events; see
	// [ClientSecretCredentialOptions].
	Logger *slog.Logger
}

// publicOptions maps o to the user client's options.
func (o DeviceCodeCredentialOptions) publicOptions() publicOptions {
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

// DeviceCodeMessage is what the user needs to sign in.
type DeviceCodeMessage struct {
	// UserCode is the code to enter.
	UserCode string `json:"user_code"`
	// VerificationURL is the page to enter it on.
	VerificationURL string `json:"verification_uri"`
	// Message is Entra's instruction, naming both.
	Message string `json:"message"`
}

// DeviceCodeCredential signs a user in with the device code flow: the user
// opens a page on any device, enters a code and signs in, while the
// program polls Entra. It suits SSH sessions and containers, where no
// browser can be opened; where one can, [InteractiveBrowserCredential] is
// more convenient.
//
// After the first sign-in, tokens for any scope come silently from the
// account's refresh token; the user is prompted again only when Entra
// demands it.
type DeviceCodeCredential struct {
	client *publicClient
}

// NewDeviceCodeCredential constructs a DeviceCodeCredential. Pass nil for
// the defaults.
func NewDeviceCodeCredential(options *DeviceCodeCredentialOptions) (*DeviceCodeCredential, error) {
	return newDeviceCodeCredential(options, time.Second)
}

// newDeviceCodeCredential takes the polling unit, a second outside tests:
// Entra's intervals are whole seconds, which tests shrink.
func newDeviceCodeCredential(options *DeviceCodeCredentialOptions, unit time.Duration) (*DeviceCodeCredential, error) {
	var o DeviceCodeCredentialOptions
	if options != nil {
		o = *options
	}
	prompt := o.UserPrompt
	if prompt == nil {
		prompt = func(_ context.Context, m DeviceCodeMessage) error {
			_, err := fmt.Fprintln(os.Stderr, m.Message)
			return err
		}
	}
	c, err := newPublicClient(credNameDeviceCode, o.TenantID, o.ClientID, &deviceCodeFlow{prompt: prompt, unit: unit}, o.publicOptions())
	if err != nil {
		return nil, err
	}
	return &DeviceCodeCredential{client: c}, nil
}

// Authenticate signs a user in with a device code and returns the
// account's record; later GetToken calls use that account. Save the
// record (see [SaveAuthenticationRecord]) to sign in silently in a later
// process with a persistent cache. opts may be nil: the scope then is Azure
// Resource Manager's.
func (c *DeviceCodeCredential) Authenticate(ctx context.Context, opts *policy.TokenRequestOptions) (AuthenticationRecord, error) {
	return traceAuthenticate(ctx, c.client.tracer, spanDeviceCodeAuth, opts, c.client.authenticate)
}

// GetToken returns an access token for opts.Scopes: from the cache, else
// silently with the refresh token, else by prompting the user (unless
// DisableAutomaticAuthentication). Azure SDK clients call it for you.
func (c *DeviceCodeCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.client.getToken(ctx, spanDeviceCode, opts)
}

// CacheStats reports what the credential's token cache has done so far.
func (c *DeviceCodeCredential) CacheStats() CacheStats { return c.client.cacheStats() }

// invalidate drops token from the cache if it still holds it for opts: a
// resource rejected it (see [NewBearerTokenTransport]).
func (c *DeviceCodeCredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	return c.client.invalidate(opts, token)
}

var _ azcore.TokenCredential = (*DeviceCodeCredential)(nil)

// deviceCodeFlow is RFC 8628 against Entra.
type deviceCodeFlow struct {
	prompt func(context.Context, DeviceCodeMessage) error
	unit   time.Duration // one second of the server's intervals
}

// deviceAuthorization is the device code endpoint's answer.
type deviceAuthorization struct {
	UserCode        string          `json:"user_code"`
	DeviceCode      string          `json:"device_code"`
	VerificationURI string          `json:"verification_uri"`
	ExpiresIn       json.RawMessage `json:"expires_in"`
	Interval        json.RawMessage `json:"interval"`
	Message         string          `json:"message"`
}

// slowDownStep is how much slow_down adds to the interval (RFC 8628 §3.5).
const slowDownStep = 5

// maxDeviceCodeWait bounds the polling when the server's expires_in is
// missing or absurd.
const maxDeviceCodeWait = 30 * time.Minute

func (f *deviceCodeFlow) interact(ctx context.Context, p *publicClient, r interactRequest) (*sts.TokenResponse, error) {
	form := url.Values{}
	form.Set("client_id", p.clientID)
	form.Set("scope", strings.Join(r.scopes, " "))
	if r.claims != "" {
		form.Set("claims", r.claims)
	}
	body, err := p.postForm(ctx, p.endpoint(r.tenant, "devicecode"), form)
	if err != nil {
		return nil, newAuthenticationFailedError(p.name, fmt.Errorf("requesting a device code: %w", err))
	}
	var da deviceAuthorization
	if err := json.Unmarshal(body, &da); err != nil || da.DeviceCode == "" || da.UserCode == "" {
		return nil, newAuthenticationFailedError(p.name, errors.New("the device code answer is not usable: it must be a JSON object with device_code and user_code"))
	}
	interval := seconds(da.Interval, 5, 60)
	expires := seconds(da.ExpiresIn, int64(maxDeviceCodeWait/time.Second), int64(maxDeviceCodeWait/time.Second))
	msg := DeviceCodeMessage{UserCode: da.UserCode, VerificationURL: da.VerificationURI, Message: da.Message}
	if msg.Message == "" {
		msg.Message = fmt.Sprintf("To sign in, open %s and enter the code %s.", da.VerificationURI, da.UserCode)
	}
	if err := f.prompt(ctx, msg); err != nil {
		return nil, fmt.Errorf("%s: UserPrompt: %w", p.name, err)
	}

	deadline := time.Now().Add(time.Duration(expires) * f.unit)
	poll := url.Values{}
	poll.Set("grant_type", "urn:ietf:params:oauth:grant-type:device_code")
	poll.Set("client_id", p.clientID)
	poll.Set("device_code", da.DeviceCode)
	poll.Set("client_info", "1")
	if p.clientSecret != "" {
		poll.Set("client_secret", p.clientSecret)
	}
	timer := time.NewTimer(time.Duration(interval) * f.unit)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: stopped waiting for the user to sign in: %w", p.name, context.Cause(ctx))
		case <-timer.C:
		}
		resp, err := p.sts.Token(ctx, p.tokenEndpoint(r.tenant), poll, da.DeviceCode, p.clientSecret)
		if err == nil {
			return resp, nil
		}
		var se *sts.Error
		if !errors.As(err, &se) {
			return nil, newAuthenticationFailedError(p.name, err)
		}
		switch se.Code {
		case "authorization_pending":
		case "slow_down":
			interval += slowDownStep
		case "expired_token", "code_expired":
			return nil, newAuthenticationFailedError(p.name, fmt.Errorf("the device code expired before the user signed in: %w", err))
		case "authorization_declined", "access_denied":
			return nil, newAuthenticationFailedError(p.name, fmt.Errorf("the user declined the sign-in: %w", err))
		default:
			return nil, newAuthenticationFailedError(p.name, err)
		}
		if time.Now().After(deadline) {
			return nil, newAuthenticationFailedError(p.name, errors.New("the device code expired before the user signed in"))
		}
		timer.Reset(time.Duration(interval) * f.unit)
	}
}

// seconds reads a number of seconds sent as a JSON number or string, with
// a default for a missing or unusable value and an upper bound.
func seconds(raw json.RawMessage, def, max int64) int64 {
	v, err := strconv.ParseInt(strings.Trim(string(raw), `"`), 10, 64)
	if err != nil || v <= 0 {
		return def
	}
	return min(v, max)
}
