package azid

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // checking an ADFS x5t
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
)

// Another tenant the test apps are provisioned in.
const secondTenantID = "0a0b0c0d-0000-4000-8000-0000000000aa"

// formRecorder is a transport that keeps the form of every token request,
// for tests that check what a credential sent (assertions included).
type formRecorder struct {
	next  policy.Transporter
	mu    sync.Mutex
	forms []url.Values
}

func (r *formRecorder) Do(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		if f, err := url.ParseQuery(string(b)); err == nil {
			r.mu.Lock()
			r.forms = append(r.forms, f)
			r.mu.Unlock()
		}
	}
	return r.next.Do(req)
}

func (r *formRecorder) all() []url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]url.Values(nil), r.forms...)
}

// certApp registers an app authenticating with c's certificate.
func certApp(t *testing.T, srv *entratest.Server, clientID string, c *testCert) {
	t.Helper()
	if err := srv.AddApp(entratest.App{TenantID: entratest.DefaultTenantID, ClientID: clientID,
		Certificates: []*x509.Certificate{c.cert}, AllowedTenants: []string{secondTenantID}}); err != nil {
		t.Fatal(err)
	}
}

const certClientID = "cce27000-0000-4000-8000-0000000cce27"

func decodeJWTPart(t *testing.T, jwt string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestClientCertificateCredentialEndToEnd(t *testing.T) {
	a, _ := sharedCerts(t)
	srv := newEmulator(t, nil)
	certApp(t, srv, certClientID, a)
	rec := &formRecorder{next: srv.Client()}
	co := emulatorOptions(srv)
	co.Transport = rec
	data := joinPEM(pemCert(a.cert), pemPKCS8(t, a.key))
	certs, key, err := ParseCertificates(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := NewClientCertificateCredential(entratest.DefaultTenantID, certClientID, certs, key,
		&ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), demoScope)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := srv.VerifyToken(tok.Token)
	if err != nil || claims["appid"] != certClientID || claims["aud"] != "api://demo" {
		t.Fatalf("token claims %v, %v", claims, err)
	}
	// The second call makes no request.
	if again, err := cred.GetToken(context.Background(), demoScope); err != nil || again.Token != tok.Token {
		t.Fatalf("second call: %v", err)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}

	// The assertion is what MSAL sends to Entra: PS256, x5t#S256, aud =
	// token endpoint, iss = sub = client ID, ten minutes.
	forms := rec.all()
	f := forms[0]
	if f.Get("grant_type") != "client_credentials" || f.Get("client_assertion_type") != clientAssertionType || f.Has("client_secret") {
		t.Fatalf("form = %v", f)
	}
	h := decodeJWTPart(t, f.Get("client_assertion"), 0)
	c := decodeJWTPart(t, f.Get("client_assertion"), 1)
	s256 := sha256.Sum256(a.cert.Raw)
	if h["alg"] != "PS256" || h["x5t#S256"] != base64.RawURLEncoding.EncodeToString(s256[:]) || h["x5c"] != nil || h["x5t"] != nil {
		t.Fatalf("assertion header = %v", h)
	}
	wantAud := srv.URL() + "/" + entratest.DefaultTenantID + "/oauth2/v2.0/token"
	if c["aud"] != wantAud || c["iss"] != certClientID || c["sub"] != certClientID || c["jti"] == "" {
		t.Fatalf("assertion claims = %v", c)
	}
	if life := c["exp"].(float64) - c["nbf"].(float64); life != 600 {
		t.Fatalf("assertion lifetime %vs, want 600", life)
	}

	// A second acquisition for the same endpoint signs a new assertion
	// (the emulator refuses a replayed one); a tenant not allowed gets no
	// request at all.
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"api://other/.default"}}); err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"api://other/.default"}, TenantID: secondTenantID})
	if err == nil || !strings.Contains(err.Error(), "AdditionallyAllowedTenants") {
		t.Fatalf("a tenant not allowed: %v", err)
	}
	forms = rec.all()
	if len(forms) != 2 || forms[1].Get("client_assertion") == f.Get("client_assertion") {
		t.Fatalf("%d requests; the second must carry a new assertion", len(forms))
	}
	if c2 := decodeJWTPart(t, forms[1].Get("client_assertion"), 1); c2["jti"] == c["jti"] {
		t.Fatalf("jti %v sent twice", c["jti"])
	}
}

