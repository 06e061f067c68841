package azid

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/internal/devtool"
)

const credNameAzureCLI = "AzureCLICredential"

// AzureCLICredentialOptions configures an [AzureCLICredential]. The zero
// value is ready to use. The fields match azidentity's, plus
// DisableInMemoryCache.
type AzureCLICredentialOptions struct {
	// AdditionallyAllowedTenants lists tenants, besides TenantID, for which
	// GetToken may be asked (TokenRequestOptions.TenantID); "*" allows any.
	// When TenantID is empty and this list too, any tenant may be asked for.
	AdditionallyAllowedTenants []string

	// Subscription is the name or ID of a subscription whose account the
	// Azure CLI should use instead of its current one (az's --subscription).
	// Names may contain letters, digits, spaces, '-', '_' and '.'; use the
	// ID for any other name.
	Subscription string

	// TenantID is the tenant to get tokens in; empty means the Azure CLI's
	// default, usually the signed-in user's home tenant.
	TenantID string

	// DisableInMemoryCache makes every GetToken run az, as azidentity does.
	// By default azid keeps az's tokens in memory, per credential, and drops
	// them all as soon as the Azure CLI's signed-in state changes (az login,
	// az logout, az account set, a cloud switch), so a cached token never
	// outlives the account that produced it. Set it when something other
	// than those commands changes which account az uses.
	DisableInMemoryCache bool

	inDefaultChain bool
	hooks          *toolHooks
}

// AzureCLICredential authenticates as the identity signed in to the Azure CLI
// (az login), by running `az account get-access-token`. It is meant for
// development machines; in production use a credential that does not depend
// on a person's sign-in.
//
// Unlike azidentity's, it caches tokens: repeated calls for a scope start az
// once, not every time, concurrent callers share one az process, and the
// cached tokens are dropped the moment the Azure CLI signs in as another
// account or switches subscription (it watches the files under
// AZURE_CONFIG_DIR, by default ~/.azure). Each az run lasts at most 10
// seconds or, when the caller that starts it has a later context deadline,
// until about a second before that deadline, however far away it is.
type AzureCLICredential struct {
	c            *toolClient
	subscription string
}

// NewAzureCLICredential constructs an AzureCLICredential. Pass nil options
// for the defaults.
func NewAzureCLICredential(options *AzureCLICredentialOptions) (*AzureCLICredential, error) {
	o := AzureCLICredentialOptions{}
	if options != nil {
		o = *options
	}
	if o.Subscription != "" && !devtool.ValidSubscription(o.Subscription) {
		return nil, fmt.Errorf("%s: Subscription %q contains characters other than letters, digits, spaces, '-', '_' and '.'; if it is a subscription's name, use its ID instead", credNameAzureCLI, o.Subscription)
	}
	c, err := newToolClient(toolConfig{
		name:                       credNameAzureCLI,
		tenantID:                   o.TenantID,
		additionallyAllowedTenants: o.AdditionallyAllowedTenants,
		disableCache:               o.DisableInMemoryCache,
		inDefaultChain:             o.inDefaultChain,
		oneScope:                   true,
		hooks:                      o.hooks,
		stateFiles:                 azureCLIStateFiles,
	})
	if err != nil {
		return nil, err
	}
	cred := &AzureCLICredential{c: c, subscription: o.Subscription}
	var loc = timeLocal(o.hooks)
	c.claimsError = azureCLIClaimsError
	c.run = func(ctx context.Context, r toolRequest) (devtool.Token, error) {
		out, err := devtool.Run(ctx, devtool.Command{Name: "az", Args: cred.args(r), Env: r.env, Timeout: r.timeout})
		if err != nil {
			return devtool.Token{}, c.toolError(err, "the Azure CLI (az)", "install it (https://aka.ms/azure-cli) or use another credential", azureCLINotSignedIn)
		}
		tok, err := devtool.ParseAzureCLI(out, loc)
		if err != nil {
			return devtool.Token{}, newAuthenticationFailedError(credNameAzureCLI, err)
		}
		return tok, nil
	}
	return cred, nil
}

