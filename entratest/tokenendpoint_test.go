package entratest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokenClientCredentials(t *testing.T) {
	srv := newTestServer(t, nil)
	r := postForm(t, srv, tokenPath(DefaultTenantID), ccForm())
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if r.str("token_type") != "Bearer" {
		t.Errorf("token_type = %q", r.str("token_type"))
	}
	// Numbers must be JSON integers, not strings or floats with decimals.
	for _, field := range []string{`"expires_in":3600,`, `"ext_expires_in":3600,`} {
		if !strings.Contains(string(r.raw), field) {
			t.Errorf("body %s lacks %s", r.raw, field)
		}
	}
	if _, ok := r.json["refresh_in"]; ok {
		t.Errorf("refresh_in sent without a RefreshIn policy: %s", r.raw)
	}
	if r.header.Get("Cache-Control") != "no-store, no-cache" {
		t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	if !isGUID(r.header.Get("x-ms-request-id")) {
		t.Errorf("x-ms-request-id = %q", r.header.Get("x-ms-request-id"))
	}
	claims, err := srv.VerifyToken(r.str("access_token"))
	if err != nil {
		t.Fatalf("VerifyToken: %v", err)
	}
	if claims["aud"] != "api://demo" {
		t.Errorf("aud = %v", claims["aud"])
	}
	if n := srv.Requests(EndpointToken); n != 1 {
		t.Errorf("Requests(token) = %d", n)
	}
}

func TestTokenAudienceFromScope(t *testing.T) {
	srv := newTestServer(t, nil)
	for scope, aud := range map[string]string{
		"https://storage.azure.com/.default":                      "https://storage.azure.com",
		"https://management.azure.com//.default":                  "https://management.azure.com/",
		"00000003-0000-0000-c000-000000000000/.default openid":    "00000003-0000-0000-c000-000000000000",
		"openid profile offline_access api://demo/.DEFAULT email": "api://demo",
	} {
		tok := getToken(t, srv, with(ccForm(), "scope", scope))
		claims, err := srv.VerifyToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		if claims["aud"] != aud {
			t.Errorf("scope %q: aud = %v, want %q", scope, claims["aud"], aud)
		}
	}
}

func TestTokenBasicAuth(t *testing.T) {
	srv := newTestServer(t, &Options{Apps: []App{{TenantID: DefaultTenantID, ClientID: DefaultClientID, Secret: "p@ss:w rd+="}}})
	form := with(with(ccForm(), "client_id", ""), "client_secret", "")
	// RFC 6749 §2.3.1: form-encode, then base64.
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(DefaultClientID) + ":" + url.QueryEscape("p@ss:w rd+=")))
	r := postForm(t, srv, tokenPath(DefaultTenantID), form, "Authorization", "Basic "+basic)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	log := srv.TokenRequests()
	if len(log) != 1 || log[0].ClientID != DefaultClientID {
		t.Errorf("log = %+v, want the Basic client ID", log)
	}

	bad := base64.StdEncoding.EncodeToString([]byte(DefaultClientID + ":wrong"))
	r = postForm(t, srv, tokenPath(DefaultTenantID), form, "Authorization", "Basic "+bad)
	wantEntraError(t, r, http.StatusUnauthorized, "invalid_client", 7000215)
}

