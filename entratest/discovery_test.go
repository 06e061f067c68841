package entratest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestOpenIDConfigurationV2(t *testing.T) {
	srv := newTestServer(t, nil)
	r := get(t, srv, "/"+DefaultTenantID+"/v2.0/.well-known/openid-configuration")
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	base := srv.URL() + "/" + DefaultTenantID
	for field, want := range map[string]string{
		"issuer":                        base + "/v2.0",
		"token_endpoint":                base + "/oauth2/v2.0/token",
		"authorization_endpoint":        base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":          base + "/oauth2/v2.0/logout",
		"jwks_uri":                      base + "/discovery/v2.0/keys",
		"tenant_region_scope":           "NA",
	} {
		if got := r.str(field); got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
	if rt, _ := r.json["response_types_supported"].([]any); len(rt) == 0 {
		t.Errorf("response_types_supported missing: %s", r.raw)
	}
	if n := srv.Requests(EndpointOpenIDConfiguration); n != 1 {
		t.Errorf("Requests = %d", n)
	}

	// The jwks_uri it advertises works.
	if r := get(t, srv, strings.TrimPrefix(r.str("jwks_uri"), srv.URL())); r.status != 200 {
		t.Errorf("jwks_uri: %d", r.status)
	}
}

func TestOpenIDConfigurationV1(t *testing.T) {
	srv := newTestServer(t, nil)
	r := get(t, srv, "/"+DefaultTenantID+"/.well-known/openid-configuration")
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if got, want := r.str("issuer"), "https://sts.windows.net/"+DefaultTenantID+"/"; got != want {
		t.Errorf("issuer = %q, want %q", got, want)
	}
	if got, want := r.str("token_endpoint"), srv.URL()+"/"+DefaultTenantID+"/oauth2/token"; got != want {
		t.Errorf("token_endpoint = %q, want %q", got, want)
	}
}

func TestOpenIDConfigurationCommon(t *testing.T) {
	srv := newTestServer(t, nil)
	for _, tenant := range []string{"common", "organizations", "consumers"} {
		r := get(t, srv, "/"+tenant+"/v2.0/.well-known/openid-configuration")
		if r.status != 200 {
			t.Fatalf("%s: %d", tenant, r.status)
		}
		// MSAL substitutes the tenant into this placeholder.
		if got, want := r.str("issuer"), srv.URL()+"/{tenantid}/v2.0"; got != want {
			t.Errorf("%s issuer = %q, want %q", tenant, got, want)
		}
		if got, want := r.str("token_endpoint"), srv.URL()+"/"+tenant+"/oauth2/v2.0/token"; got != want {
			t.Errorf("%s token_endpoint = %q", tenant, got)
		}
		if v, ok := r.json["tenant_region_scope"]; !ok || v != nil {
			t.Errorf("tenant_region_scope = %v, want null", v)
		}
	}
}

func TestOpenIDConfigurationUnknownTenant(t *testing.T) {
	srv := newTestServer(t, nil)
	r := get(t, srv, "/0badc0de-0000-4000-8000-000000000000/v2.0/.well-known/openid-configuration")
	wantEntraError(t, r, 400, "invalid_tenant", 90002)
	r = get(t, srv, "/not-a-tenant/.well-known/openid-configuration")
	wantEntraError(t, r, 400, "invalid_request", 900023)
	if n := srv.Requests(EndpointOpenIDConfiguration); n != 2 {
		t.Errorf("Requests = %d, want 2", n)
	}
}

// The documents name whatever host the client used, so MSAL's check that
// the issuer is on the authority's host passes for localhost too.
func TestDiscoveryUsesRequestHost(t *testing.T) {
	srv := newTestServer(t, nil)
	port := srv.URL()[strings.LastIndex(srv.URL(), ":")+1:]
	req, _ := http.NewRequest(http.MethodGet, "https://localhost:"+port+"/"+DefaultTenantID+"/v2.0/.well-known/openid-configuration", nil)
	r := do(t, srv, req)
	if got, want := r.str("token_endpoint"), "https://localhost:"+port+"/"+DefaultTenantID+"/oauth2/v2.0/token"; got != want {
		t.Errorf("token_endpoint = %q, want %q", got, want)
	}
}

func TestInstanceDiscovery(t *testing.T) {
	srv := newTestServer(t, nil)
	host := strings.TrimPrefix(srv.URL(), "https://")
	q := url.Values{"api-version": {"1.1"}, "authorization_endpoint": {srv.URL() + "/" + DefaultTenantID + "/oauth2/v2.0/authorize"}}
	r := get(t, srv, "/common/discovery/instance?"+q.Encode())
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	var body struct {
		TenantDiscoveryEndpoint string `json:"tenant_discovery_endpoint"`
		APIVersion              string `json:"api-version"`
		Metadata                []struct {
			PreferredNetwork string   `json:"preferred_network"`
			PreferredCache   string   `json:"preferred_cache"`
			Aliases          []string `json:"aliases"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(r.raw, &body); err != nil {
		t.Fatal(err)
	}
	if want := srv.URL() + "/" + DefaultTenantID + "/v2.0/.well-known/openid-configuration"; body.TenantDiscoveryEndpoint != want {
		t.Errorf("tenant_discovery_endpoint = %q, want %q", body.TenantDiscoveryEndpoint, want)
	}
	if body.APIVersion != "1.1" || len(body.Metadata) != 1 || body.Metadata[0].PreferredNetwork != host ||
		body.Metadata[0].PreferredCache != host || len(body.Metadata[0].Aliases) != 1 || body.Metadata[0].Aliases[0] != host {
		t.Errorf("body = %s", r.raw)
	}
	// The tenant discovery endpoint it returns works.
	if r := get(t, srv, strings.TrimPrefix(body.TenantDiscoveryEndpoint, srv.URL())); r.status != 200 {
		t.Errorf("tenant_discovery_endpoint answered %d", r.status)
	}

	for _, ae := range []string{
		"https://login.microsoftonline.com/" + DefaultTenantID + "/oauth2/v2.0/authorize",
		"https://127.0.0.1:1/" + DefaultTenantID + "/oauth2/v2.0/authorize", // wrong port
		"http://" + host + "/common/oauth2/v2.0/authorize",                  // not https
	} {
		q.Set("authorization_endpoint", ae)
		wantEntraError(t, get(t, srv, "/common/discovery/instance?"+q.Encode()), 400, "invalid_instance", 50049)
	}
	wantEntraError(t, get(t, srv, "/common/discovery/instance?api-version=1.1"), 400, "invalid_request", 900144)
	if n := srv.Requests(EndpointInstanceDiscovery); n != 5 {
		t.Errorf("Requests = %d, want 5", n)
	}
}

// The published JWKS verifies issued tokens on its own, as a resource
// server validating tokens would use it.
func TestKeysVerifyTokens(t *testing.T) {
	srv := newTestServer(t, nil)
	tok := getToken(t, srv, ccForm())
	for _, path := range []string{"/" + DefaultTenantID + "/discovery/v2.0/keys", "/common/discovery/keys", "/common/discovery/v2.0/keys"} {
		r := get(t, srv, path)
		var set struct {
			Keys []struct {
				Kty, Use, Kid, X5t, N, E, Issuer string
				X5c                              []string
			} `json:"keys"`
		}
		if err := json.Unmarshal(r.raw, &set); err != nil || len(set.Keys) != 1 {
			t.Fatalf("%s: %v %s", path, err, r.raw)
		}
		k := set.Keys[0]
		if k.Kty != "RSA" || k.Use != "sig" || k.Kid == "" || k.X5t == "" {
			t.Errorf("%s: key = %+v", path, k)
		}
		parts := strings.Split(tok, ".")
		var hdr map[string]string
		hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
		_ = json.Unmarshal(hb, &hdr)
		if hdr["kid"] != k.Kid || hdr["alg"] != "RS256" || hdr["typ"] != "JWT" {
			t.Errorf("token header %v does not match key %s", hdr, k.Kid)
		}
		nb, _ := base64.RawURLEncoding.DecodeString(k.N)
		eb, _ := base64.RawURLEncoding.DecodeString(k.E)
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: int(new(big.Int).SetBytes(eb).Int64())}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			t.Errorf("%s: JWKS key does not verify the token: %v", path, err)
		}
		der, _ := base64.StdEncoding.DecodeString(k.X5c[0])
		cert, err := x509.ParseCertificate(der)
		if err != nil || !cert.PublicKey.(*rsa.PublicKey).Equal(pub) {
			t.Errorf("%s: x5c does not hold the key: %v", path, err)
		}
		if strings.Contains(path, "v2.0") && !strings.HasSuffix(k.Issuer, "/v2.0") {
			t.Errorf("%s: issuer = %q", path, k.Issuer)
		}
	}
	if n := srv.Requests(EndpointKeys); n != 3 {
		t.Errorf("Requests(keys) = %d", n)
	}
}

func TestUnknownPath(t *testing.T) {
	srv := newTestServer(t, nil)
	if r := get(t, srv, "/nope"); r.status != 404 {
		t.Errorf("status %d", r.status)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/common/discovery/instance", nil)
	if r := do(t, srv, req); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST to a GET endpoint: %d", r.status)
	}
}
