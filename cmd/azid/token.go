package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/cache"
)

const tokenHelp = `Usage: azid token --scope SCOPE [flags]

Prints an access token for SCOPE as JSON in the Azure CLI's shape
(accessToken, expiresOn, expires_on, tenant, tokenType), or the bare token
with --output raw. Only the token goes to standard output; messages go to
standard error. Tokens come from azid's persistent cache when it has them,
so a script can call this as often as it likes.

Which credential (--credential):
  (not given)  the sign-in saved by "azid login" if there is one, else default
  login        the sign-in saved by "azid login"; never prompts
  default      DefaultAzureCredential: env, workload identity, managed
               identity, then az, azd and Azure PowerShell sign-ins
  env          EnvironmentCredential (AZURE_TENANT_ID, AZURE_CLIENT_ID and a
               secret, certificate or user name and password)
  secret       a service principal's secret from AZURE_TENANT_ID,
               AZURE_CLIENT_ID and AZURE_CLIENT_SECRET
  workload     WorkloadIdentityCredential (Kubernetes)
  mi           ManagedIdentityCredential (--client-id for a user-assigned one)
  cli, azd, pwsh  the Azure CLI's, the Azure Developer CLI's or Azure
               PowerShell's sign-in
  device, browser  sign in interactively now (see also "azid login")

With --emulator, azid gets the token from a local Entra ID emulator with
its test app, so you can see the cache at work without an Azure account:
the first run makes one token request and stores the token in a persistent
cache of its own (name "azid-emulator"); later runs are served from that
cache without even starting the emulator. An emulator's tokens are valid
for nothing but this demo, so where no keyring is available the demo keeps
them in an unencrypted file.

Examples:
  azid token --scope https://management.azure.com/.default
  azid token --scope https://vault.azure.net/.default --output raw
  curl -H "Authorization: Bearer $(azid token --scope https://storage.azure.com/.default -o raw)" …
  azid token --credential mi --client-id 00000000-… --scope https://management.azure.com/.default
  azid token --emulator --scope api://demo/.default --calls 10

Exit codes: 0 success, 1 Entra ID refused or could not be reached, 2 bad
usage, 3 a local failure (cache storage, saved sign-in, emulator), 4 a
sign-in is needed (run "azid login"), 5 no credential available, 130
interrupted.

Flags:
`

// tokenOutputs are --output's values: the Azure CLI's JSON, or the bare
// token for a header.
func tokenOutputs() []string { return []string{"json", "raw"} }

// credentialKinds are --credential's values.
var credentialKinds = []string{"login", "default", "env", "secret", "workload", "mi", "cli", "azd", "pwsh", "device", "browser"}

type tokenFlags struct {
	scopes     multiFlag
	tenant     string
	credential string
	clientID   string
	output     string
	emulator   bool
	calls      int
	// cmd names the command in buildCredential's messages; empty is
	// "azid token" (other commands share buildCredential).
	cmd string
}

func (f tokenFlags) cmdName() string {
	if f.cmd == "" {
		return "azid token"
	}
	return f.cmd
}

func tokenCmd(ctx context.Context, args []string, e *env) int {
	fs := newFlags("azid token")
	var f tokenFlags
	fs.Var(&f.scopes, "scope", "scope to request, e.g. https://management.azure.com/.default (repeatable)")
	fs.StringVar(&f.tenant, "tenant", "", "tenant to request the token from (default: the credential's)")
	fs.StringVar(&f.credential, "credential", "", "where the token comes from: "+strings.Join(credentialKinds, ", ")+" (see above)")
	fs.StringVar(&f.clientID, "client-id", "", "client ID: of a user-assigned managed identity (mi), or the app to sign in to (device, browser)")
	outputFlag(fs, &f.output, "json", tokenOutputs()...)
	fs.BoolVar(&f.emulator, "emulator", false, "get the token from a local Entra ID emulator (a demo; no Azure account needed)")
	f.calls = 3
	fs.Var(positiveIntFlag{&f.calls}, "calls", "with --emulator: how many times to call GetToken, to show the cache (at least 1)")
	if code, done := parseFlags(fs, args, tokenHelp, e); done {
		return code
	}
	if code, ok := checkOutput(e, "azid token", f.output, tokenOutputs()...); !ok {
		return code
	}
	switch {
	case len(f.scopes) == 0:
		return usageError(e, "azid token", "--scope is required, e.g. --scope https://management.azure.com/.default")
	case f.emulator && f.credential != "":
		return usageError(e, "azid token", "--emulator uses the emulator's test app; leave out --credential")
	case f.credential != "" && !contains(credentialKinds, f.credential):
		return usageError(e, "azid token", "--credential must be one of %s, not %q", strings.Join(credentialKinds, ", "), f.credential)
	case !f.emulator && isSet(fs, "calls"):
		return usageError(e, "azid token", "--calls goes with --emulator")
	}
	if f.emulator {
		return emulatorDemo(ctx, e, f)
	}

	cred, code := buildCredential(e, f)
	if code != exitOK {
		return code
	}
	defer cred.close()
	opts := policy.TokenRequestOptions{Scopes: f.scopes, TenantID: f.tenant}
	tok, err := cred.getToken(ctx, opts)
	if err != nil {
		return reportTokenError(ctx, e, cred, err)
	}
	if s, ok := cred.TokenCredential.(statser); ok && s.CacheStats().StoreHits > 0 {
		fmt.Fprintln(e.stderr, "azid: served from the persistent cache")
	}
	return printToken(e.stdout, tok, f.output, f.tenant)
}

