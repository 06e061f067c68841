//go:build unix

// These tests run the real Azure CLI (Debian's azure-cli package, 2.45)
// signed in to the emulator through the emulator's HTTPS CONNECT proxy, so
// az follows Entra's real code path (login.microsoftonline.com, instance
// discovery, management.azure.com) and ends up in the emulator. They FAIL,
// not skip, when az is missing.

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

// claimsOf returns the claims of a token the emulator issued.
func claimsOf(t *testing.T, srv *entratest.Server, token string) map[string]any {
	t.Helper()
	claims, err := srv.VerifyToken(token)
	if err != nil {
		t.Fatalf("the token does not verify: %v", err)
	}
	return claims
}

// A user with a subscription in each of two tenants: "az account set
// --subscription" to the other one must drop the cached token (the next
// token is for the other tenant), and so must a re-login as another
// principal (an app: no user any more).
func TestAzureCLICredentialRealAzAccountSet(t *testing.T) {
	const (
		home, guest       = "7e4a0000-0000-4000-8000-0000000000a1", "7e4a0000-0000-4000-8000-0000000000b2"
		homeSub, guestSub = "5ab50000-0000-4000-8000-0000000000a1", "5ab50000-0000-4000-8000-0000000000b2"
		username          = "ann@contoso.example"
		password          = "ann-test-password"
	)
	app := entratest.App{TenantID: guest, ClientID: entratest.DefaultClientID, Secret: entratest.DefaultClientSecret}
	srv := newEmulator(t, &entratest.Options{
		ProxyAddr: "127.0.0.1:0",
		Apps:      []entratest.App{app},
		Tenants: []entratest.Tenant{
			{ID: home, DisplayName: "Contoso", Domains: []string{"contoso.example"}, Subscriptions: []entratest.Subscription{{ID: homeSub}}},
			{ID: guest, DisplayName: "Fabrikam", Subscriptions: []entratest.Subscription{{ID: guestSub}}},
		},
		Users: []entratest.User{{Username: username, Password: password, TenantID: home, GuestTenants: []string{guest}}},
	})
	az := newRealAz(t, srv)
	// Without --tenant az lists the user's tenants and the subscriptions
	// of each.
	az.loginUser(username, password, "")
	if n := srv.Requests(entratest.EndpointARMSubscriptions); n != 2 {
		t.Fatalf("az listed subscriptions %d times, want once per tenant", n)
	}

	c, err := NewAzureCLICredential(&AzureCLICredentialOptions{hooks: &toolHooks{
		env:     az.env,
		timeout: realAzTimeout,
		watch:   devtool.WatchOptions{Interval: 5 * time.Millisecond},
	}})
	if err != nil {
		t.Fatal(err)
	}
	first := claimsOf(t, srv, mustToken(t, c, armOpts).Token)
	if first["upn"] != username || (first["tid"] != home && first["tid"] != guest) {
		t.Fatalf("first token: %v", first)
	}
	// Whichever subscription az chose as default, switch to the other.
	other, otherSub := guest, guestSub
	if first["tid"] == guest {
		other, otherSub = home, homeSub
	}
	if again := claimsOf(t, srv, mustToken(t, c, armOpts).Token); again["uti"] != first["uti"] {
		t.Fatal("a repeated call did not get the cached token")
	}
	runs := c.CacheStats().TokenRequests

	az.run("account", "set", "--subscription", otherSub)
	eventually(t, "a token for the other subscription's tenant", func() bool {
		return claimsOf(t, srv, mustToken(t, c, armOpts).Token)["tid"] == other
	})
	if n := c.CacheStats().TokenRequests; n <= runs {
		t.Fatalf("az ran %d times in all, not again after az account set", n)
	}

	// Re-login as an app: the user's token must go.
	az.loginServicePrincipal(app)
	eventually(t, "the app's token", func() bool {
		claims := claimsOf(t, srv, mustToken(t, c, armOpts).Token)
		return claims["appid"] == app.ClientID && claims["upn"] == nil
	})
}
