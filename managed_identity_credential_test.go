package azid

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
	"github.com/azid-go/azid/internal/tokencache"
)

// vaultScope is declared in public_client_test.go.

// miSources are the emulated hosting environments, in detection order.
var miSources = []entratest.Endpoint{
	entratest.EndpointAppService, entratest.EndpointServiceFabric, entratest.EndpointAzureML,
	entratest.EndpointCloudShell, entratest.EndpointAzureArc, entratest.EndpointIMDS,
}

// newMIEmulator starts an emulator for a managed identity test. A 1024-bit
// signing key keeps start-up cheap; tokens are still RS256.
func newMIEmulator(t *testing.T, o *entratest.Options) *entratest.Server {
	t.Helper()
	if o == nil {
		o = &entratest.Options{}
	}
	if o.SigningKeyBits == 0 {
		o.SigningKeyBits = 1024
	}
	return newEmulator(t, o)
}

// newMIHost starts srv's managed identity host.
func newMIHost(t *testing.T, srv *entratest.Server) *entratest.ManagedIdentityHost {
	t.Helper()
	h, err := srv.ManagedIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// miTest configures a credential under test: the environment of one source
// and seams that keep the test hermetic and fast.
type miTest struct {
	opts  ManagedIdentityCredentialOptions
	seams miSeams
	env   map[string]string
}

// newMICred builds a ManagedIdentityCredential for host's source ep. IMDS
// keeps its own retry defaults with a 1 ms base; the other sources retry
// once, fast.
func newMICred(t *testing.T, host *entratest.ManagedIdentityHost, ep entratest.Endpoint, mod func(*miTest)) *ManagedIdentityCredential {
	t.Helper()
	cred, err := tryMICred(host, ep, mod)
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func tryMICred(host *entratest.ManagedIdentityHost, ep entratest.Endpoint, mod func(*miTest)) (*ManagedIdentityCredential, error) {
	mt := &miTest{
		env: host.Env(ep),
		seams: miSeams{
			imdsRetryDelay: time.Millisecond,
			arcKeyDir:      host.ArcKeyDir(),
			arcAgentPath:   "-",
		},
	}
	if ep != entratest.EndpointIMDS {
		mt.opts.Retry = policy.RetryOptions{MaxRetries: 1, RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond}
	}
	if mod != nil {
		mod(mt)
	}
	env := mt.env
	mt.seams.getenv = func(k string) string { return env[k] }
	if mt.seams.chained {
		if mt.seams.probeTimeout <= 0 {
			mt.seams.probeTimeout = defaultIMDSProbeTimeout
		}
	}
	return newManagedIdentityCredential(&mt.opts, mt.seams)
}

// requestsPerToken is how many requests one token costs: Arc's challenge
// comes first.
func requestsPerToken(ep entratest.Endpoint) int {
	if ep == entratest.EndpointAzureArc {
		return 2
	}
	return 1
}

func TestManagedIdentityEverySource(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	sys, _ := host.SystemAssigned()
	for _, ep := range miSources {
		t.Run(string(ep), func(t *testing.T) {
			cred := newMICred(t, host, ep, nil)
			before := time.Now()
			tok, err := cred.GetToken(context.Background(), vaultScope)
			if err != nil {
				t.Fatal(err)
			}
			claims, err := srv.VerifyToken(tok.Token)
			if err != nil {
				t.Fatalf("the emulator does not recognise the token: %v", err)
			}
			if claims["aud"] != "https://vault.azure.net" || claims["oid"] != sys.ObjectID || claims["appid"] != sys.ClientID ||
				claims["tid"] != entratest.DefaultTenantID || claims["xms_mirid"] != sys.ResourceID {
				t.Fatalf("claims = %v", claims)
			}
			if tok.ExpiresOn.Before(before.Add(58*time.Minute)) || tok.ExpiresOn.After(time.Now().Add(time.Hour)) {
				t.Fatalf("ExpiresOn %v is not about an hour from now", tok.ExpiresOn)
			}
			if n := srv.Requests(ep); n != requestsPerToken(ep) {
				t.Fatalf("%d requests for one token, want %d", n, requestsPerToken(ep))
			}
			for range 10 {
				again, err := cred.GetToken(context.Background(), vaultScope)
				if err != nil || again.Token != tok.Token {
					t.Fatalf("a cached token was not served: %v", err)
				}
			}
			if n := srv.Requests(ep); n != requestsPerToken(ep) {
				t.Fatalf("%d requests after cache hits", n)
			}
			if s := cred.CacheStats(); s.Hits != 10 || s.TokenRequests != 1 {
				t.Fatalf("stats = %+v", s)
			}
		})
	}
}

func TestManagedIdentityDetectionOrder(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	all := map[string]string{}
	// Service Fabric first, so that IDENTITY_ENDPOINT is its https URL,
	// which every source that reads it accepts.
	for _, ep := range append([]entratest.Endpoint{entratest.EndpointServiceFabric}, miSources...) {
		for k, v := range host.Env(ep) {
			if _, ok := all[k]; !ok {
				all[k] = v
			}
		}
	}
	// With every variable set, App Service's IDENTITY_ENDPOINT wins and,
	// with the thumbprint, it is Service Fabric.
	cases := []struct {
		drop []string
		want string
	}{
		{nil, "Service Fabric"},
		{[]string{"IDENTITY_SERVER_THUMBPRINT"}, "App Service"},
		{[]string{"IDENTITY_HEADER"}, "Azure ML"},
		{[]string{"IDENTITY_HEADER", "MSI_SECRET"}, "Cloud Shell"},
		{[]string{"IDENTITY_HEADER", "MSI_ENDPOINT"}, "Azure Arc"},
		{[]string{"IDENTITY_HEADER", "MSI_ENDPOINT", "IMDS_ENDPOINT"}, "IMDS"},
	}
	for _, c := range cases {
		env := map[string]string{}
		for k, v := range all {
			env[k] = v
		}
		for _, k := range c.drop {
			delete(env, k)
		}
		cred, err := tryMICred(host, entratest.EndpointIMDS, func(mt *miTest) { mt.env = env })
		if err != nil {
			t.Fatalf("without %v: %v", c.drop, err)
		}
		if got := string(cred.mi.Source()); got != c.want {
			t.Errorf("without %v: source %s, want %s", c.drop, got, c.want)
		}
	}
}

func TestManagedIdentityUserAssigned(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	user := host.AddUserAssigned(entratest.ManagedIdentity{})
	ids := []ManagedIDKind{ClientID(user.ClientID), ObjectID(user.ObjectID), ResourceID(user.ResourceID)}
	for _, ep := range []entratest.Endpoint{entratest.EndpointIMDS, entratest.EndpointAppService, entratest.EndpointAzureArc, entratest.EndpointAzureML} {
		for _, id := range ids {
			if ep == entratest.EndpointAzureML && id.idKind() != miClientID {
				continue
			}
			t.Run(string(ep)+"/"+typeName(id), func(t *testing.T) {
				cred := newMICred(t, host, ep, func(mt *miTest) { mt.opts.ID = id })
				tok, err := cred.GetToken(context.Background(), vaultScope)
				if err != nil {
					t.Fatal(err)
				}
				claims, err := srv.VerifyToken(tok.Token)
				if err != nil {
					t.Fatal(err)
				}
				if claims["oid"] != user.ObjectID || claims["appid"] != user.ClientID {
					t.Fatalf("the token is not the user-assigned identity's: %v", claims)
				}
			})
		}
	}

	t.Run("unknown identity", func(t *testing.T) {
		cred := newMICred(t, host, entratest.EndpointIMDS, func(mt *miTest) { mt.opts.ID = ClientID("00000000-0000-4000-8000-00000000dead") })
		_, err := cred.GetToken(context.Background(), vaultScope)
		var afe *AuthenticationFailedError
		if !errors.As(err, &afe) || afe.RawResponse == nil || afe.RawResponse.StatusCode != http.StatusBadRequest || !strings.Contains(err.Error(), "Identity not found") {
			t.Fatalf("err = %v", err)
		}
		if isUnavailable(err) {
			t.Fatal("a missing user-assigned identity is a failure, not an absent source")
		}
	})

	t.Run("legacy Arc agent", func(t *testing.T) {
		host.SetArcLegacyAgent(true)
		defer host.SetArcLegacyAgent(false)
		cred := newMICred(t, host, entratest.EndpointAzureArc, func(mt *miTest) { mt.opts.ID = ClientID(user.ClientID) })
		_, err := cred.GetToken(context.Background(), vaultScope)
		if err == nil || !strings.Contains(err.Error(), "did not confirm") {
			t.Fatalf("a token for the machine's own identity was accepted as the user-assigned one's: %v", err)
		}
	})
}

func typeName(id ManagedIDKind) string {
	switch id.(type) {
	case ClientID:
		return "client"
	case ObjectID:
		return "object"
	}
	return "resource"
}

func TestManagedIdentityInvalidCombinations(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	cases := []struct {
		ep   entratest.Endpoint
		id   ManagedIDKind
		want string
	}{
		{entratest.EndpointCloudShell, ClientID("c"), "Cloud Shell"},
		{entratest.EndpointCloudShell, ObjectID("o"), "Cloud Shell"},
		{entratest.EndpointCloudShell, ResourceID("/r"), "Cloud Shell"},
		{entratest.EndpointServiceFabric, ClientID("c"), "Service Fabric"},
		{entratest.EndpointServiceFabric, ObjectID("o"), "Service Fabric"},
		{entratest.EndpointServiceFabric, ResourceID("/r"), "Service Fabric"},
		{entratest.EndpointAzureML, ObjectID("o"), "Azure ML"},
		{entratest.EndpointAzureML, ResourceID("/r"), "Azure ML"},
		{entratest.EndpointIMDS, ClientID(""), "empty"},
		{entratest.EndpointAppService, ResourceID(" "), "empty"},
	}
	for _, c := range cases {
		_, err := tryMICred(host, c.ep, func(mt *miTest) { mt.opts.ID = c.id })
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), credNameManagedIdentity) {
			t.Errorf("%s with %T: err = %v, want one naming %q", c.ep, c.id, err, c.want)
		}
	}
}

