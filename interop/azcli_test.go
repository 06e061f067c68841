package interop

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/azid-go/azid/entratest"
)

// getAccessToken runs az account get-access-token and decodes it.
func (a *azCLI) getAccessToken(args ...string) azToken {
	a.t.Helper()
	out := a.mustRun(append([]string{"account", "get-access-token", "--output", "json"}, args...)...)
	var tok azToken
	if err := json.Unmarshal([]byte(out), &tok); err != nil {
		a.t.Fatalf("az account get-access-token printed %q: %v", out, err)
	}
	return tok
}

var defaultSP = azLogin{ClientID: entratest.DefaultClientID, Secret: entratest.DefaultClientSecret, TenantID: entratest.DefaultTenantID}

// The Azure CLI with its default cloud, every host answered by the
// emulator through the proxy: az login as a service principal lists the
// emulator's subscription, and az account get-access-token returns tokens
// the emulator issued, from az's cache for ARM and from a new request for
// another resource.
func TestAzCLIServicePrincipal(t *testing.T) {
	t.Parallel()
	srv := newEmulator(t, nil)
	az := azLoggedIn(t, srv, azCLIOptions{}, defaultSP)

	if n := srv.Requests(entratest.EndpointARMSubscriptions); n != 1 {
		t.Errorf("ARM /subscriptions requests = %d, want 1", n)
	}
	arm := az.getAccessToken()
	claims, err := srv.VerifyToken(arm.AccessToken)
	if err != nil {
		t.Fatalf("az's ARM token: %v", err)
	}
	if claims["aud"] != "https://management.core.windows.net/" || claims["tid"] != entratest.DefaultTenantID || claims["appid"] != entratest.DefaultClientID {
		t.Errorf("ARM token claims = %v", claims)
	}
	if arm.Subscription != entratest.DefaultSubscriptionID(entratest.DefaultTenantID) || arm.Tenant != entratest.DefaultTenantID || arm.ExpiresOn == "" {
		t.Errorf("az token = %+v", arm)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Errorf("token requests after login and the ARM token = %d, want 1 (the second from az's cache)", n)
	}

	demo := az.getAccessToken("--scope", "api://demo/.default")
	if claims, err := srv.VerifyToken(demo.AccessToken); err != nil || claims["aud"] != "api://demo" {
		t.Errorf("api://demo token: %v %v", claims, err)
	}
	log := srv.TokenRequests()
	if len(log) != 2 {
		t.Fatalf("token log = %+v", log)
	}
	for _, r := range log {
		if r.GrantType != "client_credentials" || r.Tenant != entratest.DefaultTenantID || r.Status != 200 {
			t.Errorf("token request %+v", r)
		}
	}
	connects := srv.ProxyConnects()
	if connects["login.microsoftonline.com:443"] == 0 || connects["management.azure.com:443"] == 0 {
		t.Errorf("az did not go through the proxy to Entra and ARM: %v", connects)
	}
	for _, r := range srv.RequestLog() {
		if r.Status != 200 {
			t.Errorf("az request %+v failed", r)
		}
	}
	t.Logf("proxy tunnels: %v", connects)
}

// The recipe for a cloud registered at the emulator's own address: az
// reads the emulator's /metadata/endpoints, and MSAL validates the
// emulator as an authority with login.microsoftonline.com, which the proxy
// answers with the emulator's address.
func TestAzCLIEmulatorCloud(t *testing.T) {
	t.Parallel()
	srv := newEmulator(t, nil)
	az := azLoggedIn(t, srv, azCLIOptions{RegisterCloud: true}, defaultSP)
	if n := srv.Requests(entratest.EndpointARMMetadata); n != 1 {
		t.Errorf("metadata requests = %d, want 1 (az cloud register)", n)
	}
	if n := srv.Requests(entratest.EndpointInstanceDiscovery); n == 0 {
		t.Error("MSAL did not validate the emulator's authority")
	}
	tok := az.getAccessToken("--scope", "https://storage.azure.com/.default")
	claims, err := srv.VerifyToken(tok.AccessToken)
	if err != nil || claims["aud"] != "https://storage.azure.com" || claims["iss"] != "https://sts.windows.net/"+entratest.DefaultTenantID+"/" {
		t.Errorf("storage token: %v %v", claims, err)
	}
	for _, r := range srv.RequestLog() {
		if r.Status != 200 {
			t.Errorf("az request %+v failed", r)
		}
	}
}

// A wrong secret fails az login with Entra's code in the message, and the
// secret does not appear in it.
func TestAzCLIWrongSecret(t *testing.T) {
	t.Parallel()
	srv := newEmulator(t, nil)
	az := newAzCLI(t, srv, azCLIOptions{})
	const wrong = "wrong-secret-value-1234"
	_, stderr, err := az.run("login", "--service-principal", "-u", entratest.DefaultClientID, "-p", wrong, "--tenant", entratest.DefaultTenantID)
	if err == nil {
		t.Fatal("az login succeeded with a wrong secret")
	}
	if !strings.Contains(stderr, "AADSTS7000215") {
		t.Errorf("az's error lacks AADSTS7000215:\n%s", stderr)
	}
	if strings.Contains(stderr, wrong) {
		t.Error("the secret appears in az's error output")
	}
	if log := srv.TokenRequests(); len(log) == 0 || log[0].ErrorCode != 7000215 {
		t.Errorf("token log = %+v", log)
	}
}
