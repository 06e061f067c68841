package entratest

import (
	"net/url"
	"strings"
	"testing"
)

// Scope rules Entra enforces on every flow, checked on the client
// credentials grant: malformed scope tokens and .default mixed with
// resource-specific scopes are AADSTS70011, so a client that builds scopes
// sloppily fails here as it would against Entra.
func TestScopeStrictness(t *testing.T) {
	srv := newTestServer(t, nil)
	for _, tt := range []struct {
		scope string
		code  int
		text  string // in error_description
	}{
		{"api://demo/.default https://graph.microsoft.com/User.Read", 70011, ".default scope can't be combined with resource-specific scopes"},
		{"https://graph.microsoft.com/User.Read api://demo/.default openid", 70011, ".default scope can't be combined"},
		{"api://demo/.default Mail.Read", 70011, ".default scope can't be combined"},
		{"api://de\"mo/.default", 70011, "is not valid"},
		{`api://de\mo/.default`, 70011, "is not valid"},
		{"api://démo/.default", 70011, "is not valid"},
		{"api://demo/.default\x00", 70011, "is not valid"},
		{"api://a/.default api://b/.default", 70011, "The scope api://a/.default api://b/.default is not valid"},
		{"/.default", 70011, "is not valid"},
		{"https://graph.microsoft.com/User.Read", 1002012, "/.default suffixed"},
		{"   ", 70011, "must include a 'scope'"},
	} {
		r := postForm(t, srv, tokenPath(DefaultTenantID), with(ccForm(), "scope", tt.scope))
		wantEntraError(t, r, 400, "invalid_scope", tt.code)
		if !strings.Contains(r.str("error_description"), tt.text) {
			t.Errorf("scope %q: error_description %q lacks %q", tt.scope, r.str("error_description"), tt.text)
		}
	}
	// Still accepted: the OIDC scopes MSAL adds, any case of .default.
	for _, scope := range []string{"api://demo/.default", "openid profile offline_access api://demo/.DEFAULT"} {
		if r := postForm(t, srv, tokenPath(DefaultTenantID), with(ccForm(), "scope", scope)); r.status != 200 {
			t.Errorf("scope %q: %d %s", scope, r.status, r.raw)
		}
	}
}

// An unknown tenant is AADSTS90002 on every endpoint that takes a tenant,
// v1 and v2.0, directly and through the proxy; a string that cannot be a
// tenant is 900023.
func TestUnknownTenant(t *testing.T) {
	srv := newProxyServer(t, nil)
	const unknown = "0badc0de-0000-4000-8000-000000000000"
	v1 := url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}, "resource": {"api://demo"}}
	wantEntraError(t, postForm(t, srv, "/"+unknown+"/oauth2/v2.0/token", ccForm()), 400, "invalid_request", 90002)
	wantEntraError(t, postForm(t, srv, "/"+unknown+"/oauth2/token", v1), 400, "invalid_request", 90002)
	wantEntraError(t, postForm(t, srv, "/bad_tenant!/oauth2/token", v1), 400, "invalid_request", 900023)
	wantEntraError(t, get(t, srv, "/"+unknown+"/v2.0/.well-known/openid-configuration"), 400, "invalid_tenant", 90002)
	wantEntraError(t, get(t, srv, "/"+unknown+"/.well-known/openid-configuration"), 400, "invalid_tenant", 90002)
	wantEntraError(t, get(t, srv, "/unknown.example/v2.0/.well-known/openid-configuration"), 400, "invalid_tenant", 90002)

	req, _ := newFormRequest("https://login.microsoftonline.com/"+unknown+"/oauth2/v2.0/token", ccForm())
	wantEntraError(t, proxyDo(t, srv, req), 400, "invalid_request", 90002)

	// The log names the tenant and the code, so a test can assert why a
	// client failed.
	log := srv.TokenRequests()
	if len(log) != 4 || log[0].Tenant != unknown || log[0].ErrorCode != 90002 {
		t.Errorf("token log = %+v", log)
	}
}
