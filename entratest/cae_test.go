package entratest

import (
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestRevokeSessionsChallengesOnlyCAETokensIssuedBefore(t *testing.T) {
	srv := newTestServer(t, nil)
	armToken := func(claims string) string {
		t.Helper()
		f := ccForm()
		f.Set("scope", "https://management.azure.com/.default")
		if claims != "" {
			f.Set("claims", claims)
		}
		r := postForm(t, srv, tokenPath(DefaultTenantID), f)
		if r.status != http.StatusOK {
			t.Fatalf("token: %d %s", r.status, r.raw)
		}
		return r.str("access_token")
	}
	subscriptions := func(token string) response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL()+"/subscriptions?api-version=2019-11-01", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		return do(t, srv, req)
	}
	cae := armToken(`{"access_token":{"xms_cc":{"values":["CP1"]}}}`)
	plain := armToken("")

	srv.RevokeSessions()
	if r := subscriptions(plain); r.status != http.StatusOK {
		t.Fatalf("a token without CP1 was challenged: %d %s", r.status, r.raw)
	}
	r := subscriptions(cae)
	if r.status != http.StatusUnauthorized {
		t.Fatalf("a CAE token issued before the event: %d, want 401", r.status)
	}
	m := regexp.MustCompile(`error="insufficient_claims", claims="([^"]+)"`).FindStringSubmatch(r.header.Get("WWW-Authenticate"))
	if m == nil {
		t.Fatalf("no claims challenge in %q", r.header.Get("WWW-Authenticate"))
	}
	challenge, err := base64.StdEncoding.DecodeString(m[1])
	if err != nil || !strings.Contains(string(challenge), `"nbf"`) {
		t.Fatalf("challenge %q: %v", challenge, err)
	}
	// The client merges its capabilities into the challenge, as azid and
	// MSAL do, and the new token passes.
	merged := strings.Replace(string(challenge), `{"access_token":{`, `{"access_token":{"xms_cc":{"values":["CP1"]},`, 1)
	if r := subscriptions(armToken(merged)); r.status != http.StatusOK {
		t.Fatalf("the token answering the challenge was refused: %d %s", r.status, r.raw)
	}
}