func TestManagedIdentityMalformedEnvironment(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	cases := []struct {
		env  map[string]string
		opts ManagedIdentityCredentialOptions
		want string
	}{
		{map[string]string{"IDENTITY_ENDPOINT": "http://example.com/msi/token", "IDENTITY_HEADER": "h"}, ManagedIdentityCredentialOptions{}, "plain http"},
		{map[string]string{"IDENTITY_ENDPOINT": "ftp://127.0.0.1/msi", "IDENTITY_HEADER": "h"}, ManagedIdentityCredentialOptions{}, "http or https URL"},
		{map[string]string{"IDENTITY_ENDPOINT": "http://u:p@127.0.0.1/msi", "IDENTITY_HEADER": "h"}, ManagedIdentityCredentialOptions{}, "user name"},
		{map[string]string{"MSI_ENDPOINT": "not a url"}, ManagedIdentityCredentialOptions{}, "MSI_ENDPOINT"},
		{map[string]string{"IDENTITY_ENDPOINT": "http://127.0.0.1:1/x", "IDENTITY_HEADER": "h", "IDENTITY_SERVER_THUMBPRINT": "AB"}, ManagedIdentityCredentialOptions{}, "must be an https URL"},
		{map[string]string{"IDENTITY_ENDPOINT": "https://127.0.0.1:1/x", "IDENTITY_HEADER": "h", "IDENTITY_SERVER_THUMBPRINT": "xyz"}, ManagedIdentityCredentialOptions{}, "SHA-1"},
		{map[string]string{"AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://203.0.113.9:2579"}, ManagedIdentityCredentialOptions{}, "AZURE_POD_IDENTITY_AUTHORITY_HOST"},
		{nil, ManagedIdentityCredentialOptions{IMDSEndpoint: "http://metadata.example/"}, "IMDS endpoint option"},
	}
	for _, c := range cases {
		_, err := tryMICred(host, entratest.EndpointIMDS, func(mt *miTest) { mt.env, mt.opts = c.env, c.opts })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("env %v: err = %v, want one mentioning %q", c.env, err, c.want)
		}
	}
}

