package azid

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/internal/devtool"
)

const credNameAzureDeveloperCLI = "AzureDeveloperCLICredential"

// AzureDeveloperCLICredentialOptions configures an
// [AzureDeveloperCLICredential]. The zero value is ready to use. The fields
// match azidentity's, plus DisableInMemoryCache.
type AzureDeveloperCLICredentialOptions struct {
	// AdditionallyAllowedTenants lists tenants, besides TenantID, for which
	// GetToken may be asked (TokenRequestOptions.TenantID); "*" allows any.
	// When TenantID is empty and this list too, any tenant may be asked for.
	AdditionallyAllowedTenants []string

	// TenantID is the tenant to get tokens in; empty means azd's default,
	// the tenant of the azd environment's subscription.
	TenantID string

	// DisableInMemoryCache makes every GetToken run azd, as azidentity does.
	// By default azid keeps azd's tokens in memory, per credential, and drops
	// them all as soon as azd's signed-in state changes (azd auth login or
	// logout, seen in the files under AZD_CONFIG_DIR, by default ~/.azd).
	DisableInMemoryCache bool

	inDefaultChain bool
	hooks          *toolHooks
}

// AzureDeveloperCLICredential authenticates as the identity signed in to the
// Azure Developer CLI (azd auth login), by running `azd auth token`. It is
// meant for development machines.
//
// Unlike azidentity's, it caches tokens in memory, shares one azd process
// among concurrent callers, and drops its tokens when azd signs in as
// someone else. Each azd run lasts at most 10 seconds or, when the caller
// that starts it has a later context deadline, until about a second before
// that deadline, however far away it is.
type AzureDeveloperCLICredential struct {
	c *toolClient
}

// NewAzureDeveloperCLICredential constructs an AzureDeveloperCLICredential.
// Pass nil options for the defaults.
func NewAzureDeveloperCLICredential(options *AzureDeveloperCLICredentialOptions) (*AzureDeveloperCLICredential, error) {
	o := AzureDeveloperCLICredentialOptions{}
	if options != nil {
		o = *options
	}
	c, err := newToolClient(toolConfig{
		name:                       credNameAzureDeveloperCLI,
		tenantID:                   o.TenantID,
		additionallyAllowedTenants: o.AdditionallyAllowedTenants,
		disableCache:               o.DisableInMemoryCache,
		inDefaultChain:             o.inDefaultChain,
		hooks:                      o.hooks,
		stateFiles:                 azdStateFiles,
	})
	if err != nil {
		return nil, err
	}
	c.run = func(ctx context.Context, r toolRequest) (devtool.Token, error) {
		out, err := devtool.Run(ctx, devtool.Command{Name: "azd", Args: azdArgs(r), Env: r.env, Timeout: r.timeout})
		if err != nil {
			return devtool.Token{}, azdError(c, r, err)
		}
		tok, err := devtool.ParseAzureDeveloperCLI(out)
		if err != nil {
			return devtool.Token{}, newAuthenticationFailedError(credNameAzureDeveloperCLI, err)
		}
		return tok, nil
	}
	return &AzureDeveloperCLICredential{c: c}, nil
}

// GetToken returns a token for opts.Scopes from azd, or from memory when azd
// gave one for the same scopes and tenant before and its signed-in state has
// not changed since. Azure SDK clients call it for you.
//
// A claims challenge (opts.Claims) is passed to azd (--claims, azd 1.18.1 or
// later), which answers with a token when the current sign-in satisfies it
// and otherwise fails; the error then says to sign in again with azd auth
// login.
func (c *AzureDeveloperCLICredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.c.getToken(ctx, opts)
}

// CacheStats reports what the credential's in-memory cache has done so far;
// TokenRequests counts azd runs. It is zero when DisableInMemoryCache is set.
func (c *AzureDeveloperCLICredential) CacheStats() CacheStats {
	if c.c.cache == nil {
		return CacheStats{}
	}
	return cacheStatsOf(c.c.cache.Stats())
}

func azdArgs(r toolRequest) []string {
	args := []string{"auth", "token", "--output", "json", "--no-prompt"}
	for _, s := range r.scopes {
		args = append(args, "--scope", s)
	}
	if r.tenant != "" {
		args = append(args, "--tenant-id", r.tenant)
	}
	if r.claims != "" {
		args = append(args, "--claims", base64.StdEncoding.EncodeToString([]byte(r.claims)))
	}
	return args
}

// azdError shapes azd's failures. azd prints its errors to stderr as JSON
// lines; the message is taken out of them.
func azdError(c *toolClient, r toolRequest, err error) error {
	var xe *devtool.ExitError
	if errors.As(err, &xe) {
		xe.Stderr = azdMessage(xe.Stderr)
		if r.claims != "" {
			if strings.Contains(xe.Stderr, "unknown flag: --claims") {
				return newAuthenticationFailedError(credNameAzureDeveloperCLI, errors.New(
					"the resource requires multifactor authentication or additional claims, which this azd cannot take; upgrade azd to 1.18.1 or later"))
			}
			login := "azd auth login"
			if r.tenant != "" {
				login += " --tenant-id " + r.tenant
			}
			return newAuthenticationFailedError(credNameAzureDeveloperCLI, fmt.Errorf(
				"the resource requires multifactor authentication or additional claims. Run this command, then retry: %s: %w", login, xe))
		}
	}
	return c.toolError(err, "the Azure Developer CLI (azd)", "install it (https://aka.ms/azd) or use another credential", azdNotSignedIn)
}

// azdMessage extracts the human-readable message from azd's stderr. Newer
// azd prints {"error": "...", ...}; older versions print console messages,
// {"type":"consoleMessage","data":{"message":"..."}}. Anything else is kept
// as it is.
func azdMessage(stderr string) string {
	var console string
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var v struct {
			Error string `json:"error"`
			Data  struct {
				Message string `json:"message"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(line), &v) != nil {
			continue
		}
		if v.Error != "" {
			return devtool.CleanMessage(v.Error)
		}
		if m := strings.TrimSpace(v.Data.Message); m != "" && console == "" {
			console = m
		}
	}
	if console != "" {
		return devtool.CleanMessage(console)
	}
	return stderr
}

func azdNotSignedIn(msg string) (string, bool) {
	if strings.Contains(msg, "azd auth login") || strings.Contains(msg, "not logged in") {
		return "the Azure Developer CLI is not signed in, or its sign-in expired; run azd auth login", true
	}
	return "", false
}

// azdStateFiles: azd keeps the signed-in account in config.json and its
// credentials and token cache under auth/, which it rewrites itself when it
// refreshes tokens.
func azdStateFiles(getenv func(string) string) []devtool.File {
	dir := toolStateDir(getenv, "AZD_CONFIG_DIR", ".azd")
	return []devtool.File{
		{Path: filepath.Join(dir, "config.json")},
		{Path: filepath.Join(dir, "auth"), Dir: true, Tokens: true},
		{Path: filepath.Join(dir, "auth", "msal"), Dir: true, Tokens: true},
	}
}

// invalidate drops token from the cache if it still holds it for opts: a
// resource rejected it (see [NewBearerTokenTransport]).
func (c *AzureDeveloperCLICredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	return c.c.invalidate(opts, token)
}

// engineBacked is false when DisableInMemoryCache is set: the transport and
// the oauth2 adapter then cache for it, as azcore's policy would.
func (c *AzureDeveloperCLICredential) engineBacked() bool { return c.c.cache != nil }

var _ azcore.TokenCredential = (*AzureDeveloperCLICredential)(nil)
