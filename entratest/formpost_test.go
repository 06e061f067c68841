package entratest

import (
	"html"
	"net/url"
	"regexp"
	"testing"
)

// formPostFields reads the action and hidden fields of a form_post page.
func formPostFields(t *testing.T, page []byte) (action string, fields url.Values) {
	t.Helper()
	m := regexp.MustCompile(`<form method="post" id="form-post" action="([^"]*)">`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no form_post form in %s", page)
	}
	fields = url.Values{}
	for _, f := range regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`).FindAllSubmatch(page, -1) {
		fields.Add(html.UnescapeString(string(f[1])), html.UnescapeString(string(f[2])))
	}
	return html.UnescapeString(string(m[1])), fields
}

// With response_mode=form_post (what MSAL Go asks for, and refuses a GET
// redirect without) the code and state, or the error, come back in a form
// the browser posts to the redirect URI, never in a URL; the code redeems
// as usual.
func TestAuthorizeFormPost(t *testing.T) {
	srv := newTestServer(t, nil)
	const redirect = "http://localhost:51234"
	q := authorizeQuery(redirect, "")
	q.Set("response_mode", "form_post")
	path := "/" + DefaultTenantID + "/oauth2/v2.0/authorize"
	form := with(with(with(q, "username", DefaultUsername), "password", DefaultPassword), "action", "signin")

	r := postForm(t, srv, path, form)
	if r.status != 200 {
		t.Fatalf("sign-in answered %d: %s", r.status, r.raw)
	}
	action, fields := formPostFields(t, r.raw)
	if action != redirect || fields.Get("state") != "st-1" || fields.Get("code") == "" || fields.Get("session_state") == "" {
		t.Fatalf("form_post to %q with %v", action, fields)
	}
	tok := postForm(t, srv, tokenPath(DefaultTenantID), url.Values{"grant_type": {"authorization_code"}, "client_id": {AzureCLIClientID},
		"code": {fields.Get("code")}, "redirect_uri": {redirect}, "scope": {"https://storage.azure.com/.default openid offline_access profile"}})
	if tok.status != 200 || tok.str("access_token") == "" {
		t.Fatalf("redeeming the posted code: %d %s", tok.status, tok.raw)
	}

	r = postForm(t, srv, path, with(form, "action", "deny"))
	action, fields = formPostFields(t, r.raw)
	if r.status != 200 || action != redirect || fields.Get("error") != "access_denied" || fields.Get("state") != "st-1" || fields.Get("code") != "" {
		t.Fatalf("deny: %d, form_post to %q with %v", r.status, action, fields)
	}
}
