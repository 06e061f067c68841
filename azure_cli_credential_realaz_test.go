// These tests run the real Azure CLI (Debian's azure-cli package, 2.45)
// signed in to the emulator through the emulator's HTTPS CONNECT proxy, so
// az follows Entra's real code path (login.microsoftonline.com, instance
// discovery, management.azure.com) and ends up in the emulator. They need
// the proxy and the minimal ARM, which land with the emulator's work
// (entratest Options.ProxyAddr, Server.ProxyURL, ARM subscriptions).
//
// lead: once that is merged, drop the build tag above so the tests run with
// the rest (they FAIL, not skip, when az is missing), or run them with
// `go test -tags realaz -run RealAz .`.

package azid

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azid-go/azid/entratest"
	"github.com/azid-go/azid/internal/devtool"
)

// realAzTimeout replaces the 10-second default for az runs: on a loaded
// machine one az call has been seen to take 17 s. The tests are about
// behaviour, not speed.
const realAzTimeout = 50 * time.Second

// realAz is the Azure CLI with a private state directory, trusting the
// emulator's CA and reaching every host through the emulator's proxy.
type realAz struct {
	t   *testing.T
	env []string
	dir string // AZURE_CONFIG_DIR
}

func newRealAz(t *testing.T, srv *entratest.Server) *realAz {
	t.Helper()
	if _, err := exec.LookPath("az"); err != nil {
		t.Fatalf("the Azure CLI (az) is not installed: install Debian's azure-cli package: %v", err)
	}
	root := t.TempDir()
	ca := filepath.Join(root, "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "azure")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return &realAz{t: t, dir: dir, env: []string{
		// az is a script that runs /usr/bin/python3 (the python3 first on
		// some PATHs lacks msal): keep to the system directories.
		"PATH=/usr/bin:/bin",
		"HOME=" + root,
		"AZURE_CONFIG_DIR=" + dir,
		"AZURE_CORE_COLLECT_TELEMETRY=false",
		"AZURE_CORE_ONLY_SHOW_ERRORS=true",
		"REQUESTS_CA_BUNDLE=" + ca,
		"HTTPS_PROXY=" + srv.ProxyURL(),
	}}
}

// run runs az with args and fails the test when it fails.
func (a *realAz) run(args ...string) string {
	a.t.Helper()
	cmd := exec.Command("az", args...)
	cmd.Env = a.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		a.t.Fatalf("az %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// loginServicePrincipal signs az in as an app of the emulator.
func (a *realAz) loginServicePrincipal(app entratest.App) {
	a.t.Helper()
	a.run("login", "--service-principal", "-u", app.ClientID, "-p", app.Secret, "--tenant", app.TenantID, "--allow-no-subscriptions")
}

// loginUser signs az in as a user of the emulator (password grant; needs
// the user flows of the emulator).
func (a *realAz) loginUser(user, password, tenant string) {
	a.t.Helper()
	args := []string{"login", "-u", user, "-p", password, "--allow-no-subscriptions"}
	if tenant != "" {
		args = append(args, "--tenant", tenant)
	}
	a.run(args...)
}

func appIDOf(t *testing.T, srv *entratest.Server, token string) string {
	t.Helper()
	claims, err := srv.VerifyToken(token)
	if err != nil {
		t.Fatalf("the token does not verify: %v", err)
	}
	id, _ := claims["appid"].(string)
	return id
}

// The real az, signed in to the emulator: AzureCLICredential gets a token,
// serves it from memory, and drops it when az signs in as another app.
func TestAzureCLICredentialRealAz(t *testing.T) {
	srv := newEmulator(t, &entratest.Options{ProxyAddr: "127.0.0.1:0"})
	first := entratest.App{TenantID: entratest.DefaultTenantID, ClientID: entratest.DefaultClientID, Secret: entratest.DefaultClientSecret}
	second := entratest.App{TenantID: entratest.DefaultTenantID, ClientID: "5ec0d000-0000-4000-8000-0000000005ec", Secret: "second-app-secret"}
	if err := srv.AddApp(second); err != nil {
		t.Fatal(err)
	}
	az := newRealAz(t, srv)
	az.loginServicePrincipal(first)

	c, err := NewAzureCLICredential(&AzureCLICredentialOptions{hooks: &toolHooks{
		env:     az.env,
		timeout: realAzTimeout,
		watch:   devtool.WatchOptions{Interval: 5 * time.Millisecond},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tok := mustToken(t, c, armOpts)
	if id := appIDOf(t, srv, tok.Token); id != first.ClientID {
		t.Fatalf("token for app %q, want %q", id, first.ClientID)
	}
	if d := time.Until(tok.ExpiresOn); d < 30*time.Minute {
		t.Fatalf("expiresOn read wrongly: the token expires in %s", d)
	}
	for range 20 {
		if again := mustToken(t, c, armOpts); again.Token != tok.Token {
			t.Fatal("a repeated call did not get the cached token")
		}
	}
	if n := c.CacheStats().TokenRequests; n != 1 {
		t.Fatalf("az ran %d times, want 1", n)
	}

	// Sign in as another app: the cached token must go.
	az.loginServicePrincipal(second)
	eventually(t, "the second app's token", func() bool {
		return appIDOf(t, srv, mustToken(t, c, armOpts).Token) == second.ClientID
	})
}

// az logout: nobody is signed in, and the credential says so (unavailable,
// so DefaultAzureCredential moves on).
func TestAzureCLICredentialRealAzLoggedOut(t *testing.T) {
	srv := newEmulator(t, &entratest.Options{ProxyAddr: "127.0.0.1:0"})
	az := newRealAz(t, srv)
	c, err := NewAzureCLICredential(&AzureCLICredentialOptions{hooks: &toolHooks{env: az.env, timeout: realAzTimeout}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetToken(t.Context(), armOpts)
	if err == nil || !isUnavailable(err) || !strings.Contains(err.Error(), "run az login") {
		t.Fatalf("got %v", err)
	}
}
