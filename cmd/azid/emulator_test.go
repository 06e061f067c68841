package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/azid-go/azid/entratest"
)

// startEmulatorCmd runs "azid emulator args..." in-process until the test
// stops it, and returns the first line it printed and a stop function
// that cancels it (as Ctrl-C does) and returns the exit code and stderr.
func startEmulatorCmd(t *testing.T, args ...string) (firstLine string, stop func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{"emulator"}, args...), pw, &errOut, func(string) string { return "" })
		pw.Close()
		done <- code
	}()
	br := bufio.NewReader(pr)
	line, err := br.ReadString('\n')
	if err != nil {
		cancel()
		code := <-done
		t.Fatalf("azid emulator printed nothing (exit %d): %v\n%s", code, err, errOut.String())
	}
	go func() { _, _ = io.Copy(io.Discard, br) }()
	stopped := false
	stop = func() (int, string) {
		if stopped {
			return -1, ""
		}
		stopped = true
		cancel()
		return <-done, errOut.String()
	}
	t.Cleanup(func() { stop() })
	return line, stop
}

func clientTrusting(t *testing.T, caFile string, proxy string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("reading the printed CA file: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("the CA file holds no certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	if proxy != "" {
		u, _ := url.Parse(proxy)
		tr.Proxy = http.ProxyURL(u)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func postToken(t *testing.T, c *http.Client, tokenURL string) int {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {entratest.DefaultClientID},
		"client_secret": {entratest.DefaultClientSecret}, "scope": {"api://demo/.default"}}
	resp, err := c.PostForm(tokenURL, form)
	if err != nil {
		t.Fatalf("token request to %s: %v", tokenURL, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// The printed authority host, CA file and proxy work, and Ctrl-C stops
// everything and removes the temporary CA file.
func TestEmulatorCmd(t *testing.T) {
	line, stop := startEmulatorCmd(t, "--output", "json", "--proxy-addr", "127.0.0.1:0")
	var info emulatorInfo
	if err := json.Unmarshal([]byte(line), &info); err != nil {
		t.Fatalf("--output json printed %q: %v", line, err)
	}
	if !strings.HasPrefix(info.AuthorityHost, "https://127.0.0.1:") || !strings.HasPrefix(info.ProxyURL, "http://127.0.0.1:") ||
		len(info.Apps) != 1 || info.Apps[0].Secret != entratest.DefaultClientSecret || len(info.Subscriptions) != 1 {
		t.Fatalf("info = %+v", info)
	}
	if fi, err := os.Stat(info.CAFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("CA file %s: %v %v", info.CAFile, fi.Mode(), err)
	}
	env := map[string]string{}
	for _, e := range info.Env {
		env[e.Name] = e.Value
	}
	if env["AZURE_AUTHORITY_HOST"] != info.AuthorityHost || env["AZURE_CLIENT_SECRET"] != entratest.DefaultClientSecret || env["SSL_CERT_FILE"] != info.CAFile ||
		env["AZID_CACHE_NAME"] != emulatorCacheName || env["HTTPS_PROXY"] != info.ProxyURL || env["AZURE_CONFIG_DIR"] == "" {
		t.Errorf("env = %v", env)
	}

	direct := clientTrusting(t, info.CAFile, "")
	if s := postToken(t, direct, info.AuthorityHost+entratest.DefaultTenantID+"/oauth2/v2.0/token"); s != 200 {
		t.Errorf("token from the printed authority host: %d", s)
	}
	viaProxy := clientTrusting(t, info.CAFile, info.ProxyURL)
	if s := postToken(t, viaProxy, "https://login.microsoftonline.com/"+entratest.DefaultTenantID+"/oauth2/v2.0/token"); s != 200 {
		t.Errorf("token through the printed proxy: %d", s)
	}

	code, stderr := stop()
	if code != exitInterrupted {
		t.Errorf("exit %d after Ctrl-C, want %d; stderr:\n%s", code, exitInterrupted, stderr)
	}
	for _, f := range []string{info.CAFile, env["AZURE_CONFIG_DIR"]} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("the temporary %s survived: %v", f, err)
		}
	}
	for _, u := range []string{info.AuthorityHost, info.ProxyURL} {
		pu, _ := url.Parse(u)
		if c, err := net.Dial("tcp", pu.Host); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Ctrl-C", u)
		}
	}
}

// Text output for people: the authority, the CA, the exports; secrets from
// a configuration file are not printed.
func TestEmulatorCmdText(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "emu.json")
	ca := filepath.Join(dir, "my ca.pem")
	const conf = `{"apps": [{"tenantId": "7e4a0000-0000-4000-8000-000000000001", "clientId": "a9900000-0000-4000-8000-000000000001", "secret": "file-secret-value"}],
	  "tenants": [{"id": "7e4a0000-0000-4000-8000-000000000001", "subscriptions": [{"id": "5ab50000-0000-4000-8000-000000000001"}]}]}`
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // print, then stop at once
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"emulator", "--config", cfg, "--ca-file", ca, "--no-proxy"}, &out, &errOut, func(string) string { return "" })
	if code != exitInterrupted {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	text := out.String()
	for _, want := range []string{
		"Authority host:  https://127.0.0.1:",
		"CA certificate:  " + ca,
		"client a9900000-0000-4000-8000-000000000001  secret as configured",
		"Subscription:    5ab50000-0000-4000-8000-000000000001",
		"export AZURE_TENANT_ID=7e4a0000-0000-4000-8000-000000000001",
		"export SSL_CERT_FILE='" + ca + "'",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "file-secret-value") || strings.Contains(text, "AZURE_CLIENT_SECRET") {
		t.Errorf("a configured secret was printed:\n%s", text)
	}
	if strings.Contains(text, "Proxy:") || strings.Contains(text, "export HTTPS_PROXY") {
		t.Error("a proxy was reported with --no-proxy")
	}
	// --ca-file is the user's: it stays.
	if _, err := os.Stat(ca); err != nil {
		t.Errorf("--ca-file was removed: %v", err)
	}
}

func TestEmulatorCmdUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte(`{"apps": [{"tenantId": "not a tenant!", "clientId": "y", "secret": "bad-file-secret"}]}`), 0o600)
	lateRefresh := filepath.Join(dir, "late-refresh.json")
	_ = os.WriteFile(lateRefresh, []byte(`{"token": {"expiresIn": "1h", "refreshIn": "2h"}}`), 0o600)
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--output", "xml"}, exitUsage, "--output must be text, json or env"},
		{[]string{"-o", "xml"}, exitUsage, "--output must be text, json or env"},
		{[]string{"--no-proxy", "--proxy-addr", "127.0.0.1:0"}, exitUsage, "choose one of"},
		{[]string{"--adr", "127.0.0.1:0"}, exitUsage, "did you mean --addr?"},
		{[]string{"extra"}, exitUsage, "unexpected argument"},
		{[]string{"--config", filepath.Join(dir, "missing.json")}, exitUsage, "no such file"},
		{[]string{"--config", bad}, exitUsage, "apps[0]"},
		{[]string{"--config", lateRefresh}, exitUsage, "token.refreshIn"},
		{[]string{"--user", "alice-no-password-hunter2"}, exitUsage, "username:password"},
		{[]string{"--user", "not-a-upn:hunter2"}, exitUsage, "user principal name"},
		{[]string{"--addr", "256.0.0.1:x"}, exitInternal, "listening"},
		{[]string{"--proxy-addr", "256.0.0.1:x"}, exitInternal, "proxy"},
	} {
		code, _, stderr := runAzid(t, nil, append([]string{"emulator"}, tt.args...)...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
		if strings.Contains(stderr, "hunter2") || strings.Contains(stderr, "bad-file-secret") {
			t.Errorf("%v: a secret reached stderr: %q", tt.args, stderr)
		}
	}
	if code, stdout, _ := runAzid(t, nil, "help"); code != exitOK || !strings.Contains(stdout, "azid emulator") {
		t.Errorf("help does not list the emulator: %s", stdout)
	}
}