func TestTokenErrors(t *testing.T) {
	srv := newTestServer(t, nil)
	const unknownTenant = "0badc0de-0000-4000-8000-000000000000"
	tests := []struct {
		name     string
		tenant   string
		form     url.Values
		status   int
		oauthErr string
		code     int
	}{
		{"unknown tenant", unknownTenant, ccForm(), 400, "invalid_request", 90002},
		{"unknown tenant domain", "contoso.onmicrosoft.com", ccForm(), 400, "invalid_request", 90002},
		{"malformed tenant", "not-a-tenant", ccForm(), 400, "invalid_request", 900023},
		{"common tenant", "common", ccForm(), 400, "invalid_request", 50059},
		{"organizations tenant", "organizations", ccForm(), 400, "invalid_request", 50059},
		{"missing grant_type", DefaultTenantID, with(ccForm(), "grant_type", ""), 400, "invalid_request", 900144},
		{"unsupported grant", DefaultTenantID, with(ccForm(), "grant_type", "urn:example:magic"), 400, "unsupported_grant_type", 70003},
		{"missing client_id", DefaultTenantID, with(ccForm(), "client_id", ""), 400, "invalid_request", 900144},
		{"unknown client", DefaultTenantID, with(ccForm(), "client_id", "0badc0de-1111-4000-8000-000000000000"), 400, "unauthorized_client", 700016},
		{"wrong secret", DefaultTenantID, with(ccForm(), "client_secret", "wrong"), 401, "invalid_client", 7000215},
		{"missing secret", DefaultTenantID, with(ccForm(), "client_secret", ""), 401, "invalid_client", 7000216},
		{"assertion without certificate", DefaultTenantID, with(with(with(ccForm(), "client_secret", ""), "client_assertion", unregisteredKeyAssertion(DefaultClientID)), "client_assertion_type", clientAssertionType), 401, "invalid_client", 700027},
		{"missing scope", DefaultTenantID, with(ccForm(), "scope", ""), 400, "invalid_scope", 70011},
		{"scope without .default", DefaultTenantID, with(ccForm(), "scope", "https://graph.microsoft.com/User.Read"), 400, "invalid_scope", 1002012},
		{"only OIDC scopes", DefaultTenantID, with(ccForm(), "scope", "openid profile"), 400, "invalid_scope", 1002012},
		{"two resources", DefaultTenantID, with(ccForm(), "scope", "api://a/.default api://b/.default"), 400, "invalid_scope", 70011},
		{"bare .default", DefaultTenantID, with(ccForm(), "scope", "/.default"), 400, "invalid_scope", 70011},
		{"claims not JSON", DefaultTenantID, with(ccForm(), "claims", "xms_cc=CP1"), 400, "invalid_request", 90100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postForm(t, srv, tokenPath(tt.tenant), tt.form)
			wantEntraError(t, r, tt.status, tt.oauthErr, tt.code)
			if strings.Contains(string(r.raw), DefaultClientSecret) {
				t.Errorf("error body echoes the secret: %s", r.raw)
			}
		})
	}
}

// Entra checks the tenant before the client, and the client before its
// secret and scope: a request wrong in every way reports the tenant.
func TestTokenErrorOrder(t *testing.T) {
	srv := newTestServer(t, nil)
	bad := url.Values{"grant_type": {"client_credentials"}, "client_id": {"0badc0de-1111-4000-8000-000000000000"}, "client_secret": {"x"}, "scope": {"nope"}}
	r := postForm(t, srv, tokenPath("0badc0de-0000-4000-8000-000000000000"), bad)
	wantEntraError(t, r, 400, "invalid_request", 90002)
	r = postForm(t, srv, tokenPath(DefaultTenantID), bad)
	wantEntraError(t, r, 400, "unauthorized_client", 700016)
	r = postForm(t, srv, tokenPath(DefaultTenantID), with(bad, "client_id", DefaultClientID))
	wantEntraError(t, r, 401, "invalid_client", 7000215)
	r = postForm(t, srv, tokenPath(DefaultTenantID), with(with(bad, "client_id", DefaultClientID), "client_secret", DefaultClientSecret))
	wantEntraError(t, r, 400, "invalid_scope", 1002012)
}

func TestTokenGetIsRejected(t *testing.T) {
	srv := newTestServer(t, nil)
	r := get(t, srv, tokenPath(DefaultTenantID))
	wantEntraError(t, r, 400, "invalid_request", 900561)
	if n := srv.Requests(EndpointToken); n != 1 {
		t.Errorf("Requests(token) = %d, want 1", n)
	}
}

func TestTokenNotAForm(t *testing.T) {
	srv := newTestServer(t, nil)
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+tokenPath(DefaultTenantID), strings.NewReader(`{"grant_type":"client_credentials"}`))
	req.Header.Set("Content-Type", "application/json")
	wantEntraError(t, do(t, srv, req), 400, "invalid_request", 900144)
}

func TestTokenCorrelationID(t *testing.T) {
	srv := newTestServer(t, nil)
	const id = "5e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"

	// MSAL sends return-client-request-id: false; the ID is still echoed
	// in error bodies, but not as a header.
	r := postForm(t, srv, tokenPath(DefaultTenantID), with(ccForm(), "client_secret", "wrong"),
		"client-request-id", id, "return-client-request-id", "false")
	if r.str("correlation_id") != id || !strings.Contains(r.str("error_description"), "Correlation ID: "+id) {
		t.Errorf("correlation_id not echoed: %s", r.raw)
	}
	if h := r.header.Get("client-request-id"); h != "" {
		t.Errorf("client-request-id header %q sent though not asked for", h)
	}

	r = postForm(t, srv, tokenPath(DefaultTenantID), ccForm(), "client-request-id", id, "return-client-request-id", "true")
	if h := r.header.Get("client-request-id"); h != id {
		t.Errorf("client-request-id header = %q, want %q", h, id)
	}
	if log := srv.TokenRequests(); log[len(log)-1].CorrelationID != id {
		t.Errorf("logged correlation ID = %q", log[len(log)-1].CorrelationID)
	}

	// A non-GUID request ID is not reflected.
	r = postForm(t, srv, tokenPath(DefaultTenantID), with(ccForm(), "client_secret", "wrong"), "client-request-id", "<script>")
	if c := r.str("correlation_id"); c == "<script>" || !isGUID(c) {
		t.Errorf("correlation_id = %q", c)
	}
}