func TestManagedIdentityIMDSEndpointOption(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	// The option wins over the variable, which points nowhere.
	for _, base := range []string{host.IMDSHost(), host.IMDSHost() + "/", host.IMDSHost() + "/metadata/identity/oauth2/token"} {
		cred := newMICred(t, host, entratest.EndpointIMDS, func(mt *miTest) {
			mt.env = map[string]string{"AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:1"}
			mt.opts.IMDSEndpoint = base
		})
		if _, err := cred.GetToken(context.Background(), vaultScope); err != nil {
			t.Fatalf("IMDSEndpoint %q: %v", base, err)
		}
	}
}

func TestManagedIdentityArcKeyFileChecks(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	dir := host.ArcKeyDir()
	outside := t.TempDir()
	write := func(path string, size int) string {
		if err := os.WriteFile(path, []byte(strings.Repeat("k", size)), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	secretOutside := write(filepath.Join(outside, "secret.key"), 32)
	link := filepath.Join(dir, "escape.key")
	if err := os.Symlink(secretOutside, link); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string
	}{
		{"outside the directory", secretOutside, "not in the agent's key directory"},
		{"wrong extension", write(filepath.Join(dir, "token.txt"), 32), "does not end in .key"},
		{"too large", write(filepath.Join(dir, "big.key"), 4097), "at most 4096"},
		{"symlink escaping", link, "outside the key directory"},
		{"relative", "tokens/x.key", "not an absolute path"},
		{"dot-dot", dir + "/../" + filepath.Base(outside) + "/secret.key", "not in the agent's key directory"},
		{"missing", filepath.Join(dir, "gone.key"), "key file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			host.SetArcKeyPath(c.path)
			defer host.SetArcKeyPath("")
			srv.ResetCounts()
			cred := newMICred(t, host, entratest.EndpointAzureArc, nil)
			_, err := cred.GetToken(context.Background(), vaultScope)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one saying %q", err, c.want)
			}
			if strings.Contains(err.Error(), "kkkk") {
				t.Fatalf("the error quotes the key file: %v", err)
			}
			if n := srv.Requests(entratest.EndpointAzureArc); n != 1 {
				t.Fatalf("%d requests: the refused key was sent", n)
			}
		})
	}
	// A file of exactly 4096 bytes is a valid size (the emulator rejects
	// the key itself, with a new challenge, which is then refused: the
	// credential never loops).
	t.Run("4096 bytes is allowed", func(t *testing.T) {
		host.SetArcKeyPath(write(filepath.Join(dir, "max.key"), 4096))
		defer host.SetArcKeyPath("")
		srv.ResetCounts()
		cred := newMICred(t, host, entratest.EndpointAzureArc, nil)
		_, err := cred.GetToken(context.Background(), vaultScope)
		if err == nil || srv.Requests(entratest.EndpointAzureArc) != 2 {
			t.Fatalf("err = %v after %d requests; want the key sent once and refused", err, srv.Requests(entratest.EndpointAzureArc))
		}
	})
}

