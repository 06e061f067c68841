package entratest

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const secondCertAppID = "ce270000-0000-4000-8000-0000000ce271"

// certAssertion signs a client assertion for certAppID with keys[0] for the
// v2.0 endpoint of srv, with claims changed by mod.
func certAssertion(t testing.TB, srv *Server, mod func(map[string]any)) string {
	t.Helper()
	keys := testKeys(t)
	c := goodClaims(srv, srv.URL()+tokenPath(DefaultTenantID))
	if mod != nil {
		mod(c)
	}
	return signJWT(t, keys[0].key, map[string]any{"alg": "PS256", "typ": "JWT", "x5t#S256": s256(keys[0].cert)}, c)
}

// A replayed certificate-signed assertion is refused with invalid_client
// in Entra's shape; an assertion with a new jti is accepted; the register
// is per client; an assertion refused for another reason does not use up
// its jti; federated tokens may be presented again.
func TestOneTimeClientAssertions(t *testing.T) {
	srv, keys := certServer(t)
	if err := srv.AddApp(App{TenantID: DefaultTenantID, ClientID: secondCertAppID, Certificates: []*x509.Certificate{keys[0].cert}}); err != nil {
		t.Fatal(err)
	}
	a := certAssertion(t, srv, nil)
	getTokenWith(t, srv, tokenPath(DefaultTenantID), assertionForm(a))

	r := postForm(t, srv, tokenPath(DefaultTenantID), assertionForm(a))
	wantEntraError(t, r, http.StatusUnauthorized, "invalid_client", 700027)
	if d := r.str("error_description"); !strings.Contains(d, "already used") || strings.Contains(d, a) {
		t.Errorf("error_description = %q: want the reason, never the assertion", d)
	}
	// Another scope, or the v1 endpoint, is no way around it.
	f := assertionForm(a)
	f.Set("scope", "api://other/.default")
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), f), http.StatusUnauthorized, "invalid_client", 700027)
	if log := srv.TokenRequests(); len(log) != 3 || log[1].ErrorCode != 700027 || log[2].Status != http.StatusUnauthorized {
		t.Errorf("token log = %+v", log)
	}

	// A fresh jti is a fresh assertion.
	getTokenWith(t, srv, tokenPath(DefaultTenantID), assertionForm(certAssertion(t, srv, nil)))

	// The same jti from another client is that client's first use.
	const jti = "shared-jti"
	getTokenWith(t, srv, tokenPath(DefaultTenantID), assertionForm(certAssertion(t, srv, func(c map[string]any) { c["jti"] = jti })))
	other := certAssertion(t, srv, func(c map[string]any) {
		c["jti"], c["iss"], c["sub"] = jti, secondCertAppID, secondCertAppID
	})
	getTokenWith(t, srv, tokenPath(DefaultTenantID), with(assertionForm(other), "client_id", secondCertAppID))

	// Refused for its audience, an assertion leaves its jti unused.
	const unused = "unused-jti"
	bad := certAssertion(t, srv, func(c map[string]any) { c["jti"], c["aud"] = unused, "https://elsewhere.example/token" })
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), assertionForm(bad)), http.StatusUnauthorized, "invalid_client", 700023)
	getTokenWith(t, srv, tokenPath(DefaultTenantID), assertionForm(certAssertion(t, srv, func(c map[string]any) { c["jti"] = unused })))

	// Without a jti there is nothing to hold the client to.
	noJTI := certAssertion(t, srv, func(c map[string]any) { delete(c, "jti") })
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), assertionForm(noJTI)), http.StatusUnauthorized, "invalid_client", 700027)

	// A workload presents its platform's token until the platform rotates it.
	fed, err := srv.IssueFederatedToken(FederatedToken{Issuer: "https://issuer.example", Subject: "ci", Audience: "api://custom"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		getTokenWith(t, srv, tokenPath(DefaultTenantID), assertionForm(fed))
	}
}