func TestTokenPolicy(t *testing.T) {
	srv := newTestServer(t, &Options{Token: TokenPolicy{ExpiresIn: 2 * time.Hour, RefreshIn: time.Hour}})
	r := postForm(t, srv, tokenPath(DefaultTenantID), ccForm())
	for _, field := range []string{`"expires_in":7200,`, `"ext_expires_in":7200,`, `"refresh_in":3600,`} {
		if !strings.Contains(string(r.raw), field) {
			t.Errorf("body %s lacks %s", r.raw, field)
		}
	}

	srv.SetTokenPolicy(TokenPolicy{ExpiresIn: 90 * time.Second, ExtExpiresIn: 3 * time.Hour})
	r = postForm(t, srv, tokenPath(DefaultTenantID), ccForm())
	for _, field := range []string{`"expires_in":90,`, `"ext_expires_in":10800,`} {
		if !strings.Contains(string(r.raw), field) {
			t.Errorf("body %s lacks %s", r.raw, field)
		}
	}
	if _, ok := r.json["refresh_in"]; ok {
		t.Errorf("refresh_in still sent after the policy dropped it: %s", r.raw)
	}
	claims, err := srv.VerifyToken(r.str("access_token"))
	if err != nil {
		t.Fatal(err)
	}
	// exp is issue time + ExpiresIn; iat is backdated 5 minutes as Entra does.
	if got := claims["exp"].(float64) - claims["iat"].(float64); got != 90+300 {
		t.Errorf("exp - iat = %v, want 390", got)
	}

	srv.SetTokenPolicy(TokenPolicy{ExpiresIn: 300 * time.Millisecond})
	r = postForm(t, srv, tokenPath(DefaultTenantID), ccForm())
	if !strings.Contains(string(r.raw), `"expires_in":1,`) {
		t.Errorf("sub-second lifetime must round up to 1s: %s", r.raw)
	}
}

func TestTokenV1Endpoint(t *testing.T) {
	srv := newTestServer(t, nil)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}, "resource": {"https://vault.azure.net"}}
	r := postForm(t, srv, "/"+DefaultTenantID+"/oauth2/token", form)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if r.str("expires_in") != "3600" || r.str("resource") != "https://vault.azure.net" || r.str("expires_on") == "" || r.str("not_before") == "" {
		t.Errorf("v1 body = %s", r.raw)
	}
	claims, err := srv.VerifyToken(r.str("access_token"))
	if err != nil || claims["aud"] != "https://vault.azure.net" {
		t.Errorf("claims %v, err %v", claims, err)
	}
	r = postForm(t, srv, "/"+DefaultTenantID+"/oauth2/token", with(form, "resource", ""))
	wantEntraError(t, r, 400, "invalid_request", 900144)
}

func TestTokenRequestLog(t *testing.T) {
	clock := newTestClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	srv := newTestServer(t, &Options{Now: clock.Now})
	claims := `{"access_token":{"xms_cc":{"values":["CP1"]}}}`
	postForm(t, srv, tokenPath(DefaultTenantID), with(ccForm(), "claims", claims))
	postForm(t, srv, tokenPath(strings.ToUpper(DefaultTenantID)), with(ccForm(), "client_secret", "hunter2"))

	log := srv.TokenRequests()
	if len(log) != 2 {
		t.Fatalf("log has %d entries, want 2", len(log))
	}
	want := TokenRequest{
		Time: clock.Now(), Tenant: DefaultTenantID, ClientID: DefaultClientID, GrantType: "client_credentials",
		Scope: "api://demo/.default openid offline_access profile", Claims: claims, Status: 200,
		CorrelationID: log[0].CorrelationID,
	}
	if log[0] != want {
		t.Errorf("log[0] = %+v\nwant     %+v", log[0], want)
	}
	if log[1].Status != 401 || log[1].ErrorCode != 7000215 || log[1].Tenant != DefaultTenantID {
		t.Errorf("log[1] = %+v", log[1])
	}
	for _, e := range log {
		if s := fmt.Sprintf("%#v", e); strings.Contains(s, DefaultClientSecret) || strings.Contains(s, "hunter2") {
			t.Errorf("log entry holds a secret: %s", s)
		}
	}

	srv.ResetCounts()
	if len(srv.TokenRequests()) != 0 || srv.Requests(EndpointToken) != 0 {
		t.Error("ResetCounts did not reset the log and counts")
	}
}