type statser interface{ CacheStats() azid.CacheStats }

// credential is the chosen credential and what the command says about it.
type credential struct {
	azcore.TokenCredential
	kind string
	// record is the saved sign-in used, if any.
	record *azid.AuthenticationRecord
	// prompt shows an interactive sign-in's progress (device, browser).
	prompt *prompter
}

func (c *credential) close() {
	if c.prompt != nil {
		c.prompt.stop()
	}
}

func (c *credential) getToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := c.GetToken(ctx, opts)
	c.close()
	return tok, err
}

// buildCredential makes the credential --credential names, with the
// persistent cache when the credential can use one.
func buildCredential(e *env, f tokenFlags) (*credential, int) {
	kind := f.credential
	rec, recPath, haveRecord, err := loadRecord(e.getenv)
	if err != nil {
		if kind == "" || kind == "login" {
			fmt.Fprintf(e.stderr, "%s: the saved sign-in: %v\n", f.cmdName(), err)
			return nil, exitInternal
		}
		// Another credential was chosen: the damaged record is not its
		// business.
		haveRecord = false
	}
	if kind == "" {
		kind = "default"
		if haveRecord {
			kind = "login"
		}
	}
	// The persistent cache, for the credentials that keep tokens in it.
	// Without one they still work, in memory; only the saved sign-in
	// cannot.
	// Warnings of the persistent cache and of the credential's token cache
	// (a store that cannot be read, so the token comes from the network)
	// go to stderr.
	logger := warnLogger(e)
	var c cache.Cache
	switch kind {
	case "cli", "azd", "pwsh", "mi":
	default:
		var err error
		c, err = openCache(e.getenv, logger)
		if err != nil {
			if kind == "login" {
				fmt.Fprintf(e.stderr, "%s: %v\n", f.cmdName(), err)
				return nil, exitInternal
			}
			fmt.Fprintf(e.stderr, "%s: tokens are kept in memory only: %v\n", f.cmdName(), err)
		}
	}
	host := e.getenv("AZURE_AUTHORITY_HOST")
	anyTenant := []string{"*"} // the user asks for --tenant explicitly
	out := &credential{kind: kind}
	switch kind {
	case "login":
		if !haveRecord {
			fmt.Fprintf(e.stderr, "%s: not signed in (no %s): run \"azid login\" first, or choose another --credential\n", f.cmdName(), recPath)
			return nil, exitSignIn
		}
		out.record = &rec
		out.TokenCredential, err = savedSignIn(rec, c, logger)
	case "default":
		out.TokenCredential, err = azid.NewDefaultAzureCredential(&azid.DefaultAzureCredentialOptions{
			Cache: c, DisableInstanceDiscovery: customHost(host), AdditionallyAllowedTenants: anyTenant, Logger: logger,
		})
	case "env":
		out.TokenCredential, err = azid.NewEnvironmentCredential(&azid.EnvironmentCredentialOptions{
			Cache: c, DisableInstanceDiscovery: customHost(host), AdditionallyAllowedTenants: anyTenant, Logger: logger,
		})
	case "secret":
		t, id, secret := e.getenv("AZURE_TENANT_ID"), e.getenv("AZURE_CLIENT_ID"), e.getenv("AZURE_CLIENT_SECRET")
		if t == "" || id == "" || secret == "" {
			fmt.Fprintf(e.stderr, "%s: --credential secret needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (a service principal); or try --emulator without an Azure account\n", f.cmdName())
			return nil, exitUnavailable
		}
		out.TokenCredential, err = azid.NewClientSecretCredential(t, id, secret, &azid.ClientSecretCredentialOptions{
			Cache: c, DisableInstanceDiscovery: customHost(host), AdditionallyAllowedTenants: anyTenant, Logger: logger,
		})
	case "workload":
		out.TokenCredential, err = azid.NewWorkloadIdentityCredential(&azid.WorkloadIdentityCredentialOptions{
			Cache: c, DisableInstanceDiscovery: customHost(host), AdditionallyAllowedTenants: anyTenant, Logger: logger,
		})
	case "mi":
		o := &azid.ManagedIdentityCredentialOptions{Logger: logger}
		if f.clientID != "" {
			o.ID = azid.ClientID(f.clientID)
		}
		out.TokenCredential, err = azid.NewManagedIdentityCredential(o)
	case "cli":
		out.TokenCredential, err = azid.NewAzureCLICredential(&azid.AzureCLICredentialOptions{AdditionallyAllowedTenants: anyTenant})
	case "azd":
		out.TokenCredential, err = azid.NewAzureDeveloperCLICredential(&azid.AzureDeveloperCLICredentialOptions{AdditionallyAllowedTenants: anyTenant})
	case "pwsh":
		out.TokenCredential, err = azid.NewAzurePowerShellCredential(&azid.AzurePowerShellCredentialOptions{AdditionallyAllowedTenants: anyTenant})
	case "device", "browser":
		l := loginFlags{clientID: f.clientID, tenant: f.tenant, browser: kind == "browser"}
		if haveRecord && f.clientID == "" && f.tenant == "" {
			// Reuse the saved account, so that an interactive call is
			// silent when its refresh token still works.
			l.record = &rec
		}
		out.TokenCredential, out.prompt, err = interactiveCredential(e, l, c)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "%s: %v\n", f.cmdName(), err)
		return nil, exitUnavailable
	}
	return out, exitOK
}