// Entra does not enforce one-time assertions, and neither does the
// emulator unless asked: the zero Options accept a replay.
func TestOneTimeClientAssertionsOffByDefault(t *testing.T) {
	keys := testKeys(t)
	srv, err := NewServer(&Options{SigningKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.AddApp(App{TenantID: DefaultTenantID, ClientID: certAppID, Certificates: []*x509.Certificate{keys[0].cert}}); err != nil {
		t.Fatal(err)
	}
	a := certAssertion(t, srv, nil)
	for range 2 {
		getTokenWith(t, srv, tokenPath(DefaultTenantID), assertionForm(a))
	}
}

// One assertion sent by many clients at once authenticates exactly one
// request, whichever wins.
func TestOneTimeClientAssertionsConcurrentReplay(t *testing.T) {
	srv, _ := certServer(t)
	a := certAssertion(t, srv, nil)
	body := assertionForm(a).Encode()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+tokenPath(DefaultTenantID), strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusUnauthorized:
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || refused.Load() != 19 {
		t.Fatalf("%d accepted, %d refused; want 1 and 19", ok.Load(), refused.Load())
	}
}

// After its exp an assertion is refused for its time range, not as a
// replay, and the register forgets it.
func TestOneTimeClientAssertionsExpire(t *testing.T) {
	keys := testKeys(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	srv := newTestServer(t, &Options{SigningKeyBits: 1024, Now: clock})
	if err := srv.AddApp(App{TenantID: DefaultTenantID, ClientID: certAppID, Certificates: []*x509.Certificate{keys[0].cert}}); err != nil {
		t.Fatal(err)
	}
	a := certAssertion(t, srv, nil)
	getTokenWith(t, srv, tokenPath(DefaultTenantID), assertionForm(a))
	now.Add(int64(11 * time.Minute))
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), assertionForm(a)), http.StatusUnauthorized, "invalid_client", 700024)
	// The next accepted assertion finds the expired one gone.
	getTokenWith(t, srv, tokenPath(DefaultTenantID), assertionForm(certAssertion(t, srv, func(c map[string]any) {
		c["nbf"], c["exp"] = clock().Unix(), clock().Add(10*time.Minute).Unix()
	})))
	srv.usedAssertions.mu.Lock()
	n := len(srv.usedAssertions.seen)
	srv.usedAssertions.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d assertions remembered, want 1: the expired one must be forgotten", n)
	}
}

// The register is bounded: past its limit it forgets the assertions
// closest to expiry first.
func TestUsedAssertionsBound(t *testing.T) {
	u := newUsedAssertions()
	u.limit = 10
	now := time.Unix(1_000_000, 0)
	for i := range 25 {
		// Later jtis expire later, except the last, which expires first.
		exp := now.Unix() + 600 + int64(i)
		if !u.use("client", fmt.Sprint("jti-", i), exp, now) {
			t.Fatalf("jti-%d refused on first use", i)
		}
	}
	if len(u.seen) != 10 || len(u.queue) != 10 {
		t.Fatalf("%d remembered (%d queued), want the limit 10", len(u.seen), len(u.queue))
	}
	if u.use("client", "jti-24", now.Unix()+900, now) {
		t.Fatal("the newest jti was forgotten")
	}
	if !u.use("client", "jti-0", now.Unix()+600, now) {
		t.Fatal("the jti closest to expiry was kept past the limit")
	}
}