func TestManagedIdentityExpiresOnFormats(t *testing.T) {
	clk := newFakeClock()
	clk.ns.Store(time.Date(2026, 11, 28, 19, 15, 0, 0, time.UTC).UnixNano())
	srv := newMIEmulator(t, &entratest.Options{Now: clk.Now})
	host := newMIHost(t, srv)
	formats := map[string]entratest.ExpiresOnFormat{
		"number": entratest.ExpiresOnNumber, "numeric string": entratest.ExpiresOnString,
		"App Service 2017 date": entratest.ExpiresOnDate, "24-hour date": entratest.ExpiresOnDate24h,
		"RFC 3339": entratest.ExpiresOnRFC3339,
	}
	for name, f := range formats {
		t.Run(name, func(t *testing.T) {
			host.SetExpiresOnFormat(f)
			defer host.SetExpiresOnFormat(entratest.ExpiresOnDefault)
			cred := newMICred(t, host, entratest.EndpointAppService, func(mt *miTest) { mt.seams.clock = clk })
			tok, err := cred.GetToken(context.Background(), vaultScope)
			if err != nil {
				t.Fatal(err)
			}
			if want := clk.Now().Add(time.Hour); !tok.ExpiresOn.Equal(want) {
				t.Fatalf("ExpiresOn = %v, want %v", tok.ExpiresOn, want)
			}
		})
	}
}

