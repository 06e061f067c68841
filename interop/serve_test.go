package interop

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/azid-go/azid/entratest"
)

// Unmodified clients in three languages get tokens from "azid serve
// --emulator" through ManagedIdentityCredential and DefaultAzureCredential,
// given nothing but the variables it printed. Everything is on loopback:
// the clients talk plain http to azid serve on 127.0.0.1, azid talks TLS to
// its own emulator.

const (
	serveResource = "https://management.azure.com"
	serveScope    = serveResource + "/.default"
	// refusedScope is outside --allow-resource in the refusal tests.
	refusedScope = "https://vault.azure.net/.default"
)

// miVarPrefixes are the variables cleared before a client runs in this
// process: Azure SDK configuration and every managed identity source's.
var miVarPrefixes = []string{"AZURE_", "IDENTITY_", "MSI_", "IMDS_", "APPSETTING_"}

// setClientEnv makes this process's environment the served variables and
// nothing else of Azure's (for the in-process Go client).
func setClientEnv(t *testing.T, vars map[string]string) {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		for _, p := range miVarPrefixes {
			if strings.HasPrefix(k, p) {
				t.Setenv(k, "") // restored when the test ends
				os.Unsetenv(k)
			}
		}
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
}

func TestServeAzidentityGo(t *testing.T) {
	s := startServe(t, nil, "--emulator")
	setClientEnv(t, s.vars)
	mi, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	dac, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	resource := processResource(t, "azid-serve-go")
	var tokens []string
	for name, cred := range map[string]azcore.TokenCredential{"ManagedIdentityCredential": mi, "DefaultAzureCredential": dac} {
		tok, err := cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{resource + "/.default"}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkServedToken(t, tok.Token, resource, entratest.DefaultClientID)
		if d := time.Until(tok.ExpiresOn); d < 30*time.Minute || d > 2*time.Hour {
			t.Errorf("%s: ExpiresOn %v (expires_on misread?)", name, tok.ExpiresOn)
		}
		tokens = append(tokens, tok.Token)
	}
	if tokens[0] != tokens[1] {
		t.Error("the two credentials got different tokens")
	}
	// MSAL Go keeps managed identity tokens in a cache shared by the
	// process's clients, so the second credential may not ask at all.
	s.checkLogs(t, tokens, `resource="`+resource+`" 200 upstream`)
}

// Given only MSI_ENDPOINT and MSI_SECRET, azidentity takes the endpoint for
// Azure ML's and speaks the 2017 API, whose expires_on it reads only as
// Unix seconds: the token comes, with the right expiry.
func TestServeAzidentityGoMSIVariables(t *testing.T) {
	s := startServe(t, nil, "--emulator")
	setClientEnv(t, map[string]string{"MSI_ENDPOINT": s.vars["MSI_ENDPOINT"], "MSI_SECRET": s.vars["MSI_SECRET"]})
	mi, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	resource := processResource(t, "azid-serve-2017")
	tok, err := mi.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{resource + "/.default"}})
	if err != nil {
		t.Fatalf("ManagedIdentityCredential with MSI_ENDPOINT and MSI_SECRET: %v", err)
	}
	checkServedToken(t, tok.Token, resource, entratest.DefaultClientID)
	if d := time.Until(tok.ExpiresOn); d < 30*time.Minute || d > 2*time.Hour {
		t.Errorf("ExpiresOn %v (expires_on misread?)", tok.ExpiresOn)
	}
	s.checkLogs(t, []string{tok.Token}, `resource="`+resource+`" 200 upstream`)
}

