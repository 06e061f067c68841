package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/cache"
)

const loginHelp = `Usage: azid login [--device-code | --browser] [flags]

Signs you in to Microsoft Entra ID and saves the sign-in, so that later
"azid token" calls get tokens for any scope silently, from the persistent
cache or with the saved refresh token, until you run "azid logout".

The sign-in (an AuthenticationRecord, which holds no secret) is saved at
$AZID_CONFIG_DIR/authentication-record.json (default: the user's config
directory + /azid, e.g. ~/.config/azid), readable by you only. Tokens are
kept in the persistent cache "msal.cache", which Go programs using azid or
azidentity with the same record share.

With --browser, azid opens your browser on Entra's sign-in page and waits
for it; with --device-code, it shows a code to enter on another device (for
SSH sessions and containers). The default is the browser on a desktop, the
device code elsewhere.

Examples:
  azid login
  azid login --device-code --tenant contoso.onmicrosoft.com
  azid login --client-id 11111111-… --scope api://my-api/.default
  AZURE_AUTHORITY_HOST=https://127.0.0.1:8443/ SSL_CERT_FILE=ca.pem azid login --device-code
                                        # against "azid emulator"

Exit codes: 0 signed in, 1 Entra ID refused the sign-in or could not be
reached, 2 bad usage, 3 a local failure (the cache or the record could not
be stored), 130 interrupted.

Flags:
`

type loginFlags struct {
	deviceCode, browser bool
	tenant, clientID    string
	scope               string
	// record, when set, is an existing sign-in to reuse (azid token
	// --credential device|browser).
	record *azid.AuthenticationRecord
}

func loginCmd(ctx context.Context, args []string, e *env) int {
	fs := newFlags("azid login")
	var f loginFlags
	fs.BoolVar(&f.deviceCode, "device-code", false, "sign in with a code entered on another device")
	fs.BoolVar(&f.browser, "browser", false, "sign in in the browser")
	fs.StringVar(&f.tenant, "tenant", "", "tenant to sign in to (default: organizations, any work or school account)")
	fs.StringVar(&f.clientID, "client-id", "", "application to sign in to (default: the Azure development app azidentity uses)")
	fs.StringVar(&f.scope, "scope", "", "scope to consent to while signing in (default: Azure Resource Manager)")
	if code, done := parseFlags(fs, args, loginHelp, e); done {
		return code
	}
	if f.deviceCode && f.browser {
		return usageError(e, "azid login", "choose one of --device-code and --browser")
	}
	if !f.deviceCode && !f.browser {
		f.browser = hasDesktop(e.getenv)
	}
	if f.scope == "" {
		f.scope = armScope(e.getenv("AZURE_AUTHORITY_HOST"))
	}
	path, err := recordPath(e.getenv)
	if err != nil {
		fmt.Fprintf(e.stderr, "azid login: %v\n", err)
		return exitInternal
	}
	c, err := openCache(e.getenv, warnLogger(e))
	if err != nil {
		// Without a persistent cache a sign-in would be forgotten when
		// this process ends: refuse rather than pretend.
		fmt.Fprintf(e.stderr, "azid login: %v\n", err)
		return exitInternal
	}
	cred, p, err := interactiveCredential(e, f, c)
	if err != nil {
		fmt.Fprintf(e.stderr, "azid login: %v\n", err)
		return exitUsage
	}
	if f.browser {
		fmt.Fprintln(e.stderr, "Opening your browser on the sign-in page. If it does not open, run \"azid login --device-code\".")
		p.start("Waiting for the browser sign-in")
	}
	rec, err := cred.Authenticate(ctx, &policy.TokenRequestOptions{Scopes: []string{f.scope}})
	p.stop()
	if err != nil {
		code := exitCodeOf(ctx, err)
		if code == exitInterrupted {
			fmt.Fprintln(e.stderr, "azid login: interrupted; not signed in")
			return code
		}
		fmt.Fprintf(e.stderr, "azid login: %v\n", err)
		if f.browser {
			fmt.Fprintln(e.stderr, "If no browser can be opened here, run \"azid login --device-code\".")
		}
		if code == exitUnavailable {
			code = exitFailure
		}
		return code
	}
	if err := azid.SaveAuthenticationRecord(path, rec); err != nil {
		fmt.Fprintf(e.stderr, "azid login: signed in, but the sign-in could not be saved: %v\n", err)
		return exitInternal
	}
	fmt.Fprintf(e.stderr, "Signed in as %s (tenant %s).\nSaved the sign-in to %s; \"azid token --scope …\" now works without prompting until \"azid logout\".\n",
		rec.Username, rec.TenantID, path)
	return exitOK
}