func TestManagedIdentityBadAnswers(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	const leaked = "eyJleaked-token-value"
	cases := []struct {
		name  string
		fault entratest.Fault
		want  string
	}{
		{"HTML error page", entratest.Fault{Status: 502, ContentType: "text/html",
			Body: []byte("<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")}, "502 Bad Gateway"},
		{"HTML success", entratest.Fault{ContentType: "text/html", Body: []byte("<html><body>" + leaked + "</body></html>")}, "HTML"},
		{"not JSON", entratest.Fault{ContentType: "text/plain", Body: []byte(leaked)}, "not a JSON object"},
		{"truncated JSON", entratest.Fault{Body: []byte(`{"access_token":"` + leaked + `","expires_in":"36`)}, "not valid JSON"},
		{"no token", entratest.Fault{Body: []byte(`{"expires_in":"3600","token_type":"Bearer"}`)}, `no "access_token"`},
		{"no lifetime", entratest.Fault{Body: []byte(`{"access_token":"` + leaked + `"}`)}, `neither "expires_in" nor "expires_on"`},
		{"garbled expires_on", entratest.Fault{Body: []byte(`{"access_token":"` + leaked + `","expires_on":"soon"}`)}, `"expires_on"`},
		{"expired", entratest.Fault{Body: []byte(`{"access_token":"` + leaked + `","expires_on":1000000000}`)}, "check the clock"},
		{"negative expires_in", entratest.Fault{Body: []byte(`{"access_token":"` + leaked + `","expires_in":-5}`)}, `"expires_in"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv.SetFault(entratest.EndpointAppService, c.fault)
			defer srv.ClearFaults()
			cred := newMICred(t, host, entratest.EndpointAppService, nil)
			_, err := cred.GetToken(context.Background(), vaultScope)
			var afe *AuthenticationFailedError
			if !errors.As(err, &afe) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want an AuthenticationFailedError saying %q", err, c.want)
			}
			if strings.Contains(err.Error(), leaked) || strings.Contains(afe.Description, leaked) {
				t.Fatalf("the error leaks the token: %v", err)
			}
			if afe.RawResponse != nil {
				body, _ := readAllString(afe.RawResponse)
				if strings.Contains(body, leaked) {
					t.Fatalf("RawResponse leaks the token: %s", body)
				}
			}
		})
	}
}

func readAllString(r *http.Response) (string, error) {
	b, err := io.ReadAll(r.Body)
	return string(b), err
}

func TestManagedIdentitySecretsStayOutOfErrors(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	secret := host.Env(entratest.EndpointAppService)["IDENTITY_HEADER"]
	srv.SetFault(entratest.EndpointAppService, entratest.Fault{Status: 400,
		Body: []byte(`{"statusCode":400,"message":"header ` + secret + ` is wrong"}`)})
	cred := newMICred(t, host, entratest.EndpointAppService, nil)
	_, err := cred.GetToken(context.Background(), vaultScope)
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "header [REDACTED] is wrong") {
		t.Fatalf("err = %v", err)
	}
	var afe *AuthenticationFailedError
	if !errors.As(err, &afe) || strings.Contains(afe.Description, secret) {
		t.Fatalf("Description = %q", afe.Description)
	}
	body, _ := readAllString(afe.RawResponse)
	if strings.Contains(body, secret) {
		t.Fatalf("RawResponse leaks the identity header: %s", body)
	}
}

func TestManagedIdentityServiceFabricPinsTheCertificate(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	t.Run("wrong thumbprint", func(t *testing.T) {
		cred := newMICred(t, host, entratest.EndpointServiceFabric, func(mt *miTest) {
			env := host.Env(entratest.EndpointServiceFabric)
			env["IDENTITY_SERVER_THUMBPRINT"] = strings.Repeat("AB", 20)
			mt.env = env
		})
		_, err := cred.GetToken(context.Background(), vaultScope)
		if err == nil || !strings.Contains(err.Error(), "does not match IDENTITY_SERVER_THUMBPRINT") {
			t.Fatalf("err = %v", err)
		}
		if n := srv.Requests(entratest.EndpointServiceFabric); n != 0 {
			t.Fatalf("%d requests reached an unpinned endpoint", n)
		}
	})
	t.Run("thumbprint with colons and lower case", func(t *testing.T) {
		cred := newMICred(t, host, entratest.EndpointServiceFabric, func(mt *miTest) {
			env := host.Env(entratest.EndpointServiceFabric)
			tp := strings.ToLower(env["IDENTITY_SERVER_THUMBPRINT"])
			var parts []string
			for i := 0; i < len(tp); i += 2 {
				parts = append(parts, tp[i:i+2])
			}
			env["IDENTITY_SERVER_THUMBPRINT"] = strings.Join(parts, ":")
			mt.env = env
		})
		if _, err := cred.GetToken(context.Background(), vaultScope); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("caller's http.Client is copied and pinned", func(t *testing.T) {
		own := &http.Client{Transport: &http.Transport{}}
		cred := newMICred(t, host, entratest.EndpointServiceFabric, func(mt *miTest) { mt.opts.Transport = own })
		if _, err := cred.GetToken(context.Background(), vaultScope); err != nil {
			t.Fatal(err)
		}
		if own.CheckRedirect != nil {
			t.Fatal("the caller's client was modified")
		}
		if cfg := own.Transport.(*http.Transport).TLSClientConfig; cfg != nil && (cfg.InsecureSkipVerify || cfg.VerifyConnection != nil) {
			t.Fatal("the pin was installed in the caller's transport")
		}
	})
	t.Run("other transports are refused", func(t *testing.T) {
		_, err := tryMICred(host, entratest.EndpointServiceFabric, func(mt *miTest) { mt.opts.Transport = doerFunc(srv.Client().Do) })
		if err == nil || !strings.Contains(err.Error(), "pin") {
			t.Fatalf("err = %v", err)
		}
	})
}

// doerFunc is a policy.Transporter that is not an *http.Client.
type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func TestManagedIdentityConcurrentColdCallersMakeOneRequest(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	cred := newMICred(t, host, entratest.EndpointIMDS, nil)
	// Slow the answer so that every caller arrives while it is in flight.
	srv.SetFault(entratest.EndpointIMDS, entratest.Fault{Latency: 50 * time.Millisecond, Times: 1})
	const callers = 100
	start := make(chan struct{})
	tokens := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			tok, err := cred.GetToken(context.Background(), vaultScope)
			tokens[i], errs[i] = tok.Token, err
		}()
	}
	close(start)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || tokens[i] != tokens[0] {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
	}
	if n := srv.Requests(entratest.EndpointIMDS); n != 1 {
		t.Fatalf("%d callers made %d requests, want 1", callers, n)
	}
}

func TestManagedIdentityInstancesDoNotShareTokens(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	a := newMICred(t, host, entratest.EndpointIMDS, nil)
	b := newMICred(t, host, entratest.EndpointIMDS, nil)
	ta, err := a.GetToken(context.Background(), vaultScope)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.GetToken(context.Background(), vaultScope)
	if err != nil {
		t.Fatal(err)
	}
	if ta.Token == tb.Token || srv.Requests(entratest.EndpointIMDS) != 2 {
		t.Fatalf("a new instance was served another instance's token (%d requests)", srv.Requests(entratest.EndpointIMDS))
	}
}

func TestManagedIdentityRefreshesLongLivedTokenAtHalfLife(t *testing.T) {
	clk := newFakeClock()
	srv := newMIEmulator(t, &entratest.Options{Now: clk.Now, Token: entratest.TokenPolicy{ExpiresIn: 24 * time.Hour}})
	host := newMIHost(t, srv)
	cred := newMICred(t, host, entratest.EndpointIMDS, func(mt *miTest) { mt.seams.clock = clk })
	ctx := context.Background()
	first, err := cred.GetToken(ctx, vaultScope)
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.Now().Add(12 * time.Hour); first.RefreshOn.Before(want) || first.RefreshOn.After(want.Add(5*time.Minute)) {
		t.Fatalf("RefreshOn = %v, want half-life %v (plus jitter)", first.RefreshOn, want)
	}
	clk.Advance(11 * time.Hour)
	if tok, err := cred.GetToken(ctx, vaultScope); err != nil || tok.Token != first.Token || srv.Requests(entratest.EndpointIMDS) != 1 {
		t.Fatalf("before half-life: err %v, %d requests", err, srv.Requests(entratest.EndpointIMDS))
	}
	// Past half-life and its jitter: the caller gets the cached token at
	// once and one refresh runs behind it.
	clk.Advance(time.Hour + 5*time.Minute + time.Second)
	tok, err := cred.GetToken(ctx, vaultScope)
	if err != nil || tok.Token != first.Token {
		t.Fatalf("past half-life the cached token was not served: %v", err)
	}
	eventually(t, "the background refresh", func() bool { return srv.Requests(entratest.EndpointIMDS) == 2 })
	eventually(t, "the refreshed token", func() bool {
		tok, err := cred.GetToken(ctx, vaultScope)
		return err == nil && tok.Token != first.Token
	})
	if s := cred.CacheStats(); s.BackgroundRefreshes != 1 || s.TokenRequests != 2 || s.Misses != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestManagedIdentityRefreshIn(t *testing.T) {
	clk := newFakeClock()
	srv := newMIEmulator(t, &entratest.Options{Now: clk.Now, Token: entratest.TokenPolicy{ExpiresIn: 24 * time.Hour, RefreshIn: time.Hour}})
	host := newMIHost(t, srv)
	cred := newMICred(t, host, entratest.EndpointIMDS, func(mt *miTest) { mt.seams.clock = clk })
	tok, err := cred.GetToken(context.Background(), vaultScope)
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.Now().Add(time.Hour); tok.RefreshOn.Before(want) || tok.RefreshOn.After(want.Add(6*time.Minute)) {
		t.Fatalf("RefreshOn = %v, want refresh_in %v", tok.RefreshOn, want)
	}
}

func TestManagedIdentityOutageServesCachedToken(t *testing.T) {
	clk := newFakeClock()
	srv := newMIEmulator(t, &entratest.Options{Now: clk.Now, Token: entratest.TokenPolicy{ExpiresIn: 24 * time.Hour}})
	host := newMIHost(t, srv)
	cred := newMICred(t, host, entratest.EndpointAppService, func(mt *miTest) { mt.seams.clock = clk })
	first, err := cred.GetToken(context.Background(), vaultScope)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetOutage(true)
	clk.Advance(13 * time.Hour)
	for range 3 {
		tok, err := cred.GetToken(context.Background(), vaultScope)
		if err != nil || tok.Token != first.Token {
			t.Fatalf("during the outage: %v", err)
		}
	}
	eventually(t, "the failed refresh", func() bool { return cred.CacheStats().RefreshFailures == 1 })
}

func TestManagedIdentityIMDSRetries(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	fresh := func() { srv.ClearFaults(); srv.ResetCounts() }
	for _, status := range []int{404, 410, 429, 500, 503} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			fresh()
			srv.SetFault(entratest.EndpointIMDS, entratest.Fault{Status: status, Times: 3})
			cred := newMICred(t, host, entratest.EndpointIMDS, nil)
			if _, err := cred.GetToken(context.Background(), vaultScope); err != nil {
				t.Fatal(err)
			}
			if n := srv.Requests(entratest.EndpointIMDS); n != 4 {
				t.Fatalf("%d requests, want 3 failures and a success", n)
			}
		})
	}
	t.Run("exhausted after 6 retries", func(t *testing.T) {
		fresh()
		srv.SetFault(entratest.EndpointIMDS, entratest.Fault{Status: 503})
		cred := newMICred(t, host, entratest.EndpointIMDS, func(mt *miTest) { mt.opts.ID = ClientID("c") })
		_, err := cred.GetToken(context.Background(), vaultScope)
		var afe *AuthenticationFailedError
		if !errors.As(err, &afe) || srv.Requests(entratest.EndpointIMDS) != 7 {
			t.Fatalf("err = %v after %d requests, want failure after 7", err, srv.Requests(entratest.EndpointIMDS))
		}
	})
	t.Run("the caller's retry options win", func(t *testing.T) {
		fresh()
		srv.SetFault(entratest.EndpointIMDS, entratest.Fault{Status: 503})
		cred := newMICred(t, host, entratest.EndpointIMDS, func(mt *miTest) {
			mt.opts.ID = ClientID("c")
			mt.opts.Retry = policy.RetryOptions{MaxRetries: -1}
		})
		if _, err := cred.GetToken(context.Background(), vaultScope); err == nil || srv.Requests(entratest.EndpointIMDS) != 1 {
			t.Fatalf("err = %v after %d requests, want no retry", err, srv.Requests(entratest.EndpointIMDS))
		}
	})
	t.Run("no retry on 400", func(t *testing.T) {
		fresh()
		srv.SetFault(entratest.EndpointIMDS, entratest.Fault{Status: 400})
		cred := newMICred(t, host, entratest.EndpointIMDS, func(mt *miTest) { mt.opts.ID = ClientID("c") })
		if _, err := cred.GetToken(context.Background(), vaultScope); err == nil || srv.Requests(entratest.EndpointIMDS) != 1 {
			t.Fatalf("err = %v after %d requests, want failure after 1", err, srv.Requests(entratest.EndpointIMDS))
		}
	})
	t.Run("Retry-After is waited for", func(t *testing.T) {
		fresh()
		srv.SetFault(entratest.EndpointIMDS, entratest.Fault{Status: 429, RetryAfter: time.Second, Times: 1})
		cred := newMICred(t, host, entratest.EndpointIMDS, nil)
		start := time.Now()
		if _, err := cred.GetToken(context.Background(), vaultScope); err != nil {
			t.Fatal(err)
		}
		// A lower bound only: the retry cannot come sooner than asked.
		if waited := time.Since(start); waited < time.Second || srv.Requests(entratest.EndpointIMDS) != 2 {
			t.Fatalf("retried after %v with %d requests; Retry-After was 1 s", waited, srv.Requests(entratest.EndpointIMDS))
		}
	})
	t.Run("a long Retry-After holds further requests", func(t *testing.T) {
		fresh()
		// Longer than the 25 s retry cap: the pipeline stops retrying and
		// the cache waits instead of asking again.
		srv.SetFault(entratest.EndpointIMDS, entratest.Fault{Status: 429, RetryAfter: time.Minute})
		cred := newMICred(t, host, entratest.EndpointIMDS, func(mt *miTest) { mt.opts.ID = ClientID("c") })
		_, err := cred.GetToken(context.Background(), vaultScope)
		var afe *AuthenticationFailedError
		if !errors.As(err, &afe) || afe.RetryAfterDuration() != time.Minute {
			t.Fatalf("err = %v", err)
		}
		_, err = cred.GetToken(context.Background(), vaultScope)
		var te *tokencache.ThrottledError
		if !errors.As(err, &te) || srv.Requests(entratest.EndpointIMDS) != 1 {
			t.Fatalf("err = %v after %d requests; want the call held by Retry-After", err, srv.Requests(entratest.EndpointIMDS))
		}
	})
}

// blackhole accepts connections and never answers, like a firewalled
// address.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

func TestManagedIdentityProbe(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	chained := func(mt *miTest) { mt.seams.chained, mt.seams.probeTimeout = true, 100*time.Millisecond }

	t.Run("no IMDS: silent address", func(t *testing.T) {
		cred := newMICred(t, host, entratest.EndpointIMDS, func(mt *miTest) {
			chained(mt)
			mt.env = map[string]string{"AZURE_POD_IDENTITY_AUTHORITY_HOST": blackhole(t)}
		})
		_, err := cred.GetToken(context.Background(), vaultScope)
		if !isUnavailable(err) || !strings.Contains(err.Error(), "did not answer within 100ms") {
			t.Fatalf("err = %v, want credential unavailable", err)
		}
	})
	t.Run("no IMDS: refused", func(t *testing.T) {
		cred := newMICred(t, host, entratest.EndpointIMDS, func(mt *miTest) {
			chained(mt)
			mt.env = map[string]string{"AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:1"}
		})
		if _, err := cred.GetToken(context.Background(), vaultScope); !isUnavailable(err) {
			t.Fatalf("err = %v, want credential unavailable", err)
		}
	})
	t.Run("no IMDS: a sandbox's refusal page at its address", func(t *testing.T) {
		refusal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte("resolve_deny: denied destination"))
		}))
		t.Cleanup(refusal.Close)
		cred := newMICred(t, host, entratest.EndpointIMDS, func(mt *miTest) {
			chained(mt)
			mt.env = map[string]string{"AZURE_POD_IDENTITY_AUTHORITY_HOST": refusal.URL}
		})
		_, err := cred.GetToken(context.Background(), vaultScope)
		if !isUnavailable(err) || !strings.Contains(err.Error(), "something other than IMDS") {
			t.Fatalf("err = %v, want credential unavailable", err)
		}
	})
	t.Run("IMDS there: probed once", func(t *testing.T) {
		srv.ResetCounts()
		cred := newMICred(t, host, entratest.EndpointIMDS, chained)
		if _, err := cred.GetToken(context.Background(), vaultScope); err != nil {
			t.Fatal(err)
		}
		if n := srv.Requests(entratest.EndpointIMDS); n != 2 {
			t.Fatalf("%d requests, want the probe and the token request", n)
		}
		if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}}); err != nil {
			t.Fatal(err)
		}
		if n := srv.Requests(entratest.EndpointIMDS); n != 3 {
			t.Fatalf("%d requests: probed again after IMDS answered", n)
		}
	})
	t.Run("used directly: never probed", func(t *testing.T) {
		srv.ResetCounts()
		cred := newMICred(t, host, entratest.EndpointIMDS, nil)
		if _, err := cred.GetToken(context.Background(), vaultScope); err != nil {
			t.Fatal(err)
		}
		if n := srv.Requests(entratest.EndpointIMDS); n != 1 {
			t.Fatalf("%d requests, want only the token request", n)
		}
	})
	t.Run("other sources: never probed", func(t *testing.T) {
		srv.ResetCounts()
		cred := newMICred(t, host, entratest.EndpointAppService, chained)
		if _, err := cred.GetToken(context.Background(), vaultScope); err != nil {
			t.Fatal(err)
		}
		if n := srv.Requests(entratest.EndpointAppService); n != 1 {
			t.Fatalf("%d requests, want 1", n)
		}
	})
	t.Run("something else at IMDS's address", func(t *testing.T) {
		srv.SetFault(entratest.EndpointIMDS, entratest.Fault{ContentType: "text/html", Body: []byte("<html>router login</html>")})
		defer srv.ClearFaults()
		cred := newMICred(t, host, entratest.EndpointIMDS, chained)
		if _, err := cred.GetToken(context.Background(), vaultScope); !isUnavailable(err) {
			t.Fatalf("err = %v, want credential unavailable", err)
		}
	})
	t.Run("Docker Desktop's relay", func(t *testing.T) {
		srv.SetFault(entratest.EndpointIMDS, entratest.Fault{Status: 403, ContentType: "text/plain",
			Body: []byte("connecting to 169.254.169.254:80: connecting to 169.254.169.254:80: dial tcp 169.254.169.254:80: connectex: A socket operation was attempted to an unreachable network.")})
		defer srv.ClearFaults()
		cred := newMICred(t, host, entratest.EndpointIMDS, nil)
		if _, err := cred.GetToken(context.Background(), vaultScope); !isUnavailable(err) {
			t.Fatalf("err = %v, want credential unavailable", err)
		}
	})
	t.Run("marked by a chain: no probe, but not-IMDS is unavailable", func(t *testing.T) {
		srv.SetFault(entratest.EndpointIMDS, entratest.Fault{ContentType: "text/html", Body: []byte("<html>router login</html>")})
		defer srv.ClearFaults()
		srv.ResetCounts()
		cred := newMICred(t, host, entratest.EndpointIMDS, nil)
		cred.inChain()
		if _, err := cred.GetToken(context.Background(), vaultScope); !isUnavailable(err) || srv.Requests(entratest.EndpointIMDS) != 1 {
			t.Fatalf("err = %v after %d requests", err, srv.Requests(entratest.EndpointIMDS))
		}
		direct := newMICred(t, host, entratest.EndpointIMDS, nil)
		var afe *AuthenticationFailedError
		if _, err := direct.GetToken(context.Background(), vaultScope); !errors.As(err, &afe) || isUnavailable(err) {
			t.Fatalf("used directly: err = %v, want an AuthenticationFailedError", err)
		}
	})
	t.Run("no system-assigned identity", func(t *testing.T) {
		sys, _ := host.SystemAssigned()
		host.SetSystemAssigned(nil)
		defer host.SetSystemAssigned(&sys)
		cred := newMICred(t, host, entratest.EndpointIMDS, chained)
		_, err := cred.GetToken(context.Background(), vaultScope)
		if !isUnavailable(err) || !strings.Contains(err.Error(), "no system-assigned identity") {
			t.Fatalf("err = %v, want credential unavailable", err)
		}
	})
	t.Run("the public constructor for chains", func(t *testing.T) {
		cred, err := newManagedIdentityCredentialForChain(&ManagedIdentityCredentialOptions{IMDSEndpoint: host.IMDSHost()}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !cred.chained.Load() || cred.probeTimeout != defaultIMDSProbeTimeout {
			t.Fatalf("chained %v, probe timeout %v", cred.chained.Load(), cred.probeTimeout)
		}
	})
}

func TestManagedIdentityClaimsBypassTheCache(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	cred := newMICred(t, host, entratest.EndpointIMDS, nil)
	first, err := cred.GetToken(context.Background(), vaultScope)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: vaultScope.Scopes, Claims: `{"access_token":{"nbf":{"essential":true,"value":"1"}}}`})
	if err != nil || fresh.Token == first.Token || srv.Requests(entratest.EndpointIMDS) != 2 {
		t.Fatalf("a claims request was served from the cache: %v", err)
	}
}

func TestManagedIdentityScopes(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	cred := newMICred(t, host, entratest.EndpointIMDS, nil)
	for _, scopes := range [][]string{nil, {"a", "b"}, {"a b"}, {""}} {
		if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: scopes}); err == nil || !strings.Contains(err.Error(), "exactly one scope") {
			t.Errorf("scopes %q: err = %v", scopes, err)
		}
	}
	if n := srv.Requests(entratest.EndpointIMDS); n != 0 {
		t.Fatalf("%d requests for invalid scopes", n)
	}
}

func TestManagedIdentityContextCancelled(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	srv.SetFault(entratest.EndpointIMDS, entratest.Fault{Latency: time.Minute})
	cred := newMICred(t, host, entratest.EndpointIMDS, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := cred.GetToken(ctx, vaultScope); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

var _ azcore.TokenCredential = (*ManagedIdentityCredential)(nil)