// Entra refuses a form that names a parameter twice, whichever it is and
// even when both values are equal, with AADSTS9000411; the error names the
// parameter and never quotes a value.
func TestDuplicatedParameters(t *testing.T) {
	srv := newTestServer(t, nil)
	for _, name := range []string{"grant_type", "client_id", "client_secret", "scope", "claims", "client_assertion"} {
		for _, values := range [][]string{{"a", "b"}, {DefaultClientSecret, DefaultClientSecret}} {
			f := ccForm()
			f[name] = values
			for _, path := range []string{tokenPath(DefaultTenantID), "/" + DefaultTenantID + "/oauth2/token"} {
				r := postForm(t, srv, path, f)
				wantEntraError(t, r, http.StatusBadRequest, "invalid_request", 9000411)
				want := fmt.Sprintf("The request is not properly formatted. The parameter '%s' is duplicated.", name)
				if d := r.str("error_description"); !strings.Contains(d, want) || strings.Contains(d, DefaultClientSecret) {
					t.Errorf("%s %v: error_description = %q, want %q and no secret", name, values, d, want)
				}
			}
		}
	}
	// Checked before anything else the body says: a duplicated tenant-free
	// parameter on an unknown tenant is still a formatting error.
	f := ccForm()
	f["scope"] = []string{"api://demo/.default", "api://demo/.default"}
	wantEntraError(t, postForm(t, srv, tokenPath("0badc0de-0000-4000-8000-000000000000"), f), http.StatusBadRequest, "invalid_request", 9000411)
	// The device authorization endpoint, a form endpoint too, does the same.
	dc := url.Values{"client_id": {AzureCLIClientID}, "scope": {"openid", "openid"}}
	wantEntraError(t, postForm(t, srv, "/organizations/oauth2/v2.0/devicecode", dc), http.StatusBadRequest, "invalid_request", 9000411)
	// One value each is fine, as is a parameter left empty.
	if r := postForm(t, srv, tokenPath(DefaultTenantID), with(ccForm(), "claims", "")); r.status != http.StatusOK {
		t.Fatalf("a well-formed request: %d %s", r.status, r.raw)
	}
}

// A body over the limit is answered 413 with an error that names the
// limit; one just under it is read as usual.
func TestTokenBodyTooLarge(t *testing.T) {
	srv := newTestServer(t, nil)
	base := ccForm().Encode() + "&padding="
	under := base + strings.Repeat("x", maxFormBytes-len(base))
	if r := postBody(t, srv, under); r.status != http.StatusOK {
		t.Fatalf("a body of exactly %d bytes: %d %s", len(under), r.status, r.raw)
	}
	r := postBody(t, srv, under+"x")
	wantEntraError(t, r, http.StatusRequestEntityTooLarge, "invalid_request", 90100)
	if d := r.str("error_description"); !strings.Contains(d, fmt.Sprintf("at most %d bytes", maxFormBytes)) {
		t.Errorf("error_description = %q: it must say what the limit is", d)
	}
	log := srv.TokenRequests()
	if last := log[len(log)-1]; last.Status != http.StatusRequestEntityTooLarge || last.ErrorCode != 90100 {
		t.Errorf("log entry = %+v", last)
	}
}

func postBody(t *testing.T, srv *Server, body string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+tokenPath(DefaultTenantID), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, srv, req)
}

// A refresh hint at or after expiry is refused wherever a policy is set:
// NewServer, SetTokenPolicy (which keeps the policy it had) and
// configuration files.
func TestTokenPolicyRefreshInBeforeExpiry(t *testing.T) {
	for _, p := range []TokenPolicy{
		{ExpiresIn: time.Hour, RefreshIn: time.Hour},
		{ExpiresIn: time.Minute, RefreshIn: time.Hour},
		{RefreshIn: 2 * time.Hour}, // against the one-hour default
	} {
		if err := p.Validate(); !errors.Is(err, ErrInvalidTokenPolicy) || !strings.Contains(err.Error(), "refreshIn") {
			t.Errorf("%+v: Validate = %v", p, err)
		}
		if _, err := NewServer(&Options{Token: p}); !errors.Is(err, ErrInvalidTokenPolicy) {
			t.Errorf("%+v: NewServer = %v", p, err)
		}
	}
	for _, p := range []TokenPolicy{{}, {RefreshIn: 59 * time.Minute}, {ExpiresIn: 2 * time.Hour, RefreshIn: time.Hour}} {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}

	srv := newTestServer(t, &Options{Token: TokenPolicy{ExpiresIn: 2 * time.Hour, RefreshIn: time.Hour}})
	if err := srv.SetTokenPolicy(TokenPolicy{ExpiresIn: time.Minute, RefreshIn: time.Minute}); !errors.Is(err, ErrInvalidTokenPolicy) {
		t.Fatalf("SetTokenPolicy = %v", err)
	}
	r := postForm(t, srv, tokenPath(DefaultTenantID), ccForm())
	if r.json["expires_in"] != float64(7200) || r.json["refresh_in"] != float64(3600) {
		t.Fatalf("after a refused policy: %s", r.raw)
	}

	_, err := ParseConfig([]byte(`{"token": {"expiresIn": "30m", "refreshIn": "30m"}}`))
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Where != "token.refreshIn" || !errors.Is(err, ErrInvalidTokenPolicy) {
		t.Fatalf("ParseConfig = %v", err)
	}
}

