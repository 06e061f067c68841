package azid

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"unicode/utf16"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/internal/devtool"
)

const credNameAzurePowerShell = "AzurePowerShellCredential"

// AzurePowerShellCredentialOptions configures an [AzurePowerShellCredential].
// The zero value is ready to use. The fields match azidentity's, plus
// DisableInMemoryCache.
type AzurePowerShellCredentialOptions struct {
	// AdditionallyAllowedTenants lists tenants, besides TenantID, for which
	// GetToken may be asked (TokenRequestOptions.TenantID); "*" allows any.
	// When TenantID is empty and this list too, any tenant may be asked for.
	AdditionallyAllowedTenants []string

	// TenantID is the tenant to get tokens in; empty means Azure
	// PowerShell's default, usually the signed-in user's home tenant.
	TenantID string

	// DisableInMemoryCache makes every GetToken start PowerShell, as
	// azidentity does. By default azid keeps the tokens in memory, per
	// credential, and drops them all as soon as Azure PowerShell's
	// signed-in state (the files under ~/.Azure) changes.
	DisableInMemoryCache bool

	inDefaultChain bool
	hooks          *toolHooks
}

// AzurePowerShellCredential authenticates as the identity signed in to Azure
// PowerShell (Connect-AzAccount), by running Get-AzAccessToken in pwsh
// (PowerShell 7; on Windows, Windows PowerShell when pwsh is absent). It is
// meant for development machines. It needs the Az.Accounts module 2.2.0 or
// later, and handles both the plain-text tokens of older versions and the
// SecureString tokens of newer ones.
//
// Unlike azidentity's, it caches tokens in memory, shares one PowerShell
// process among concurrent callers, and drops its tokens when Azure
// PowerShell signs in as someone else. Each run lasts at most 10 seconds
// or, when the caller that starts it has a later context deadline, until
// about a second before that deadline, however far away it is.
type AzurePowerShellCredential struct {
	c *toolClient
}

// NewAzurePowerShellCredential constructs an AzurePowerShellCredential. Pass
// nil options for the defaults.
func NewAzurePowerShellCredential(options *AzurePowerShellCredentialOptions) (*AzurePowerShellCredential, error) {
	o := AzurePowerShellCredentialOptions{}
	if options != nil {
		o = *options
	}
	c, err := newToolClient(toolConfig{
		name:                       credNameAzurePowerShell,
		tenantID:                   o.TenantID,
		additionallyAllowedTenants: o.AdditionallyAllowedTenants,
		disableCache:               o.DisableInMemoryCache,
		inDefaultChain:             o.inDefaultChain,
		oneScope:                   true,
		hooks:                      o.hooks,
		stateFiles:                 powerShellStateFiles,
	})
	if err != nil {
		return nil, err
	}
	c.claimsError = powerShellClaimsError
	c.run = func(ctx context.Context, r toolRequest) (devtool.Token, error) {
		exe := powerShellExe()
		out, err := devtool.Run(ctx, devtool.Command{Name: exe, Args: powerShellArgs(r), Env: r.env, Timeout: r.timeout})
		if err != nil {
			return devtool.Token{}, c.toolError(err, "PowerShell ("+exe+")", "install PowerShell 7 and the Az.Accounts module, or use another credential", powerShellNotSignedIn)
		}
		tok, err := devtool.ParseAzurePowerShell(out)
		if err != nil {
			return devtool.Token{}, newAuthenticationFailedError(credNameAzurePowerShell, err)
		}
		return tok, nil
	}
	return &AzurePowerShellCredential{c: c}, nil
}

// GetToken returns a token for opts.Scopes (exactly one scope) from Azure
// PowerShell, or from memory when it gave one for the same scope and tenant
// before and its signed-in state has not changed since. Azure SDK clients
// call it for you.
//
// A claims challenge (opts.Claims) cannot be passed to Get-AzAccessToken:
// the error says which Connect-AzAccount command to run.
func (c *AzurePowerShellCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.c.getToken(ctx, opts)
}

// CacheStats reports what the credential's in-memory cache has done so far;
// TokenRequests counts PowerShell runs. It is zero when DisableInMemoryCache
// is set.
func (c *AzurePowerShellCredential) CacheStats() CacheStats {
	if c.c.cache == nil {
		return CacheStats{}
	}
	return cacheStatsOf(c.c.cache.Stats())
}

// powerShellExe is pwsh, or on Windows without PowerShell 7, the built-in
// Windows PowerShell.
func powerShellExe() string {
	if runtime.GOOS == "windows" {
		if _, err := exec.LookPath("pwsh.exe"); err != nil {
			return "powershell.exe"
		}
		return "pwsh.exe"
	}
	return "pwsh"
}