// passwordGrant signs a user in with the password grant through the Azure
// CLI's public client and returns the status and the access token.
func passwordGrant(t *testing.T, c *http.Client, tokenURL, username, password string) (int, string) {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "client_id": {entratest.AzureCLIClientID},
		"username": {username}, "password": {password}, "scope": {"https://storage.azure.com/.default openid profile offline_access"}}
	resp, err := c.PostForm(tokenURL, form)
	if err != nil {
		t.Fatalf("password grant at %s: %v", tokenURL, err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.AccessToken
}

// --user and the configuration file's users can sign in, in their tenants,
// with the object IDs and names declared; they replace the default user,
// and their passwords are not printed.
func TestEmulatorCmdUsers(t *testing.T) {
	const (
		tenant = "7e4a0000-0000-4000-8000-000000000002"
		bobOID = "0b0b0000-0000-4000-8000-000000000002"
	)
	cfg := filepath.Join(t.TempDir(), "emu.json")
	conf := `{"tenants": [{"id": "` + tenant + `", "domains": ["fabrikam.example"]}],
	  "users": [{"username": "bob@fabrikam.example", "password": "bob-config-password", "tenantId": "` + tenant + `",
	             "objectId": "` + bobOID + `", "displayName": "Bob Builder"}]}`
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	line, _ := startEmulatorCmd(t, "--output", "json", "--config", cfg, "--user", "alice@contoso.example:alice-flag-password")
	if strings.Contains(line, "alice-flag-password") || strings.Contains(line, "bob-config-password") {
		t.Fatalf("a declared password was printed: %s", line)
	}
	var info emulatorInfo
	if err := json.Unmarshal([]byte(line), &info); err != nil {
		t.Fatalf("--output json printed %q: %v", line, err)
	}
	if len(info.Users) != 2 || info.Users[0].Username != "bob@fabrikam.example" || info.Users[0].TenantID != tenant ||
		info.Users[1].Username != "alice@contoso.example" || info.Users[1].TenantID != entratest.DefaultTenantID {
		t.Fatalf("users = %+v", info.Users)
	}
	c := clientTrusting(t, info.CAFile, "")
	for _, tt := range []struct {
		tenant, username, password string
		status                     int
		claims                     map[string]string
	}{
		{tenant, "bob@fabrikam.example", "bob-config-password", 200, map[string]string{"oid": bobOID, "name": "Bob Builder", "tid": tenant}},
		{entratest.DefaultTenantID, "alice@contoso.example", "alice-flag-password", 200, map[string]string{"name": "alice", "tid": entratest.DefaultTenantID}},
		{entratest.DefaultTenantID, "alice@contoso.example", "wrong-password", 400, nil},
		{entratest.DefaultTenantID, entratest.DefaultUsername, entratest.DefaultPassword, 400, nil}, // replaced
	} {
		status, tok := passwordGrant(t, c, info.AuthorityHost+tt.tenant+"/oauth2/v2.0/token", tt.username, tt.password)
		if status != tt.status {
			t.Errorf("%s: status %d, want %d", tt.username, status, tt.status)
			continue
		}
		if tt.claims == nil {
			continue
		}
		claims := jwtClaims(t, tok)
		for k, v := range tt.claims {
			if claims[k] != v {
				t.Errorf("%s: claim %s = %v, want %s", tt.username, k, claims[k], v)
			}
		}
		if claims["upn"] != tt.username {
			t.Errorf("%s: upn = %v", tt.username, claims["upn"])
		}
	}
}

// Without declared users the default one signs in, and its published
// password is printed so people can use it.
func TestEmulatorCmdDefaultUser(t *testing.T) {
	line, _ := startEmulatorCmd(t, "--output", "json")
	var info emulatorInfo
	if err := json.Unmarshal([]byte(line), &info); err != nil {
		t.Fatalf("--output json printed %q: %v", line, err)
	}
	if len(info.Users) != 1 || info.Users[0] != (userInfo{Username: entratest.DefaultUsername, TenantID: entratest.DefaultTenantID, Password: entratest.DefaultPassword}) {
		t.Fatalf("users = %+v", info.Users)
	}
	c := clientTrusting(t, info.CAFile, "")
	if status, _ := passwordGrant(t, c, info.AuthorityHost+entratest.DefaultTenantID+"/oauth2/v2.0/token", info.Users[0].Username, info.Users[0].Password); status != 200 {
		t.Errorf("the printed user cannot sign in: %d", status)
	}
}

// A user declared twice (in the file and with --user) is refused.
func TestEmulatorCmdDuplicateUser(t *testing.T) {
	code, _, stderr := runAzid(t, nil, "emulator", "--user", "alice@contoso.example:first-pass", "--user", "Alice@Contoso.example:second-pass")
	if code != exitUsage || !strings.Contains(stderr, "declared twice") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if strings.Contains(stderr, "first-pass") || strings.Contains(stderr, "second-pass") {
		t.Errorf("a password reached stderr: %q", stderr)
	}
}

// jwtClaims decodes a JWT's claims without verifying it (the emulator that
// signed it runs in-process behind the command).
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT (%d parts)", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// --output env prints shell exports only, then the ready line: nothing a
// shell's eval would trip on.
func TestEmulatorCmdEnv(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // print, then stop at once
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"emulator", "-o", "env"}, &out, &errOut, func(string) string { return "" })
	if code != exitInterrupted {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if lines[len(lines)-1] != "# azid emulator: ready" {
		t.Errorf("last line %q", lines[len(lines)-1])
	}
	names := map[string]bool{}
	for _, l := range lines[:len(lines)-1] {
		name, _, ok := strings.Cut(strings.TrimPrefix(l, "export "), "=")
		if !strings.HasPrefix(l, "export ") || !ok {
			t.Errorf("not an export: %q", l)
		}
		names[name] = true
	}
	for _, want := range []string{"AZURE_AUTHORITY_HOST", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "AZID_CACHE_NAME", "HTTPS_PROXY", "AZURE_CONFIG_DIR"} {
		if !names[want] {
			t.Errorf("no export of %s:\n%s", want, out.String())
		}
	}
}