func TestClientCertificateCredentialOptions(t *testing.T) {
	a, _ := sharedCerts(t)
	srv := newEmulator(t, nil)
	certApp(t, srv, certClientID, a)
	rec := &formRecorder{next: srv.Client()}
	co := emulatorOptions(srv)
	co.Transport = rec
	// The chain in file order (CA first) is reordered leaf first.
	cred, err := NewClientCertificateCredential(entratest.DefaultTenantID, certClientID, []*x509.Certificate{a.ca, a.cert}, a.key,
		&ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, SendCertificateChain: true,
			AdditionallyAllowedTenants: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: demoScope.Scopes, TenantID: secondTenantID, EnableCAE: true})
	if err != nil {
		t.Fatal(err)
	}
	claims, _ := srv.VerifyToken(tok.Token)
	if claims["tid"] != secondTenantID || claims["xms_cc"] == nil {
		t.Fatalf("claims = %v, want the other tenant and CAE capabilities", claims)
	}
	f := rec.all()[0]
	h := decodeJWTPart(t, f.Get("client_assertion"), 0)
	x5c, _ := h["x5c"].([]any)
	if len(x5c) != 2 || x5c[0] != base64.StdEncoding.EncodeToString(a.cert.Raw) || x5c[1] != base64.StdEncoding.EncodeToString(a.ca.Raw) {
		t.Fatalf("x5c = %v, want leaf then CA", h["x5c"])
	}
	if c := decodeJWTPart(t, f.Get("client_assertion"), 1); c["aud"] != srv.URL()+"/"+secondTenantID+"/oauth2/v2.0/token" {
		t.Fatalf("aud = %v", c["aud"])
	}
	// Claims bypass the cache.
	claimsReq := `{"access_token":{"nbf":{"essential":true,"value":"1"}}}`
	fresh, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: demoScope.Scopes, TenantID: secondTenantID, EnableCAE: true, Claims: claimsReq})
	if err != nil || fresh.Token == tok.Token {
		t.Fatalf("claims request: %v (same token: %v)", err, fresh.Token == tok.Token)
	}
	if got := rec.all()[1].Get("claims"); !strings.Contains(got, "CP1") || !strings.Contains(got, "nbf") {
		t.Fatalf("claims sent = %s", got)
	}
}