func TestMultiTenantApp(t *testing.T) {
	const (
		home   = "a0000000-0000-4000-8000-00000000000a"
		guest  = "b0000000-0000-4000-8000-00000000000b"
		other  = "c0000000-0000-4000-8000-00000000000c"
		client = "d0000000-0000-4000-8000-00000000000d"
		single = "e0000000-0000-4000-8000-00000000000e"
	)
	srv := newTestServer(t, &Options{Apps: []App{
		{TenantID: home, ClientID: client, Secret: "s1", AllowedTenants: []string{guest}},
		{TenantID: other, ClientID: single, Secret: "s2"},
	}})
	form := func(c, secret string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {c}, "client_secret": {secret}, "scope": {"api://x/.default"}}
	}
	oids := map[string]string{}
	for _, tenant := range []string{home, guest} {
		r := postForm(t, srv, tokenPath(tenant), form(client, "s1"))
		if r.status != 200 {
			t.Fatalf("tenant %s: %d %s", tenant, r.status, r.raw)
		}
		claims, err := srv.VerifyToken(r.str("access_token"))
		if err != nil {
			t.Fatal(err)
		}
		if claims["tid"] != tenant || claims["iss"] != srv.URL()+"/"+tenant+"/v2.0" {
			t.Errorf("tenant %s: tid %v iss %v", tenant, claims["tid"], claims["iss"])
		}
		if claims["oid"] != ServicePrincipalID(tenant, client) {
			t.Errorf("oid = %v, want %s", claims["oid"], ServicePrincipalID(tenant, client))
		}
		oids[tenant] = claims["oid"].(string)
	}
	if oids[home] == oids[guest] {
		t.Error("the app has the same service principal in two tenants")
	}
	// The multi-tenant app is not provisioned in a third tenant that exists.
	wantEntraError(t, postForm(t, srv, tokenPath(other), form(client, "s1")), 400, "unauthorized_client", 700016)
	// A single-tenant app is unknown in the others.
	wantEntraError(t, postForm(t, srv, tokenPath(home), form(single, "s2")), 400, "unauthorized_client", 700016)

	// "*" provisions an app in every tenant, so every GUID tenant exists.
	const anyApp = "f0000000-0000-4000-8000-00000000000f"
	if err := srv.AddApp(App{TenantID: home, ClientID: anyApp, Secret: "s3", AllowedTenants: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	random := newGUID()
	r := postForm(t, srv, tokenPath(random), form(anyApp, "s3"))
	if r.status != 200 {
		t.Fatalf("wildcard app in a random tenant: %d %s", r.status, r.raw)
	}
	if claims, _ := srv.VerifyToken(r.str("access_token")); claims["tid"] != random {
		t.Errorf("tid = %v, want %s", claims["tid"], random)
	}
}

func TestAddAppValidation(t *testing.T) {
	srv := newTestServer(t, nil)
	for _, a := range []App{
		{ClientID: "x"},
		{TenantID: "t"},
		{TenantID: "common", ClientID: "x"},
		{TenantID: "bad/tenant", ClientID: "x"},
		{TenantID: "t", ClientID: "x y"},
		{TenantID: "t", ClientID: "x", AllowedTenants: []string{"organizations"}},
		{TenantID: DefaultTenantID, ClientID: strings.ToUpper(DefaultClientID)}, // duplicate
	} {
		if err := srv.AddApp(a); err == nil {
			t.Errorf("AddApp(%+v) succeeded", a)
		}
	}
	if _, err := NewServer(&Options{Apps: []App{{TenantID: "t"}}}); err == nil {
		t.Error("NewServer accepted an app without a client ID")
	}
	// A new app brings its tenant into existence.
	const tenant = "12345678-0000-4000-8000-000000000000"
	if err := srv.AddApp(App{TenantID: tenant, ClientID: "app", Secret: "s"}); err != nil {
		t.Fatal(err)
	}
	r := postForm(t, srv, tokenPath(tenant), url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"s"}, "scope": {"api://x/.default"}})
	if r.status != 200 {
		t.Errorf("token for added app: %d %s", r.status, r.raw)
	}
}

func TestAppWithoutSecret(t *testing.T) {
	srv := newTestServer(t, &Options{Apps: []App{{TenantID: DefaultTenantID, ClientID: DefaultClientID}}})
	// An app with no secret registered accepts no secret, not the empty one.
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), ccForm()), 401, "invalid_client", 7000215)
}