func TestServeAzidentityGoRefusals(t *testing.T) {
	s := startServe(t, nil, "--emulator", "--allow-resource", serveResource)
	// A wrong secret. (Refused requests leave nothing in MSAL Go's
	// process-wide managed identity cache; see processResource.)
	setClientEnv(t, map[string]string{"IDENTITY_ENDPOINT": s.vars["IDENTITY_ENDPOINT"], "IDENTITY_HEADER": strings.Repeat("0", 64)})
	mi, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = mi.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RawResponse.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong secret: %v, want an AuthenticationFailedError with status 401", err)
	}
	// A resource outside --allow-resource.
	setClientEnv(t, s.vars)
	mi, err = azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = mi.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{refusedScope}})
	if !errors.As(err, &afe) || afe.RawResponse.StatusCode != http.StatusForbidden || !strings.Contains(err.Error(), "--allow-resource") {
		t.Errorf("refused resource: %v, want 403 naming --allow-resource", err)
	}
	// A user-assigned identity the server does not serve: the documented
	// error, never another identity's token.
	ua, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID("11111111-1111-1111-1111-111111111111")})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := ua.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}); err == nil || tok.Token != "" ||
		!strings.Contains(err.Error(), "Unable to load the proper Managed Identity") {
		t.Errorf("user-assigned: %v", err)
	}
	// No secret at all: no SDK sends that (without IDENTITY_HEADER they do
	// not use this endpoint), so plain HTTP.
	resp, err := http.Get(s.vars["IDENTITY_ENDPOINT"] + "?api-version=2019-08-01&resource=" + serveResource)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"statusCode":401`) {
		t.Errorf("no secret: %d %s", resp.StatusCode, body)
	}
	s.checkLogs(t, nil, "401 refused: missing or wrong secret", "403 refused: resource not allowed", "400 refused: asked for identity client_id=")
}

// clientResult is what the Python and Node scripts print: a token or an
// error.
type clientResult struct {
	Token     string `json:"token"`
	ExpiresOn int64  `json:"expires_on"`
	Error     string `json:"error"`
	Message   string `json:"message"`
}

// runClient runs a client script and decodes its one line of JSON.
func runClient(t *testing.T, env []string, name string, args ...string) clientResult {
	t.Helper()
	c, cancel := ctxWithCancel(t, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, name, args...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, _ := cmd.Output()
	var r clientResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%s %s: output %q (%v); stderr:\n%s", name, strings.Join(args[:1], " "), out, err, stderr.String())
	}
	return r
}

const pythonClient = `
import json, sys
from azure.identity import ManagedIdentityCredential, DefaultAzureCredential
kind, scope = sys.argv[1], sys.argv[2]
cred = ManagedIdentityCredential() if kind == "mi" else DefaultAzureCredential()
try:
    t = cred.get_token(scope)
    print(json.dumps({"token": t.token, "expires_on": t.expires_on}))
except Exception as e:
    print(json.dumps({"error": type(e).__name__, "message": str(e)}))