// The configuration file turns one-time assertions on; without it they
// are off, as in Entra.
func TestConfigOneTimeClientAssertions(t *testing.T) {
	for cfg, want := range map[string]bool{`{"oneTimeClientAssertions": true}`: true, `{}`: false, `{"oneTimeClientAssertions": false}`: false} {
		c, err := ParseConfig([]byte(cfg))
		if err != nil {
			t.Fatalf("%s: %v", cfg, err)
		}
		if c.Options.OneTimeClientAssertions != want {
			t.Errorf("%s: OneTimeClientAssertions = %v", cfg, c.Options.OneTimeClientAssertions)
		}
	}
	if _, err := ParseConfig([]byte(`{"oneTimeClientAssertions": "yes"}`)); err == nil {
		t.Error("a non-boolean was accepted")
	}
}

// A configuration file can register an app's certificates and turn on
// one-time assertions; the server it configures refuses a replay. Bad
// certificate entries name where they are.
func TestConfigCertificatesAndOneTimeAssertions(t *testing.T) {
	keys := testKeys(t)
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: keys[0].cert.Raw}))
	cfg, _ := json.Marshal(map[string]any{
		"apps":                    []map[string]any{{"tenantId": DefaultTenantID, "clientId": certAppID, "certificates": []string{certPEM}}},
		"oneTimeClientAssertions": true,
	})
	c, err := ParseConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Options.Apps) != 1 || len(c.Options.Apps[0].Certificates) != 1 || !c.Options.Apps[0].Certificates[0].Equal(keys[0].cert) {
		t.Fatalf("apps = %+v", c.Options.Apps)
	}
	o := c.Options
	o.SigningKeyBits = 1024
	srv, err := NewServer(&o) // not newTestServer: the file alone turns the check on
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	a := certAssertion(t, srv, nil)
	getTokenWith(t, srv, tokenPath(DefaultTenantID), assertionForm(a))
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), assertionForm(a)), http.StatusUnauthorized, "invalid_client", 700027)

	keyDER, _ := x509.MarshalPKCS8PrivateKey(keys[0].key)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	for entry, want := range map[string]string{
		"not pem":         "not a PEM certificate",
		keyPEM:            "private key",
		certPEM + certPEM: "more than one PEM block",
		strings.Replace(certPEM, "CERTIFICATE", "PUBLIC KEY", 2):                           "not a CERTIFICATE",
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})): "not a valid X.509 certificate",
	} {
		cfg, _ := json.Marshal(map[string]any{"apps": []map[string]any{{"tenantId": DefaultTenantID, "clientId": certAppID, "certificates": []string{certPEM, entry}}}})
		_, err := ParseConfig(cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Where != "apps[0].certificates[1]" || !strings.Contains(err.Error(), want) {
			t.Errorf("%.30q: %v, want apps[0].certificates[1] and %q", entry, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "MII") {
			t.Errorf("the error quotes the file: %v", err)
		}
	}
}