// GetToken returns a token for opts.Scopes (exactly one scope) from the
// Azure CLI, or from memory when az gave one for the same scope, tenant and
// subscription before and its signed-in state has not changed since. Azure
// SDK clients call it for you.
//
// A claims challenge (opts.Claims) cannot be passed to az: the error says
// which `az login` command to run. opts.TenantID must be allowed by
// AdditionallyAllowedTenants. opts.EnableCAE makes no difference: az
// decides.
func (c *AzureCLICredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.c.getToken(ctx, opts)
}

// CacheStats reports what the credential's in-memory cache has done so far;
// TokenRequests counts az runs. It is zero when DisableInMemoryCache is set.
func (c *AzureCLICredential) CacheStats() CacheStats {
	if c.c.cache == nil {
		return CacheStats{}
	}
	return cacheStatsOf(c.c.cache.Stats())
}

// args builds az's arguments. The subscription, scope and tenant were
// validated already; the shell never parses them anyway (devtool.Run).
func (c *AzureCLICredential) args(r toolRequest) []string {
	args := []string{"account", "get-access-token", "--output", "json"}
	scope := r.scopes[0]
	if azureCLIResource(scope) {
		args = append(args, "--resource", scope)
	} else {
		args = append(args, "--scope", scope)
	}
	if r.tenant != "" {
		args = append(args, "--tenant", r.tenant)
	}
	if c.subscription != "" {
		args = append(args, "--subscription", c.subscription)
	}
	return args
}

// azureCLIResource reports whether scope is an Entra v1 resource (an app ID
// URI or client ID, like "https://management.core.windows.net/") rather than
// a v2 scope ("…/.default", "…/User.Read"). az takes the former with
// --resource and the latter with --scope.
func azureCLIResource(scope string) bool {
	if strings.HasSuffix(scope, "/.default") {
		return false
	}
	i := strings.Index(scope, "://")
	if i < 0 {
		return !strings.Contains(scope, "/") // a bare client ID or name
	}
	rest := scope[i+3:]
	j := strings.IndexByte(rest, '/')
	return j < 0 || j == len(rest)-1
}

// azureCLIClaimsError tells the user how to satisfy a claims challenge
// (multifactor authentication, a Conditional Access policy): az cannot take
// it in get-access-token, only in az login.
func azureCLIClaimsError(tenant string, scopes []string, claims string) error {
	cmd := "az login"
	if tenant != "" {
		cmd += " --tenant " + tenant
	}
	cmd += " --claims-challenge " + base64.StdEncoding.EncodeToString([]byte(claims)) + " --scope " + scopes[0]
	return newAuthenticationFailedError(credNameAzureCLI, errors.New(
		"the resource requires multifactor authentication or additional claims, which the Azure CLI can only satisfy by signing in again. Run this command, then retry: "+cmd))
}

// azureCLINotSignedIn recognises az's messages for "nobody is signed in" (or
// the sign-in expired): they all ask for az login.
func azureCLINotSignedIn(msg string) (string, bool) {
	if strings.Contains(msg, "az login") {
		return "the Azure CLI is not signed in, or its sign-in expired; run az login", true
	}
	return "", false
}

// azureCLIStateFiles are the files in which az keeps who is signed in:
// the profile (accounts, default subscription), the clouds, the service
// principal entries, and the MSAL token cache (plain JSON on Linux and
// macOS, .bin when encrypted on Windows), which az itself rewrites when it
// refreshes a token.
func azureCLIStateFiles(getenv func(string) string) []devtool.File {
	dir := toolStateDir(getenv, "AZURE_CONFIG_DIR", ".azure")
	f := func(name string, tokens bool) devtool.File {
		return devtool.File{Path: filepath.Join(dir, name), Tokens: tokens}
	}
	return []devtool.File{
		f("azureProfile.json", false),
		f("clouds.config", false),
		f("service_principal_entries.json", false),
		f("service_principal_entries.bin", false),
		f("msal_token_cache.json", true),
		f("msal_token_cache.bin", true),
	}
}

// invalidate drops token from the cache if it still holds it for opts: a
// resource rejected it (see [NewBearerTokenTransport]).
func (c *AzureCLICredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	return c.c.invalidate(opts, token)
}

// engineBacked is false when DisableInMemoryCache is set: the transport and
// the oauth2 adapter then cache for it, as azcore's policy would.
func (c *AzureCLICredential) engineBacked() bool { return c.c.cache != nil }

var _ azcore.TokenCredential = (*AzureCLICredential)(nil)
