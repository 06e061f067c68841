package interop

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azid-go/azid/entratest"
)

// The Azure CLI (Debian's azure-cli package, version 2.45) against the
// emulator. Everything here is reusable by other interop tests, for
// example AzureCLICredential tests that need a logged-in az:
//
//	az := newAzCLI(t, srv, azCLIOptions{})
//	az.loginServicePrincipal(entratest.DefaultClientID, entratest.DefaultClientSecret, entratest.DefaultTenantID)
//	cmd := exec.Command("az", "account", "get-access-token", ...)
//	cmd.Env = az.env()
//
// or az.setenv() (which uses t.Setenv, so not in parallel tests) to make
// code under test that runs az itself see the same configuration.
//
// az reaches the emulator through its CONNECT proxy (HTTPS_PROXY): MSAL
// Python always validates the authority with login.microsoftonline.com,
// and with the default AzureCloud every host az talks to is Azure's public
// one, which the proxy answers for. Its configuration, token cache
// included, lives in a temporary AZURE_CONFIG_DIR.

// azCLIOptions selects how az is configured.
type azCLIOptions struct {
	// RegisterCloud registers and selects a cloud whose authority and
	// ARM are the emulator's own address ("az cloud register
	// --endpoint-resource-manager <emulator>/", which reads the
	// emulator's /metadata/endpoints). MSAL then asks
	// login.microsoftonline.com (the proxy) to validate the emulator as
	// an authority. Without it az uses AzureCloud, all through the proxy.
	RegisterCloud bool
}

// azCLI is an isolated Azure CLI configuration pointed at an emulator.
type azCLI struct {
	t      testing.TB
	dir    string   // AZURE_CONFIG_DIR
	caFile string   // the emulator's CA, for REQUESTS_CA_BUNDLE
	vars   []string // the variables set for az, KEY=value
}

// azCallTimeout bounds one az call. An az call takes about 0.6 s on an
// idle machine and many times that on a loaded one.
const azCallTimeout = 2 * time.Minute

// newAzCLI prepares a configuration directory for az pointed at srv, which
// must run its proxy (Options.ProxyAddr). It fails the test, naming the
// package, when az is not installed.
func newAzCLI(t testing.TB, srv *entratest.Server, opts azCLIOptions) *azCLI {
	t.Helper()
	if _, err := exec.LookPath("az"); err != nil {
		t.Fatalf("the Azure CLI is not installed (az: %v); install Debian's azure-cli package (apt-get install azure-cli)", err)
	}
	if srv.ProxyURL() == "" {
		t.Fatal("newAzCLI needs an emulator started with Options.ProxyAddr")
	}
	tmp := t.TempDir()
	a := &azCLI{t: t, dir: filepath.Join(tmp, "azure"), caFile: filepath.Join(tmp, "ca.pem")}
	if err := os.Mkdir(a.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.caFile, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	a.vars = []string{
		"AZURE_CONFIG_DIR=" + a.dir,
		"AZURE_CORE_COLLECT_TELEMETRY=false",
		"AZURE_CORE_SURVEY_MESSAGE=false",
		"AZURE_CORE_NO_COLOR=true",
		"AZURE_CORE_OUTPUT=json",
		// Trust only the emulator: az must not reach anything real.
		"REQUESTS_CA_BUNDLE=" + a.caFile,
		"HTTPS_PROXY=" + srv.ProxyURL(),
		"https_proxy=" + srv.ProxyURL(),
		// Everything, loopback included, goes through the proxy.
		"NO_PROXY=",
		"no_proxy=",
	}
	if opts.RegisterCloud {
		a.mustRun("cloud", "register", "--name", "Emu", "--endpoint-resource-manager", srv.URL()+"/")
		a.mustRun("cloud", "set", "--name", "Emu")
	}
	return a
}

// env is the environment to run az with: this process's, without
// variables that would change which Python or configuration az uses, plus
// the configuration's.
func (a *azCLI) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "AZURE_"), strings.HasPrefix(k, "PYTHON"),
			strings.EqualFold(k, "HTTPS_PROXY"), strings.EqualFold(k, "HTTP_PROXY"),
			strings.EqualFold(k, "NO_PROXY"), k == "REQUESTS_CA_BUNDLE", k == "CURL_CA_BUNDLE":
			continue
		}
		env = append(env, kv)
	}
	return append(env, a.vars...)
}

// setenv sets the configuration's variables in this process for the rest
// of the test, for code under test that runs az itself. It cannot be used
// in parallel tests.
func (a *azCLI) setenv(t *testing.T) {
	for _, kv := range a.vars {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// run runs az with args and returns its standard output and error.
func (a *azCLI) run(args ...string) (stdout, stderr string, err error) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), azCallTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "az", args...)
	cmd.Env = a.env()
	cmd.Dir = a.dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	return out.String(), errOut.String(), err
}

// mustRun runs az and fails the test if it fails. Error output is shown
// with secrets passed in args masked.
func (a *azCLI) mustRun(args ...string) string {
	a.t.Helper()
	stdout, stderr, err := a.run(args...)
	if err != nil {
		a.t.Fatalf("az %s: %v\n%s", maskArgs(args), err, stderr)
	}
	return stdout
}

// maskArgs hides the values of -p/--password in a printed command line.
func maskArgs(args []string) string {
	masked := append([]string(nil), args...)
	for i := 1; i < len(masked); i++ {
		if p := masked[i-1]; p == "-p" || p == "--password" {
			masked[i] = "***"
		}
	}
	return strings.Join(masked, " ")
}

// loginServicePrincipal logs az in as an app with a client secret
// (client credentials grant). It allows tenants without subscriptions, so
// it works whatever the tenant's configuration.
func (a *azCLI) loginServicePrincipal(clientID, secret, tenant string) {
	a.t.Helper()
	a.mustRun("login", "--service-principal", "-u", clientID, "-p", secret, "--tenant", tenant, "--allow-no-subscriptions")
}

// loginUser logs az in as a user with a password (the password grant,
// with the Azure CLI's public client 04b07795-8ddb-461a-bbee-02f9e1bf7b46).
// tenant may be empty: az then signs in through "organizations" and lists
// the user's tenants with ARM's /tenants.
func (a *azCLI) loginUser(username, password, tenant string) {
	a.t.Helper()
	args := []string{"login", "-u", username, "-p", password, "--allow-no-subscriptions"}
	if tenant != "" {
		args = append(args, "--tenant", tenant)
	}
	a.mustRun(args...)
}

// azToken is az account get-access-token's answer (2.45 prints expiresOn
// in local time and no expires_on).
type azToken struct {
	AccessToken  string `json:"accessToken"`
	ExpiresOn    string `json:"expiresOn"`
	Subscription string `json:"subscription"`
	Tenant       string `json:"tenant"`
	TokenType    string `json:"tokenType"`
}

// azLoggedIn is newAzCLI plus a service principal login (login.Username
// empty) or a user login.
func azLoggedIn(t testing.TB, srv *entratest.Server, opts azCLIOptions, login azLogin) *azCLI {
	t.Helper()
	a := newAzCLI(t, srv, opts)
	if login.Username != "" {
		a.loginUser(login.Username, login.Password, login.TenantID)
	} else {
		a.loginServicePrincipal(login.ClientID, login.Secret, login.TenantID)
	}
	return a
}

// azLogin is who azLoggedIn logs in: a service principal (ClientID,
// Secret, TenantID) or a user (Username, Password, optional TenantID).
type azLogin struct {
	ClientID, Secret   string
	Username, Password string
	TenantID           string
}