// powerShellModuleMissing is the script's message when Az.Accounts is absent.
const powerShellModuleMissing = "Az.Accounts module not found"

// powerShellScript gets a token with Get-AzAccessToken and prints it as
// {"Token": ..., "ExpiresOn": <Unix seconds>}. Get-AzAccessToken takes v1
// resources, so the "/.default" suffix is removed. Az.Accounts 2.17 to 4.x
// return a plain string unless asked for a SecureString (and warn that this
// changes); 5.0 and later always return a SecureString. Either way the
// script converts to plain text only at the end, for the JSON answer.
//
// resource and tenant are validated (devtool.ValidScope,
// authority.ValidateTenantID) and so cannot contain a quote.
func powerShellScript(resource, tenant string) string {
	var b strings.Builder
	b.WriteString(`$ErrorActionPreference = 'Stop'
$module = Import-Module Az.Accounts -MinimumVersion 2.2.0 -PassThru -ErrorAction SilentlyContinue
if (-not $module) { Write-Error '` + powerShellModuleMissing + `' }
$request = @{ ResourceUrl = '` + resource + `'; WarningAction = 'Ignore' }
`)
	if tenant != "" {
		b.WriteString(`$request['TenantId'] = '` + tenant + `'
`)
	}
	b.WriteString(`if ($module.Version -ge [version]'2.17.0' -and $module.Version -lt [version]'5.0.0') { $request['AsSecureString'] = $true }
$result = Get-AzAccessToken @request
$token = $result.Token
if ($token -is [System.Security.SecureString]) {
    $bstr = [System.Runtime.InteropServices.Marshal]::SecureStringToBSTR($token)
    try { $token = [System.Runtime.InteropServices.Marshal]::PtrToStringBSTR($bstr) }
    finally { [System.Runtime.InteropServices.Marshal]::ZeroFreeBSTR($bstr) }
}
[pscustomobject]@{ Token = $token; ExpiresOn = $result.ExpiresOn.ToUnixTimeSeconds() } | ConvertTo-Json -Compress
`)
	return b.String()
}

func powerShellArgs(r toolRequest) []string {
	resource := strings.TrimSuffix(r.scopes[0], "/.default")
	return []string{"-NoProfile", "-NonInteractive", "-OutputFormat", "Text", "-EncodedCommand", encodeUTF16LE(powerShellScript(resource, r.tenant))}
}

// encodeUTF16LE is -EncodedCommand's encoding: base64 of UTF-16LE text.
func encodeUTF16LE(s string) string {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, v := range u {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func powerShellClaimsError(tenant string, _ []string, claims string) error {
	cmd := "Connect-AzAccount"
	if tenant != "" {
		cmd += " -TenantId '" + tenant + "'"
	}
	cmd += " -ClaimsChallenge '" + base64.StdEncoding.EncodeToString([]byte(claims)) + "'"
	return newAuthenticationFailedError(credNameAzurePowerShell, errors.New(
		"the resource requires multifactor authentication or additional claims, which Azure PowerShell can only satisfy by signing in again. Run this command, then retry: "+cmd))
}

func powerShellNotSignedIn(msg string) (string, bool) {
	switch {
	case strings.Contains(msg, powerShellModuleMissing):
		return "the Az.Accounts module (2.2.0 or later) is not installed; run Install-Module Az.Accounts", true
	case strings.Contains(msg, "Connect-AzAccount"):
		return "Azure PowerShell is not signed in, or its sign-in expired; run Connect-AzAccount", true
	}
	return "", false
}

// powerShellStateFiles: Azure PowerShell keeps its contexts (accounts,
// subscriptions, tenants) in AzureRmContext.json and related files under
// ~/.Azure. Whether Az.Accounts rewrites them when it refreshes a token
// varies between versions, so the whole directory is treated as the tool's
// own bookkeeping during its runs, and as a sign-in change at other times.
func powerShellStateFiles(getenv func(string) string) []devtool.File {
	dir := filepath.Join(homeDir(getenv), ".Azure")
	return []devtool.File{
		{Path: filepath.Join(dir, "AzureRmContext.json"), Tokens: true},
		{Path: dir, Dir: true, Tokens: true},
	}
}

// invalidate drops token from the cache if it still holds it for opts: a
// resource rejected it (see [NewBearerTokenTransport]).
func (c *AzurePowerShellCredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	return c.c.invalidate(opts, token)
}

// engineBacked is false when DisableInMemoryCache is set: the transport and
// the oauth2 adapter then cache for it, as azcore's policy would.
func (c *AzurePowerShellCredential) engineBacked() bool { return c.c.cache != nil }

var _ azcore.TokenCredential = (*AzurePowerShellCredential)(nil)
