package entratest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The token endpoint parses whatever clients send. For any path tenant,
// content type and body it answers (never panics) with JSON that is either a
// token or an Entra error with an AADSTS code, and never echoes the app's
// secret.
func FuzzTokenEndpoint(f *testing.F) {
	f.Add(DefaultTenantID, "application/x-www-form-urlencoded", "grant_type=client_credentials&client_id="+DefaultClientID+"&client_secret="+DefaultClientSecret+"&scope=api%3A%2F%2Fdemo%2F.default")
	f.Add(DefaultTenantID, "application/x-www-form-urlencoded", "grant_type=client_credentials&client_id="+DefaultClientID+"&client_secret=x&scope=a&claims=%7B%22access_token%22%3A%7B%7D%7D")
	f.Add("common", "application/x-www-form-urlencoded", "grant_type=password")
	f.Add("..", "text/plain", "%zz")
	f.Add(DefaultTenantID, "application/x-www-form-urlencoded", "claims=%5B&scope=%20%20")
	f.Add(DefaultTenantID, "application/x-www-form-urlencoded", "grant_type=client_credentials&client_id="+DefaultClientID+"&client_secret=x&client_secret=x&scope=a")
	f.Add(DefaultTenantID, "application/x-www-form-urlencoded", "client_assertion=a.b.c&client_assertion_type="+url.QueryEscape(clientAssertionType)+"&grant_type=client_credentials&client_id="+DefaultClientID)
	srv, err := NewServer(&Options{SigningKeyBits: 1024, OneTimeClientAssertions: true})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	h := srv.routes()
	f.Fuzz(func(t *testing.T, tenant, contentType, body string) {
		if tenant == "" || strings.ContainsFunc(tenant, func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune("/?#%\\", r) }) {
			return // not one valid path segment: no client can send it
		}
		req := httptest.NewRequest(http.MethodPost, "https://127.0.0.1/"+tenant+"/oauth2/v2.0/token", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusNotFound || rec.Code == http.StatusMovedPermanently || rec.Code == http.StatusTemporaryRedirect {
			return // a tenant segment the router does not treat as one (".", "..")
		}
		var got map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("status %d, body is not JSON: %q", rec.Code, rec.Body.String())
		}
		if rec.Code == http.StatusOK {
			if got["access_token"] == nil || got["token_type"] != "Bearer" {
				t.Fatalf("200 without a token: %v", got)
			}
		} else if got["error"] == nil || got["error_codes"] == nil {
			t.Fatalf("%d without an Entra error: %v", rec.Code, got)
		}
		if rec.Code >= 500 {
			t.Fatalf("server error %d for client input: %v", rec.Code, got)
		}
		// Entra echoes some inputs (grant type, scope, client ID, the name
		// of a duplicated parameter) in its messages, but never the secret:
		// a secret that shows up in the answer must have been sent in
		// another field, or as a parameter name, too.
		form, _ := url.ParseQuery(body)
		for _, secret := range form["client_secret"] {
			if len(secret) < 4 || !strings.Contains(rec.Body.String(), secret) || strings.Contains(tenant, secret) {
				continue
			}
			echoedElsewhere := false
			for k, vs := range form {
				echoedElsewhere = echoedElsewhere || strings.Contains(k, secret)
				for _, v := range vs {
					echoedElsewhere = echoedElsewhere || (k != "client_secret" && strings.Contains(v, secret))
				}
			}
			if !echoedElsewhere {
				t.Fatalf("the response echoes the client secret %q: %s", secret, rec.Body.String())
			}
		}
	})
}