// savedSignIn is the credential of a saved sign-in: the record's account,
// app, tenant and authority host, with the persistent cache, and never a
// prompt (a sign-in that needs the user is an AuthenticationRequiredError).
func savedSignIn(rec azid.AuthenticationRecord, c cache.Cache, logger *slog.Logger) (*azid.DeviceCodeCredential, error) {
	h := recordHost(rec)
	return azid.NewDeviceCodeCredential(&azid.DeviceCodeCredentialOptions{
		ClientOptions: clientOptions(h), AuthenticationRecord: rec, Cache: c, ClientID: rec.ClientID,
		TenantID: rec.TenantID, DisableAutomaticAuthentication: true, AdditionallyAllowedTenants: []string{"*"},
		DisableInstanceDiscovery: customHost(h), Logger: logger,
	})
}

// reportTokenError says what failed and what to do next, and returns the
// exit code of the failure's kind.
func reportTokenError(ctx context.Context, e *env, c *credential, err error) int {
	code := exitCodeOf(ctx, err)
	switch code {
	case exitInterrupted:
		fmt.Fprintln(e.stderr, "azid token: interrupted")
	case exitSignIn:
		who := "your account"
		if c.record != nil && c.record.Username != "" {
			who = c.record.Username
		}
		fmt.Fprintf(e.stderr, "azid token: the saved sign-in of %s cannot get this token without you: run \"azid login\" again (%v)\n", who, err)
	case exitUnavailable:
		fmt.Fprintf(e.stderr, "azid token: %v\n\nNo credential could be used here: sign in with \"azid login\", or configure one (see \"azid token --help\").\n", err)
	default:
		fmt.Fprintf(e.stderr, "azid token: %v\n", err)
	}
	return code
}

// printToken writes tok in the Azure CLI's JSON shape, or raw.
func printToken(w io.Writer, tok azcore.AccessToken, output, tenant string) int {
	if output == "raw" {
		if _, err := fmt.Fprintln(w, tok.Token); err != nil {
			return exitInternal
		}
		return exitOK
	}
	if t := tenantOf(tok.Token); t != "" {
		tenant = t
	}
	out := struct {
		AccessToken string `json:"accessToken"`
		ExpiresOn   string `json:"expiresOn"`
		ExpiresOnTS int64  `json:"expires_on"`
		Tenant      string `json:"tenant,omitempty"`
		TokenType   string `json:"tokenType"`
	}{tok.Token, tok.ExpiresOn.Local().Format("2006-01-02 15:04:05.000000"), tok.ExpiresOn.Unix(), tenant, "Bearer"}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return exitInternal
	}
	return exitOK
}

// tenantOf reads the tid claim of a JWT access token, for display only
// (nothing is verified; the token is the resource's business). Tokens that
// are not JWTs (MSA, some first-party resources) give "".
func tenantOf(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		TID string `json:"tid"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	return c.TID
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, " ") }

func (m *multiFlag) Set(v string) error {
	*m = append(*m, v)
	return nil
}

// elapsed formats a duration for people: µs under a millisecond.
func elapsed(d time.Duration) string {
	if d < time.Millisecond {
		return d.String()
	}
	return d.Round(10 * time.Microsecond).String()
}