// authenticator is a user credential that can prompt.
type authenticator interface {
	azcore.TokenCredential
	Authenticate(context.Context, *policy.TokenRequestOptions) (azid.AuthenticationRecord, error)
}

// interactiveCredential makes the device code or browser credential for f,
// with the persistent cache, and the prompter that shows its progress.
func interactiveCredential(e *env, f loginFlags, c cache.Cache) (authenticator, *prompter, error) {
	host := e.getenv("AZURE_AUTHORITY_HOST")
	p := &prompter{w: e.stderr}
	var rec azid.AuthenticationRecord
	clientID, tenant := f.clientID, f.tenant
	if f.record != nil {
		rec = *f.record
		clientID, tenant, host = rec.ClientID, rec.TenantID, recordHost(rec)
	}
	co := clientOptions(host)
	if f.record == nil {
		// AZURE_AUTHORITY_HOST is read by the credential itself.
		co = azcore.ClientOptions{}
	}
	if f.browser {
		cred, err := azid.NewInteractiveBrowserCredential(&azid.InteractiveBrowserCredentialOptions{
			ClientOptions: co, AuthenticationRecord: rec, Cache: c, ClientID: clientID, TenantID: tenant,
			DisableInstanceDiscovery: customHost(host), AdditionallyAllowedTenants: []string{"*"}, Logger: warnLogger(e),
		})
		return cred, p, err
	}
	cred, err := azid.NewDeviceCodeCredential(&azid.DeviceCodeCredentialOptions{
		ClientOptions: co, AuthenticationRecord: rec, Cache: c, ClientID: clientID, TenantID: tenant,
		DisableInstanceDiscovery: customHost(host), AdditionallyAllowedTenants: []string{"*"}, Logger: warnLogger(e),
		UserPrompt: p.deviceCode,
	})
	return cred, p, err
}

// prompter shows the user what to do and that azid is waiting.
type prompter struct {
	w io.Writer

	mu     sync.Mutex
	stopFn func()
}

func (p *prompter) deviceCode(_ context.Context, m azid.DeviceCodeMessage) error {
	fmt.Fprintf(p.w, "To sign in, open %s and enter the code %s\n", m.VerificationURL, m.UserCode)
	p.start("Waiting for you to sign in")
	return nil
}

func (p *prompter) start(what string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopFn == nil {
		p.stopFn = waiting(p.w, what)
	}
}

func (p *prompter) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	s := p.stopFn
	p.stopFn = nil
	p.mu.Unlock()
	if s != nil {
		s()
	}
}

// hasDesktop guesses whether a browser can be opened here.
func hasDesktop(getenv func(string) string) bool {
	switch runtime.GOOS {
	case "windows", "darwin":
		return getenv("SSH_CONNECTION") == ""
	}
	return getenv("DISPLAY") != "" || getenv("WAYLAND_DISPLAY") != ""
}

// armScope is Azure Resource Manager's scope, which a sign-in consents to
// by default as "az login" does. The national clouds have their own.
func armScope(host string) string {
	switch h := recordHost(azid.AuthenticationRecord{Authority: host}); h {
	case "login.microsoftonline.us":
		return "https://management.usgovcloudapi.net/.default"
	case "login.chinacloudapi.cn", "login.partner.microsoftonline.cn":
		return "https://management.chinacloudapi.cn/.default"
	}
	return "https://management.azure.com/.default"
}
