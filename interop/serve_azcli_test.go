package interop

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azid-go/azid/entratest"
)

// The Azure CLI 2.45's "az login --identity" (msrestazure's
// MSIAuthentication) uses App Service's endpoint only in its 2017 form
// (MSI_ENDPOINT, MSI_SECRET, api-version 2017-09-01), and only when
// APPSETTING_WEBSITE_SITE_NAME says it runs in App Service; without that
// variable it speaks Cloud Shell's protocol (POST, no secret) to
// MSI_ENDPOINT, which azid serve does not answer. So this test adds that
// one variable to the printed ones, as docs/SERVE.md tells az users to.
//
// azid serve gets its tokens with --credential secret from the test's
// emulator, so that az's next step, listing subscriptions on ARM (the
// emulator's, reached through its proxy), accepts them.
func TestServeAzureCLI(t *testing.T) {
	srv := newEmulator(t, nil)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, []string{
		"AZURE_AUTHORITY_HOST=" + srv.AuthorityHost(), "SSL_CERT_FILE=" + ca,
		"AZURE_TENANT_ID=" + entratest.DefaultTenantID, "AZURE_CLIENT_ID=" + entratest.DefaultClientID,
		"AZURE_CLIENT_SECRET=" + entratest.DefaultClientSecret,
	}, "--credential", "secret", "--allow-resource", "https://management.core.windows.net/")
	az := newAzCLI(t, srv, azCLIOptions{})
	base := az.vars
	// TZ: az prints expiresOn in its local time, read below as UTC.
	az.vars = append(base, "APPSETTING_WEBSITE_SITE_NAME=azid-serve", "TZ=UTC")
	for k, v := range s.vars {
		az.vars = append(az.vars, k+"="+v)
	}
	az.mustRun("login", "--identity", "--allow-no-subscriptions")
	var tok azToken
	if err := json.Unmarshal([]byte(az.mustRun("account", "get-access-token")), &tok); err != nil {
		t.Fatal(err)
	}
	checkServedToken(t, tok.AccessToken, "https://management.core.windows.net/", entratest.DefaultClientID)
	// az read the answer's expires_on (Unix seconds) right.
	exp, err := time.Parse("2006-01-02 15:04:05.000000", tok.ExpiresOn)
	if d := time.Until(exp); err != nil || d < 30*time.Minute || d > 2*time.Hour {
		t.Errorf("az's expiresOn %q (%v): expires_on misread?", tok.ExpiresOn, err)
	}
	if _, err := srv.VerifyToken(tok.AccessToken); err != nil {
		t.Errorf("az's token does not verify with the emulator: %v", err)
	}

	// A resource outside --allow-resource.
	if _, stderr, err := az.run("account", "get-access-token", "--resource", "https://vault.azure.net"); err == nil || !strings.Contains(stderr, "--allow-resource") {
		t.Errorf("refused resource: az succeeded or did not show the server's message (%v):\n%s", err, stderr)
	}
	// A wrong secret, in a configuration of its own.
	az.dir = t.TempDir()
	az.vars = append(append([]string(nil), base...), "AZURE_CONFIG_DIR="+az.dir, "APPSETTING_WEBSITE_SITE_NAME=azid-serve")
	for k, v := range s.vars {
		if k == "MSI_SECRET" {
			v = strings.Repeat("0", 64)
		}
		az.vars = append(az.vars, k+"="+v)
	}
	if _, stderr, err := az.run("login", "--identity", "--allow-no-subscriptions"); err == nil || !strings.Contains(stderr, "MSI_SECRET") {
		t.Errorf("wrong secret: az succeeded or did not show the server's message (%v):\n%s", err, stderr)
	}
	s.checkLogs(t, []string{tok.AccessToken}, "200 upstream", "401 refused: missing or wrong secret", "403 refused: resource not allowed")
}