`

// pythonInterpreter is Debian's python3, which has python3-azure's
// azure-identity (a python3 earlier on PATH may not).
const pythonInterpreter = "/usr/bin/python3"

func TestServePythonAzureIdentity(t *testing.T) {
	if out, err := exec.Command(pythonInterpreter, "-c", "from azure.identity._version import VERSION; print(VERSION)").CombinedOutput(); err != nil {
		t.Fatalf("Python's azure-identity is missing (apt-get install python3-azure; scripts/ci-setup.sh does): %v: %s", err, out)
	}
	s := startServe(t, nil, "--emulator", "--allow-resource", serveResource)
	script := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(script, []byte(pythonClient), 0o600); err != nil {
		t.Fatal(err)
	}
	runPy := func(env []string, kind, scope string) clientResult {
		return runClient(t, env, pythonInterpreter, script, kind, scope)
	}
	testClient(t, s, runPy)

	// Only the older variables: azure-identity then speaks the 2017 API
	// (its "Azure ML" source: the secret header, and expires_on as Unix
	// seconds, which it reads before trying App Service's date).
	r := runPy(s.clientEnv(t, map[string]string{"IDENTITY_ENDPOINT": "", "IDENTITY_HEADER": ""}), "mi", "https://storage.azure.com/.default")
	if r.Token != "" || !strings.Contains(r.Message, "--allow-resource") {
		t.Errorf("2017 API, refused resource: %+v", r)
	}
	r = runPy(s.clientEnv(t, map[string]string{"IDENTITY_ENDPOINT": "", "IDENTITY_HEADER": ""}), "mi", serveScope)
	if r.Token == "" {
		t.Fatalf("2017 API: %s: %s", r.Error, r.Message)
	}
	checkServedToken(t, r.Token, serveResource, entratest.DefaultClientID)
	if d := time.Until(time.Unix(r.ExpiresOn, 0)); d < 30*time.Minute || d > 2*time.Hour {
		t.Errorf("2017 API: expires_on %v (misread?)", time.Unix(r.ExpiresOn, 0))
	}
}

const nodeClient = `
const { ManagedIdentityCredential, DefaultAzureCredential } = require("@azure/identity");
const [kind, scope] = process.argv.slice(2);
const cred = kind === "mi" ? new ManagedIdentityCredential() : new DefaultAzureCredential();
cred.getToken(scope).then(
  (t) => console.log(JSON.stringify({ token: t.token, expires_on: Math.floor(t.expiresOnTimestamp / 1000) })),
  (e) => console.log(JSON.stringify({ error: e.name, message: String(e.message) })),
);
`

// nodeIdentityVersion is the @azure/identity the test installs.
const nodeIdentityVersion = "4.14.1"

// nodeIdentity installs @azure/identity (pinned) into a folder of this
// test's own, once per machine: AZID_NODE_DIR, else a directory under the
// system's temp directory named after the version.
func nodeIdentity(t *testing.T) string {
	if out, err := exec.Command("node", "--version").CombinedOutput(); err != nil {
		t.Fatalf("node is missing (scripts/ci-setup.sh installs it): %v: %s", err, out)
	}
	dir := os.Getenv("AZID_NODE_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "azid-interop-node-identity-"+nodeIdentityVersion)
	}
	pkg := filepath.Join(dir, "node_modules", "@azure", "identity", "package.json")
	var meta struct{ Version string }
	if b, err := os.ReadFile(pkg); err == nil && json.Unmarshal(b, &meta) == nil && meta.Version == nodeIdentityVersion {
		return dir
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c, cancel := ctxWithCancel(t, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "@azure/identity@"+nodeIdentityVersion)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install @azure/identity@%s: %v\n%s", nodeIdentityVersion, err, out)
	}
	return dir
}

func TestServeNodeAzureIdentity(t *testing.T) {
	dir := nodeIdentity(t)
	s := startServe(t, nil, "--emulator", "--allow-resource", serveResource)
	script := filepath.Join(dir, "azid-serve-client.js")
	if err := os.WriteFile(script, []byte(nodeClient), 0o600); err != nil {
		t.Fatal(err)
	}
	runNode := func(env []string, kind, scope string) clientResult {
		return runClient(t, env, "node", script, kind, scope)
	}
	testClient(t, s, runNode)
}

// testClient runs a client's checks: both credentials get the served
// token; a wrong secret and a refused resource fail with the server's
// message.
func testClient(t *testing.T, s *served, run func(env []string, kind, scope string) clientResult) {
	t.Helper()
	var tokens []string
	for _, kind := range []string{"mi", "default"} {
		r := run(s.clientEnv(t, nil), kind, serveScope)
		if r.Token == "" {
			t.Fatalf("%s: %s: %s", kind, r.Error, r.Message)
		}
		checkServedToken(t, r.Token, serveResource, entratest.DefaultClientID)
		if d := time.Until(time.Unix(r.ExpiresOn, 0)); d < 30*time.Minute || d > 2*time.Hour {
			t.Errorf("%s: expires_on %v (misread?)", kind, time.Unix(r.ExpiresOn, 0))
		}
		tokens = append(tokens, r.Token)
	}
	if tokens[0] != tokens[1] {
		t.Error("ManagedIdentityCredential and DefaultAzureCredential got different tokens: azid's cache did not serve the second")
	}
	wrong := strings.Repeat("0", 64)
	r := run(s.clientEnv(t, map[string]string{"IDENTITY_HEADER": wrong, "MSI_SECRET": wrong}), "mi", serveScope)
	if r.Token != "" || !strings.Contains(r.Message, "X-IDENTITY-HEADER") {
		t.Errorf("wrong secret: %+v, want an error quoting the server's 401 message", r)
	}
	r = run(s.clientEnv(t, nil), "mi", refusedScope)
	if r.Token != "" || !strings.Contains(r.Message, "--allow-resource") {
		t.Errorf("refused resource: %+v, want an error quoting the server's 403 message", r)
	}
	s.checkLogs(t, tokens, "200 upstream", "200 cache", "401 refused: missing or wrong secret", "403 refused: resource not allowed")
}

// processResource returns an App ID URI no other GetToken of this test
// process asks for: MSAL Go keeps managed identity tokens in one cache for
// the whole process, so a test that expects its request to reach the
// endpoint (or a token signed by its own emulator) needs a resource of its
// own, also when go test -count repeats it.
func processResource(t *testing.T, name string) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "api://" + name + "-" + hex.EncodeToString(b)
}
