package interop

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/azid-go/azid/entratest"
)

const certClientID = "ce271000-0000-4000-8000-000000000001"

// newAppCert makes a self-signed certificate for an app credential.
func newAppCert(t *testing.T) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "interop app"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// registerCertificate registers an app with cert as its credential.
func registerCertificate(t *testing.T, srv *entratest.Server, cert *x509.Certificate) {
	t.Helper()
	if err := srv.AddApp(entratest.App{TenantID: entratest.DefaultTenantID, ClientID: certClientID, Certificates: []*x509.Certificate{cert}}); err != nil {
		t.Fatal(err)
	}
}

// assertionHeaders is a transport that records the JOSE header of every
// client assertion sent to the token endpoint, so a test can see what an
// unmodified client put in it, then passes the request on.
type assertionHeaders struct {
	next    policy.Transporter
	mu      sync.Mutex
	headers []map[string]any
}

func (a *assertionHeaders) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && strings.HasSuffix(req.URL.Path, "/token") {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		if jwt := form.Get("client_assertion"); jwt != "" {
			header := map[string]any{}
			seg, _, _ := strings.Cut(jwt, ".")
			if b, err := base64.RawURLEncoding.DecodeString(seg); err == nil {
				_ = json.Unmarshal(b, &header)
			}
			a.mu.Lock()
			a.headers = append(a.headers, header)
			a.mu.Unlock()
		}
	}
	return a.next.Do(req)
}

// ClientCertificateCredential, with and without x5c (SendCertificateChain):
// the assertion names the certificate by thumbprint and, with x5c, carries
// it; the emulator accepts both.
func TestAzidentityClientCertificate(t *testing.T) {
	for _, x5c := range []bool{false, true} {
		srv := newEmulator(t, nil)
		cert, key := newAppCert(t)
		registerCertificate(t, srv, cert)
		rec := &assertionHeaders{next: srv.Client()}
		opts := direct(srv)
		opts.Transport = rec
		cred, err := azidentity.NewClientCertificateCredential(entratest.DefaultTenantID, certClientID, []*x509.Certificate{cert}, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true, SendCertificateChain: x5c})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{"api://demo/.default"}})
		if err != nil {
			t.Fatalf("x5c=%v: GetToken: %v", x5c, err)
		}
		if claims, err := srv.VerifyToken(tok.Token); err != nil || claims["appid"] != certClientID {
			t.Errorf("x5c=%v: claims %v, %v", x5c, claims, err)
		}
		if log := srv.TokenRequests(); len(log) != 1 || log[0].GrantType != "client_credentials" || log[0].ClientID != certClientID {
			t.Errorf("x5c=%v: token log %+v", x5c, log)
		}
		if len(rec.headers) != 1 {
			t.Fatalf("x5c=%v: %d assertions sent", x5c, len(rec.headers))
		}
		h := rec.headers[0]
		chain, _ := h["x5c"].([]any)
		if sent := len(chain) == 1 && chain[0] == base64.StdEncoding.EncodeToString(cert.Raw); sent != x5c {
			t.Errorf("x5c=%v: assertion header %v", x5c, h)
		}
		if h["x5t#S256"] == nil && h["x5t"] == nil {
			t.Errorf("x5c=%v: the assertion names no thumbprint: %v", x5c, h)
		}
		// MSAL signs a new assertion per request, so a second request
		// passes the emulator's one-time assertion check.
		if _, err := cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{"api://other/.default"}}); err != nil {
			t.Errorf("x5c=%v: second request: %v", x5c, err)
		}
	}
}

// ClientAssertionCredential with an assertion built by hand, as a user's
// own signer (a key vault, an HSM) would.
func TestAzidentityClientAssertion(t *testing.T) {
	srv := newEmulator(t, nil)
	cert, key := newAppCert(t)
	registerCertificate(t, srv, cert)
	tokenURL := srv.URL() + "/" + entratest.DefaultTenantID + "/oauth2/v2.0/token"
	cred, err := azidentity.NewClientAssertionCredential(entratest.DefaultTenantID, certClientID,
		func(context.Context) (string, error) { return signAssertion(cert, key, tokenURL) },
		&azidentity.ClientAssertionCredentialOptions{ClientOptions: direct(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{"api://demo/.default"}})
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	if claims, err := srv.VerifyToken(tok.Token); err != nil || claims["appid"] != certClientID {
		t.Errorf("claims %v, %v", claims, err)
	}
	if log := srv.TokenRequests(); len(log) != 1 || log[0].GrantType != "client_credentials" || log[0].Status != 200 {
		t.Errorf("token log %+v", log)
	}
}

// signAssertion builds an RFC 7523 client assertion: RS256 with x5t#S256,
// aud the token endpoint, iss = sub = the client.
func signAssertion(cert *x509.Certificate, key *rsa.PrivateKey, aud string) (string, error) {
	thumb := sha256.Sum256(cert.Raw)
	now := time.Now()
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	signing := enc(map[string]any{"alg": "RS256", "typ": "JWT", "x5t#S256": base64.RawURLEncoding.EncodeToString(thumb[:])}) + "." +
		enc(map[string]any{"aud": aud, "iss": certClientID, "sub": certClientID, "jti": base64.RawURLEncoding.EncodeToString(jti),
			"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()})
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