func TestClientCertificateCredentialRejections(t *testing.T) {
	a, b := sharedCerts(t)
	srv := newEmulator(t, nil)
	certApp(t, srv, certClientID, a)
	ctx := context.Background()
	// A certificate the app does not have.
	cred, err := NewClientCertificateCredential(entratest.DefaultTenantID, certClientID, []*x509.Certificate{b.cert}, b.key,
		&ClientCertificateCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(ctx, demoScope)
	var afe *AuthenticationFailedError
	if !errors.As(err, &afe) || len(afe.ErrorCodes) == 0 || afe.ErrorCodes[0] != 700027 {
		t.Fatalf("unregistered certificate: %v", err)
	}
	// A failed acquisition caches nothing.
	if _, err = cred.GetToken(ctx, demoScope); err == nil || srv.Requests(entratest.EndpointToken) != 2 {
		t.Fatalf("retry: %v after %d requests", err, srv.Requests(entratest.EndpointToken))
	}

	// An expired assertion (this machine's clock far behind).
	cc, _ := newCertCredential([]*x509.Certificate{a.cert}, a.key, false)
	past := func() time.Time { return time.Now().Add(-time.Hour) }
	app := newAppForTest(t, srv, credNameCert, certClientID, clientCredentialsGrant{newCertAuth(certClientID, cc, past)})
	_, err = app.getToken(ctx, spanCert, demoScope)
	if !errors.As(err, &afe) || afe.ErrorCodes[0] != 700024 || !strings.Contains(err.Error(), "clock") {
		t.Fatalf("expired assertion: %v", err)
	}
	// A tenant the app is not in.
	cred, _ = NewClientCertificateCredential("1a1a1a1a-0000-4000-8000-00000000001a", certClientID, []*x509.Certificate{a.cert}, a.key,
		&ClientCertificateCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if _, err = cred.GetToken(ctx, demoScope); !errors.As(err, &afe) || afe.ErrorCodes[0] != 90002 {
		t.Fatalf("wrong tenant: %v", err)
	}
}

// newAppForTest builds an appClient against srv with any grant.
func newAppForTest(t *testing.T, srv *entratest.Server, name, clientID string, g appGrant) *appClient {
	t.Helper()
	app, err := newAppClient(name, entratest.DefaultTenantID, clientID, g,
		appOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func TestCertificateAssertionForADFS(t *testing.T) {
	a, _ := sharedCerts(t)
	cc, err := newCertCredential([]*x509.Certificate{a.cert}, a.key, false)
	if err != nil {
		t.Fatal(err)
	}
	auth := newCertAuth("client", cc, nil)
	form := url.Values{}
	const ep = "https://adfs.contoso.com/adfs/oauth2/token"
	if _, err := auth.authenticateClient(context.Background(), form, ep); err != nil {
		t.Fatal(err)
	}
	jwt := form.Get("client_assertion")
	h := decodeJWTPart(t, jwt, 0)
	s1 := sha1.Sum(a.cert.Raw) //nolint:gosec // see import
	if h["alg"] != "RS256" || h["x5t"] != base64.RawURLEncoding.EncodeToString(s1[:]) || h["x5t#S256"] != nil {
		t.Fatalf("ADFS header = %v", h)
	}
	parts := strings.Split(jwt, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&a.key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("RS256 signature does not verify: %v", err)
	}
	if decodeJWTPart(t, jwt, 1)["aud"] != ep {
		t.Fatal("aud is not the ADFS token endpoint")
	}
}

// Every call signs a new assertion: a new random jti, nbf = now and exp =
// now + ten minutes by the credential's clock, even for the same endpoint
// at the same instant.
func TestCertificateAssertionIsFreshPerRequest(t *testing.T) {
	a, _ := sharedCerts(t)
	cc, _ := newCertCredential([]*x509.Certificate{a.cert}, a.key, false)
	clock := newFakeClock()
	auth := newCertAuth("client", cc, clock.Now)
	const ep = "https://login.example/t/oauth2/v2.0/token"
	jtis := map[any]bool{}
	for range 50 {
		form := url.Values{}
		secrets, err := auth.authenticateClient(context.Background(), form, ep)
		if err != nil {
			t.Fatal(err)
		}
		jwt := form.Get("client_assertion")
		if len(secrets) != 1 || secrets[0] != jwt {
			t.Fatal("the assertion is not reported as a secret")
		}
		c := decodeJWTPart(t, jwt, 1)
		if c["nbf"] != float64(clock.Now().Unix()) || c["exp"] != float64(clock.Now().Add(assertionLifetime).Unix()) {
			t.Fatalf("nbf %v exp %v, want now and now + %v", c["nbf"], c["exp"], assertionLifetime)
		}
		jtis[c["jti"]] = true
	}
	if len(jtis) != 50 {
		t.Fatalf("%d distinct jti values in 50 assertions", len(jtis))
	}
}

// What azid did before every request got its own assertion: one signed
// assertion sent with a second token request. A server that enforces
// one-time assertions (the emulator in azid's tests) refuses the second
// with invalid_client, which ClientCertificateCredential now never sees.
func TestReplayedCertificateAssertionIsRefused(t *testing.T) {
	a, _ := sharedCerts(t)
	srv := newEmulator(t, &entratest.Options{SigningKeyBits: 1024})
	certApp(t, srv, certClientID, a)
	cc, _ := newCertCredential([]*x509.Certificate{a.cert}, a.key, false)
	signed, err := newCertAuth(certClientID, cc, nil).sign(srv.URL()+"/"+entratest.DefaultTenantID+"/oauth2/v2.0/token", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := NewClientAssertionCredential(entratest.DefaultTenantID, certClientID,
		func(context.Context) (string, error) { return signed, nil },
		&ClientAssertionCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cred.GetToken(ctx, demoScope); err != nil {
		t.Fatalf("first use: %v", err)
	}
	_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"api://other/.default"}})
	var afe *AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RawResponse == nil || afe.RawResponse.StatusCode != http.StatusUnauthorized || afe.ErrorCode != "invalid_client" ||
		len(afe.ErrorCodes) == 0 || afe.ErrorCodes[0] != 700027 {
		t.Fatalf("replay: %v, want invalid_client AADSTS700027", err)
	}
	if strings.Contains(err.Error(), signed) {
		t.Fatal("the error quotes the assertion")
	}
	// The advice names the replay, not an unregistered certificate.
	if msg := err.Error(); !strings.Contains(msg, "seen before") || strings.Contains(msg, "upload the certificate") {
		t.Fatalf("replay advice: %v", err)
	}

	// The certificate credential itself, many scopes at once: every
	// request is accepted.
	cert, err := NewClientCertificateCredential(entratest.DefaultTenantID, certClientID, []*x509.Certificate{a.cert}, a.key,
		&ClientCertificateCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.ResetCounts()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := cert.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{fmt.Sprintf("api://app%d/.default", i)}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := srv.Requests(entratest.EndpointToken); n != 20 {
		t.Fatalf("%d token requests for 20 scopes, want 20", n)
	}
}

func BenchmarkClientCertificateCredentialHit(b *testing.B) {
	a, _ := sharedCerts(b)
	srv, err := entratest.NewServer(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	_ = srv.AddApp(entratest.App{TenantID: entratest.DefaultTenantID, ClientID: certClientID, Certificates: []*x509.Certificate{a.cert}})
	cred, err := NewClientCertificateCredential(entratest.DefaultTenantID, certClientID, []*x509.Certificate{a.cert}, a.key,
		&ClientCertificateCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := cred.GetToken(ctx, demoScope); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cred.GetToken(ctx, demoScope); err != nil {
			b.Fatal(err)
		}
	}
}

func TestClientCertificateCredentialConcurrentCallers(t *testing.T) {
	a, _ := sharedCerts(t)
	srv := newEmulator(t, &entratest.Options{SigningKeyBits: 1024})
	certApp(t, srv, certClientID, a)
	cred, err := NewClientCertificateCredential(entratest.DefaultTenantID, certClientID, []*x509.Certificate{a.cert}, a.key,
		&ClientCertificateCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	start := make(chan struct{})
	for range 100 {
		wg.Go(func() {
			<-start
			if _, err := cred.GetToken(context.Background(), demoScope); err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("100 concurrent callers made %d token requests, want 1", n)
	}
}
