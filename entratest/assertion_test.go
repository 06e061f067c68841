package entratest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const certAppID = "ce270000-0000-4000-8000-0000000ce270"

type assertionKey struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

var (
	assertionKeysOnce sync.Once
	assertionKeys     [2]assertionKey
)

// testKeys returns two certificates with keys, made once (RSA generation
// is slow). validFor shifts nothing: both are valid for a day.
func testKeys(t testing.TB) [2]assertionKey {
	t.Helper()
	assertionKeysOnce.Do(func() {
		for i := range assertionKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: "assertion test"},
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
			if err != nil {
				panic(err)
			}
			c, _ := x509.ParseCertificate(der)
			assertionKeys[i] = assertionKey{key: k, cert: c}
		}
	})
	return assertionKeys
}

// signJWT signs claims with k under header (alg chosen from it).
func signJWT(t testing.TB, k *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	d := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	if header["alg"] == "PS256" {
		sig, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	} else {
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func s256(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(s[:])
}

func sha1Std(c *x509.Certificate) string {
	s := sha1.Sum(c.Raw) //nolint:gosec // see import
	return base64.StdEncoding.EncodeToString(s[:])
}

// assertionForm is a client credentials request authenticated by assertion.
func assertionForm(assertion string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {certAppID},
		"client_assertion_type": {clientAssertionType},
		"client_assertion":      {assertion},
		"scope":                 {"api://demo/.default"},
	}
}

func certServer(t *testing.T) (*Server, [2]assertionKey) {
	keys := testKeys(t)
	srv := newTestServer(t, &Options{SigningKeyBits: 1024})
	if err := srv.AddApp(App{TenantID: DefaultTenantID, ClientID: certAppID, Certificates: []*x509.Certificate{keys[0].cert},
		FederatedCredentials: []FederatedCredential{{Issuer: "https://issuer.example", Subject: "ci", Audiences: []string{"api://custom"}}}}); err != nil {
		t.Fatal(err)
	}
	return srv, keys
}

func goodClaims(srv *Server, aud string) map[string]any {
	now := time.Now()
	return map[string]any{"aud": aud, "iss": certAppID, "sub": certAppID, "jti": newGUID(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
}

func TestCertificateAssertionsAccepted(t *testing.T) {
	srv, keys := certServer(t)
	v2 := srv.URL() + tokenPath(DefaultTenantID)
	v1 := srv.URL() + "/" + DefaultTenantID + "/oauth2/token"
	// MSAL for Entra: PS256 + x5t#S256, aud the v2 endpoint.
	tok := getTokenWith(t, srv, tokenPath(DefaultTenantID), assertionForm(signJWT(t, keys[0].key,
		map[string]any{"alg": "PS256", "typ": "JWT", "x5t#S256": s256(keys[0].cert)}, goodClaims(srv, v2))))
	claims, err := srv.VerifyToken(tok)
	if err != nil || claims["appid"] != certAppID {
		t.Fatalf("%v %v", claims, err)
	}
	// Older clients: RS256 + SHA-1 x5t in standard base64, with the x5c
	// chain, posting to the v1 endpoint.
	f := assertionForm(signJWT(t, keys[0].key, map[string]any{"alg": "RS256", "x5t": sha1Std(keys[0].cert),
		"x5c": []string{base64.StdEncoding.EncodeToString(keys[0].cert.Raw)}}, goodClaims(srv, v1)))
	f.Del("scope")
	f.Set("resource", "https://vault.azure.net")
	getTokenWith(t, srv, "/"+DefaultTenantID+"/oauth2/token", f)
	// A federated token with the credential's custom audience.
	fed, err := srv.IssueFederatedToken(FederatedToken{Issuer: "https://issuer.example", Subject: "ci", Audience: "api://custom"})
	if err != nil {
		t.Fatal(err)
	}
	getTokenWith(t, srv, tokenPath(DefaultTenantID), assertionForm(fed))
}

func getTokenWith(t *testing.T, srv *Server, path string, form url.Values) string {
	t.Helper()
	r := postForm(t, srv, path, form)
	if r.status != http.StatusOK {
		t.Fatalf("token request: %d %s", r.status, r.raw)
	}
	return r.str("access_token")
}

func TestCertificateAssertionsRejected(t *testing.T) {
	srv, keys := certServer(t)
	v2 := srv.URL() + tokenPath(DefaultTenantID)
	good := func() map[string]any { return goodClaims(srv, v2) }
	hdr := func(k assertionKey) map[string]any {
		return map[string]any{"alg": "PS256", "x5t#S256": s256(k.cert)}
	}
	set := func(m map[string]any, k string, v any) map[string]any { m[k] = v; return m }
	fed := func(ft FederatedToken) string {
		s, err := srv.IssueFederatedToken(ft)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for name, tc := range map[string]struct {
		assertion string
		status    int
		oauth     string
		code      int
	}{
		"unregistered certificate": {signJWT(t, keys[1].key, hdr(keys[1]), good()), 401, "invalid_client", 700027},
		"signed by another key":    {signJWT(t, keys[1].key, hdr(keys[0]), good()), 401, "invalid_client", 700027},
		"no thumbprint":            {signJWT(t, keys[0].key, map[string]any{"alg": "PS256"}, good()), 401, "invalid_client", 700027},
		"x5c of another cert": {signJWT(t, keys[0].key, set(hdr(keys[0]), "x5c", []string{base64.StdEncoding.EncodeToString(keys[1].cert.Raw)}), good()),
			401, "invalid_client", 700027},
		"alg none":                    {signJWT(t, keys[0].key, set(hdr(keys[0]), "alg", "none"), good()), 401, "invalid_client", 700027},
		"sub not client":              {signJWT(t, keys[0].key, hdr(keys[0]), set(good(), "sub", "someone")), 401, "invalid_client", 700021},
		"aud another host":            {signJWT(t, keys[0].key, hdr(keys[0]), set(good(), "aud", "https://login.microsoftonline.com/x/oauth2/v2.0/token")), 401, "invalid_client", 700023},
		"aud another tenant":          {signJWT(t, keys[0].key, hdr(keys[0]), set(good(), "aud", srv.URL()+tokenPath("common"))), 401, "invalid_client", 700023},
		"expired":                     {signJWT(t, keys[0].key, hdr(keys[0]), set(good(), "exp", time.Now().Add(-time.Second).Unix())), 401, "invalid_client", 700024},
		"not yet valid":               {signJWT(t, keys[0].key, hdr(keys[0]), set(good(), "nbf", time.Now().Add(time.Hour).Unix())), 401, "invalid_client", 700024},
		"no exp":                      {signJWT(t, keys[0].key, hdr(keys[0]), set(good(), "exp", "soon")), 400, "invalid_request", 50027},
		"malformed":                   {"a.b", 400, "invalid_request", 50027},
		"federated, unknown subject":  {fed(FederatedToken{Issuer: "https://issuer.example", Subject: "other", Audience: "api://custom"}), 400, "invalid_request", 70021},
		"federated, default audience": {fed(FederatedToken{Issuer: "https://issuer.example", Subject: "ci"}), 400, "invalid_request", 70021},
		"federated, expired":          {fed(FederatedToken{Issuer: "https://issuer.example", Subject: "ci", Audience: "api://custom", ExpiresIn: -time.Minute}), 401, "invalid_client", 700024},
	} {
		t.Run(name, func(t *testing.T) {
			r := postForm(t, srv, tokenPath(DefaultTenantID), assertionForm(tc.assertion))
			wantEntraError(t, r, tc.status, tc.oauth, tc.code)
			if len(tc.assertion) > 20 && strings.Contains(string(r.raw), tc.assertion) {
				t.Error("the error echoes the assertion")
			}
		})
	}
	r := postForm(t, srv, tokenPath(DefaultTenantID), with(assertionForm("a.b.c"), "client_assertion_type", "urn:other"))
	if r.status == http.StatusOK {
		t.Fatal("a wrong client_assertion_type was accepted")
	}
}

func oboForm(assertion, scope string) url.Values {
	return url.Values{
		"grant_type":          {grantJWTBearer},
		"client_id":           {DefaultClientID},
		"client_secret":       {DefaultClientSecret},
		"assertion":           {assertion},
		"requested_token_use": {"on_behalf_of"},
		"scope":               {scope + " openid profile offline_access"},
	}
}

func TestOnBehalfOfGrant(t *testing.T) {
	srv := newTestServer(t, &Options{SigningKeyBits: 1024})
	user, err := srv.IssueUserAccessToken(UserAccessToken{Audience: DefaultClientID, Username: "ann@entratest.example", Scopes: []string{"access_as_user"}})
	if err != nil {
		t.Fatal(err)
	}
	uc, err := srv.VerifyToken(user)
	if err != nil || uc["scp"] != "access_as_user" || uc["aud"] != DefaultClientID || uc["upn"] != "ann@entratest.example" {
		t.Fatalf("user token %v %v", uc, err)
	}
	tok := getTokenWith(t, srv, tokenPath(DefaultTenantID), oboForm(user, "https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.Send"))
	c, err := srv.VerifyToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c["oid"] != uc["oid"] || c["tid"] != DefaultTenantID || c["aud"] != "https://graph.microsoft.com" || c["scp"] != "User.Read Mail.Send" ||
		c["appid"] != DefaultClientID || c["upn"] != "ann@entratest.example" {
		t.Fatalf("OBO claims = %v", c)
	}
	// The OBO token can itself be the assertion of a further hop, for the
	// API it was issued to.
	if err := srv.AddApp(App{TenantID: DefaultTenantID, ClientID: "5eca0000-0000-4000-8000-000000005eca", Secret: "s2"}); err != nil {
		t.Fatal(err)
	}
	hop, _ := srv.IssueUserAccessToken(UserAccessToken{Audience: "api://5eca0000-0000-4000-8000-000000005eca"})
	f := oboForm(hop, "api://downstream/.default")
	f.Set("client_id", "5eca0000-0000-4000-8000-000000005eca")
	f.Set("client_secret", "s2")
	tok = getTokenWith(t, srv, tokenPath(DefaultTenantID), f)
	if c, _ := srv.VerifyToken(tok); c["scp"] != "user_impersonation" || c["aud"] != "api://downstream" {
		t.Fatalf(".default claims = %v", c)
	}

	// The v1 endpoint takes a resource.
	v1 := oboForm(user, "")
	v1.Del("scope")
	v1.Set("resource", "https://management.azure.com/")
	tok = getTokenWith(t, srv, "/"+DefaultTenantID+"/oauth2/token", v1)
	if c, _ := srv.VerifyToken(tok); c["aud"] != "https://management.azure.com/" || c["oid"] != uc["oid"] {
		t.Fatalf("v1 OBO claims = %v", c)
	}

	expired, _ := srv.IssueUserAccessToken(UserAccessToken{Audience: DefaultClientID, ExpiresIn: -time.Minute})
	otherTenant, _ := srv.IssueUserAccessToken(UserAccessToken{Audience: DefaultClientID, TenantID: "0c0c0c0c-0000-4000-8000-0000000000cc"})
	for name, tc := range map[string]struct {
		form  url.Values
		oauth string
		code  int
	}{
		"no requested_token_use":    {with(oboForm(user, "api://x/.default"), "requested_token_use", ""), "invalid_request", 900144},
		"no assertion":              {with(oboForm(user, "api://x/.default"), "assertion", ""), "invalid_request", 900144},
		"two resources":             {oboForm(user, "api://x/a api://y/b"), "invalid_scope", 70011},
		"no scope":                  {with(oboForm(user, ""), "scope", "openid"), "invalid_scope", 70011},
		"expired assertion":         {oboForm(expired, "api://x/.default"), "invalid_grant", 500133},
		"assertion for another app": {oboForm(hop, "api://x/.default"), "invalid_grant", 500131},
		"tampered assertion":        {oboForm(user[:len(user)-4]+"AAAA", "api://x/.default"), "invalid_grant", 50013},
		"another tenant's user":     {oboForm(otherTenant, "api://x/.default"), "invalid_grant", 50013},
		"wrong client secret":       {with(oboForm(user, "api://x/.default"), "client_secret", "nope"), "invalid_client", 7000215},
	} {
		t.Run(name, func(t *testing.T) {
			r := postForm(t, srv, tokenPath(DefaultTenantID), tc.form)
			if r.str("error") != tc.oauth {
				t.Fatalf("error %q, want %q: %s", r.str("error"), tc.oauth, r.raw)
			}
			codes, _ := r.json["error_codes"].([]any)
			if len(codes) != 1 || codes[0] != float64(tc.code) {
				t.Fatalf("codes %v, want %d", codes, tc.code)
			}
		})
	}
}

// FuzzClientAssertions posts arbitrary client assertions and OBO user
// assertions: the emulator answers with an Entra error or a token, never
// panics and never echoes the assertion.
func FuzzClientAssertions(f *testing.F) {
	srv, err := NewServer(&Options{SigningKeyBits: 1024})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	keys := testKeys(f)
	if err := srv.AddApp(App{TenantID: DefaultTenantID, ClientID: certAppID, Certificates: []*x509.Certificate{keys[0].cert}}); err != nil {
		f.Fatal(err)
	}
	valid := signJWT(f, keys[0].key, map[string]any{"alg": "PS256", "x5t#S256": s256(keys[0].cert)},
		goodClaims(srv, "https://127.0.0.1/"+DefaultTenantID+"/oauth2/v2.0/token"))
	user, _ := srv.IssueUserAccessToken(UserAccessToken{Audience: DefaultClientID})
	f.Add(valid, false)
	f.Add(user, true)
	f.Add("e30.e30.", false)
	f.Add("eyJhbGciOiJQUzI1NiJ9.eyJleHAiOjF9.AA", true)
	h := srv.routes()
	f.Fuzz(func(t *testing.T, assertion string, obo bool) {
		form := assertionForm(assertion)
		if obo {
			form = oboForm(assertion, "api://x/.default")
		}
		req := httptest.NewRequest(http.MethodPost, "https://127.0.0.1"+tokenPath(DefaultTenantID), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var got map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("answer is not JSON: %q", rec.Body.String())
		}
		if rec.Code != http.StatusOK {
			if codes, _ := got["error_codes"].([]any); len(codes) != 1 {
				t.Fatalf("error without one AADSTS code: %s", rec.Body.String())
			}
			// Only JWT-shaped inputs are checked: a short or spaced input
			// can occur in an error message by chance.
			jwtShaped := len(assertion) >= 24 && strings.Count(assertion, ".") == 2 && !strings.ContainsAny(assertion, " '")
			if jwtShaped && strings.Contains(rec.Body.String(), assertion) {
				t.Fatal("the answer echoes the assertion")
			}
		}
	})
}

// unregisteredKeyAssertion is a well-formed certificate assertion for
// clientID naming a certificate no app has.
func unregisteredKeyAssertion(clientID string) string {
	h, _ := json.Marshal(map[string]any{"alg": "PS256", "typ": "JWT", "x5t#S256": "bm90LXJlZ2lzdGVyZWQ"})
	c, _ := json.Marshal(map[string]any{"iss": clientID, "sub": clientID, "aud": "x", "exp": time.Now().Add(time.Hour).Unix()})
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + ".c2ln"
}
