package entratest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// passwordForm is the Azure CLI's `az login -u -p` request.
func passwordForm() url.Values {
	return url.Values{
		"grant_type":  {"password"},
		"client_id":   {AzureCLIClientID},
		"username":    {DefaultUsername},
		"password":    {DefaultPassword},
		"scope":       {"https://management.core.windows.net//.default offline_access openid profile"},
		"client_info": {"1"},
	}
}

func decodeJWT(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPasswordGrantAnswersLikeEntra(t *testing.T) {
	srv := newTestServer(t, nil)
	r := postForm(t, srv, tokenPath("organizations"), passwordForm())
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	oid, _ := srv.UserObjectID(DefaultUsername)
	hid, _ := srv.HomeAccountID(DefaultUsername)
	at, err := srv.VerifyToken(r.str("access_token"))
	if err != nil {
		t.Fatal(err)
	}
	if at["aud"] != "https://management.core.windows.net/" || at["scp"] != "user_impersonation" || at["oid"] != oid ||
		at["tid"] != DefaultTenantID || at["appid"] != AzureCLIClientID || at["idtyp"] != "user" || at["ver"] != "1.0" {
		t.Fatalf("access token claims = %v", at)
	}
	id := decodeJWT(t, r.str("id_token"))
	if id["aud"] != AzureCLIClientID || id["preferred_username"] != DefaultUsername || id["tid"] != DefaultTenantID || id["oid"] != oid ||
		!strings.HasSuffix(id["iss"].(string), "/"+DefaultTenantID+"/v2.0") || id["name"] != DefaultDisplayName {
		t.Fatalf("id_token claims = %v", id)
	}
	ci, err := base64.RawURLEncoding.DecodeString(r.str("client_info"))
	if err != nil || string(ci) != `{"uid":"`+oid+`","utid":"`+DefaultTenantID+`"}` || hid != oid+"."+DefaultTenantID {
		t.Fatalf("client_info = %s, %v", ci, err)
	}
	if r.str("refresh_token") == "" || r.str("foci") != "1" || !strings.Contains(r.str("scope"), "openid") {
		t.Fatalf("response = %s", r.raw)
	}
	// Without offline_access, openid and client_info=1: none of them.
	f := with(with(passwordForm(), "scope", "https://storage.azure.com/user_impersonation"), "client_info", "")
	r = postForm(t, srv, tokenPath(DefaultTenantID), f)
	if r.status != 200 || r.str("refresh_token") != "" || r.str("id_token") != "" || r.str("client_info") != "" {
		t.Fatalf("minimal request answered %d %s", r.status, r.raw)
	}
}

func TestPasswordGrantErrors(t *testing.T) {
	srv := newTestServer(t, nil)
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), with(passwordForm(), "password", "nope")), 400, "invalid_grant", 50126)
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), with(passwordForm(), "username", "nobody@x")), 400, "invalid_grant", 50034)
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), with(passwordForm(), "password", "")), 400, "invalid_request", 900144)
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), with(passwordForm(), "client_id", "00000000-0000-0000-0000-000000000001")), 400, "unauthorized_client", 700016)
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), with(passwordForm(), "scope", "https://a/x https://b/y")), 400, "invalid_scope", 28000)
	// A public client presenting a secret is refused, as in Entra.
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), with(passwordForm(), "client_secret", "s")), 401, "invalid_client", 700025)
	// A confidential app must authenticate in user flows too.
	f := with(passwordForm(), "client_id", DefaultClientID)
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), f), 401, "invalid_client", 7000218)
	if r := postForm(t, srv, tokenPath(DefaultTenantID), with(f, "client_secret", DefaultClientSecret)); r.status != 200 {
		t.Fatalf("confidential with secret: %d %s", r.status, r.raw)
	}
	if err := srv.SetInteractionRequired(DefaultUsername, true); err != nil {
		t.Fatal(err)
	}
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), passwordForm()), 400, "invalid_grant", 50076)
	if err := srv.SetInteractionRequired("nobody@x", true); err == nil {
		t.Fatal("unknown user accepted")
	}
}

func TestRefreshTokenGrant(t *testing.T) {
	clock := newTestClock(time.Now())
	srv := newTestServer(t, &Options{Now: clock.Now})
	first := postForm(t, srv, tokenPath("organizations"), passwordForm())
	rt := first.str("refresh_token")
	refresh := func(rt string) response {
		return postForm(t, srv, tokenPath("organizations"), url.Values{
			"grant_type": {"refresh_token"}, "client_id": {AzureCLIClientID}, "refresh_token": {rt},
			"scope": {"https://vault.azure.net/.default openid offline_access profile"}, "client_info": {"1"},
		})
	}
	r := refresh(rt)
	if r.status != 200 || r.str("refresh_token") == "" || r.str("refresh_token") == rt {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	if at, _ := srv.VerifyToken(r.str("access_token")); at["aud"] != "https://vault.azure.net" {
		t.Fatalf("aud = %v", at["aud"])
	}
	// Redeemed tokens stay valid by default (as in Entra)...
	if r := refresh(rt); r.status != 200 {
		t.Fatalf("second use: %d %s", r.status, r.raw)
	}
	// ...and not in single-use mode.
	srv.SetSingleUseRefreshTokens(true)
	wantEntraError(t, refresh(rt), 400, "invalid_grant", 9002313)
	wantEntraError(t, refresh("garbage"), 400, "invalid_grant", 9002313)
	rt2 := refresh(r.str("refresh_token")).str("refresh_token")
	wantEntraError(t, postForm(t, srv, tokenPath("organizations"), url.Values{
		"grant_type": {"refresh_token"}, "client_id": {azurePowerShellClientID}, "refresh_token": {rt2}, "scope": {"openid"},
	}), 400, "invalid_grant", 70000)
	if err := srv.RevokeRefreshTokens(DefaultUsername); err != nil {
		t.Fatal(err)
	}
	wantEntraError(t, refresh(rt2), 400, "invalid_grant", 50173)
	// A token unused for 90 days expires.
	rt3 := postForm(t, srv, tokenPath("organizations"), passwordForm()).str("refresh_token")
	clock.Advance(91 * 24 * time.Hour)
	wantEntraError(t, refresh(rt3), 400, "invalid_grant", 700082)
}

func TestUserTenants(t *testing.T) {
	other := "0ddba11e-0000-4000-8000-000000000001"
	srv := newTestServer(t, &Options{Users: []User{{Username: "guest@x.example", Password: "pw-123456", GuestTenants: []string{other}}}})
	f := with(with(passwordForm(), "username", "guest@x.example"), "password", "pw-123456")
	r := postForm(t, srv, tokenPath(other), f)
	if at, _ := srv.VerifyToken(r.str("access_token")); r.status != 200 || at["tid"] != other {
		t.Fatalf("guest tenant: %d %s", r.status, r.raw)
	}
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), passwordForm()), 400, "invalid_grant", 50034)
	third := "0ddba11e-0000-4000-8000-000000000002"
	if err := srv.AddApp(App{TenantID: third, ClientID: "0ddba11e-0000-4000-8000-0000000000c1", Secret: "s-123456"}); err != nil {
		t.Fatal(err)
	}
	wantEntraError(t, postForm(t, srv, tokenPath(third), f), 400, "invalid_grant", 50020)
}

// authorizeURL is a browser's authorization request for the Azure CLI app.
func authorizeQuery(redirect, challenge string) url.Values {
	q := url.Values{"client_id": {AzureCLIClientID}, "response_type": {"code"}, "redirect_uri": {redirect},
		"scope": {"https://storage.azure.com/.default openid offline_access profile"}, "state": {"st-1"}, "nonce": {"n-1"}}
	if challenge != "" {
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
	}
	return q
}

// noRedirect does req without following redirects.
func noRedirect(t *testing.T, srv *Server, req *http.Request) *http.Response {
	t.Helper()
	c := *srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestSignInPageAndAuthorizationCodeGrant(t *testing.T) {
	srv := newTestServer(t, nil)
	const redirect = "http://localhost:51234"
	verifier := "a-verifier-of-forty-three-characters-or-more-1234"
	sum := sha256.Sum256([]byte(verifier))
	q := authorizeQuery(redirect, base64.RawURLEncoding.EncodeToString(sum[:]))
	path := "/organizations/oauth2/v2.0/authorize"

	page := get(t, srv, path+"?"+q.Encode()+"&login_hint=ada%40entratest.example")
	if page.status != 200 || !strings.Contains(string(page.raw), `id="username"`) || !strings.Contains(string(page.raw), `value="ada@entratest.example"`) {
		t.Fatalf("sign-in page: %d %s", page.status, page.raw)
	}
	// The form posts back with the request's parameters.
	post := func(form url.Values) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL()+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return noRedirect(t, srv, req)
	}
	form := with(with(with(q, "username", DefaultUsername), "password", "wrong"), "action", "signin")
	if r := postForm(t, srv, path, form); r.status != 200 || !strings.Contains(string(r.raw), "AADSTS50126") {
		t.Fatalf("wrong password: %d %s", r.status, r.raw)
	}
	resp := post(with(form, "password", DefaultPassword))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if resp.StatusCode != 302 || !strings.HasPrefix(loc.String(), redirect+"?") || loc.Query().Get("state") != "st-1" || code == "" {
		t.Fatalf("sign-in answered %d, Location %s", resp.StatusCode, loc)
	}
	redeem := func(code, verifier, redirect string) response {
		return postForm(t, srv, tokenPath("organizations"), url.Values{"grant_type": {"authorization_code"}, "client_id": {AzureCLIClientID},
			"code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}, "client_info": {"1"},
			"scope": {"https://storage.azure.com/.default openid offline_access profile"}})
	}
	wantEntraError(t, redeem(code, "not-the-verifier", redirect), 400, "invalid_grant", 501481)
	wantEntraError(t, redeem(code, verifier, "http://localhost:1"), 400, "invalid_grant", 50011)
	r := redeem(code, verifier, redirect)
	if r.status != 200 || r.str("refresh_token") == "" {
		t.Fatalf("redeem: %d %s", r.status, r.raw)
	}
	if id := decodeJWT(t, r.str("id_token")); id["nonce"] != "n-1" {
		t.Fatalf("id_token nonce = %v", id["nonce"])
	}
	wantEntraError(t, redeem(code, verifier, redirect), 400, "invalid_grant", 54005)
	wantEntraError(t, redeem("entratest-code.unknown", verifier, redirect), 400, "invalid_grant", 9002313)

	// Cancel on the form: the error goes back to the app with the state.
	resp = post(with(form, "action", "deny"))
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "st-1" {
		t.Fatalf("deny: Location %s", loc)
	}
	if srv.Requests(EndpointAuthorize) != 4 {
		t.Fatalf("authorize requests = %d", srv.Requests(EndpointAuthorize))
	}
}

func TestAuthorizeRejects(t *testing.T) {
	srv := newTestServer(t, nil)
	path := "/organizations/oauth2/v2.0/authorize?"
	for name, q := range map[string]url.Values{
		"unknown client":      with(authorizeQuery("http://localhost:5000", ""), "client_id", "00000000-0000-0000-0000-000000000009"),
		"unregistered uri":    authorizeQuery("https://evil.example/cb", ""),
		"loopback other path": authorizeQuery("http://localhost:5000/other", ""),
		"no redirect":         with(authorizeQuery("", ""), "redirect_uri", ""),
	} {
		r := get(t, srv, path+q.Encode())
		if r.status != 400 || !strings.Contains(string(r.raw), "AADSTS") {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	// Errors after the redirect URI is known go back to it.
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+path+with(authorizeQuery("http://localhost:5000", ""), "response_type", "token").Encode(), nil)
	resp := noRedirect(t, srv, req)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc.Query().Get("error") != "unsupported_response_type" || loc.Query().Get("state") != "st-1" {
		t.Fatalf("response_type=token: %d %s", resp.StatusCode, loc)
	}
	// Auto-approve: straight back with a code.
	if err := srv.SetAutoApprove(DefaultUsername); err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodGet, srv.URL()+path+authorizeQuery("http://localhost:5000", "").Encode(), nil)
	resp = noRedirect(t, srv, req)
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != 302 || loc.Query().Get("code") == "" {
		t.Fatalf("auto-approve: %d %s", resp.StatusCode, loc)
	}
	if err := srv.SetAutoApprove("nobody@x"); err == nil {
		t.Fatal("unknown user accepted")
	}
}

func TestDeviceCodeEndpoint(t *testing.T) {
	clock := newTestClock(time.Now())
	srv := newTestServer(t, &Options{Now: clock.Now})
	srv.SetDeviceCodePolicy(DeviceCodePolicy{Interval: 2 * time.Second, ExpiresIn: time.Minute})
	start := func() response {
		return postForm(t, srv, "/organizations/oauth2/v2.0/devicecode", url.Values{"client_id": {AzureCLIClientID}, "scope": {"https://storage.azure.com/.default openid offline_access"}})
	}
	dc := start()
	if dc.status != 200 || dc.json["interval"] != float64(2) || dc.json["expires_in"] != float64(60) || len(dc.str("user_code")) != 9 ||
		!strings.Contains(dc.str("message"), dc.str("user_code")) {
		t.Fatalf("devicecode: %d %s", dc.status, dc.raw)
	}
	poll := func(dc response) response {
		return postForm(t, srv, tokenPath("organizations"), url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
			"client_id": {AzureCLIClientID}, "device_code": {dc.str("device_code")}, "client_info": {"1"}})
	}
	wantEntraError(t, poll(dc), 400, "authorization_pending", 70016)
	if err := srv.SlowDownDeviceCode(dc.str("user_code"), 1); err != nil {
		t.Fatal(err)
	}
	wantEntraError(t, poll(dc), 400, "slow_down", 70016)
	if err := srv.SetInteractionRequired(DefaultUsername, true); err != nil {
		t.Fatal(err)
	}
	if err := srv.ApproveDeviceCode(strings.ToLower(dc.str("user_code")), DefaultUsername); err != nil {
		t.Fatal(err)
	}
	if r := poll(dc); r.status != 200 || r.str("client_info") == "" || r.str("refresh_token") == "" {
		t.Fatalf("approved: %d %s", r.status, r.raw)
	}
	// Approval was an interactive sign-in: MFA is satisfied.
	if r := postForm(t, srv, tokenPath("organizations"), passwordForm()); r.status != 200 {
		t.Fatalf("after approval: %d %s", r.status, r.raw)
	}
	wantEntraError(t, poll(dc), 400, "invalid_grant", 70000)
	if err := srv.ApproveDeviceCode(dc.str("user_code"), DefaultUsername); err == nil {
		t.Fatal("a redeemed code was approved again")
	}
	denied := start()
	_ = srv.DenyDeviceCode(denied.str("user_code"))
	wantEntraError(t, poll(denied), 400, "authorization_declined", 70000)
	late := start()
	clock.Advance(2 * time.Minute)
	wantEntraError(t, poll(late), 400, "expired_token", 70019)
	expired := start()
	_ = srv.ExpireDeviceCode(expired.str("user_code"))
	wantEntraError(t, poll(expired), 400, "expired_token", 70019)
	wantEntraError(t, postForm(t, srv, "/organizations/oauth2/v2.0/devicecode", url.Values{"scope": {"openid"}}), 400, "invalid_request", 900144)
}

func TestUserRealmForUsers(t *testing.T) {
	srv := newTestServer(t, nil)
	r := get(t, srv, "/common/userrealm/ada@entratest.example?api-version=1.0")
	if r.status != 200 || r.str("account_type") != "Managed" || r.str("domain_name") != "entratest.example" {
		t.Fatalf("userrealm: %d %s", r.status, r.raw)
	}
}

func TestUsersValidation(t *testing.T) {
	for _, u := range []User{{Username: "a"}, {Password: "p"}, {Username: "a", Password: "p", TenantID: "common"},
		{Username: "a", Password: "p", ObjectID: "nope"}, {Username: "a", Password: "p", GuestTenants: []string{"bad tenant"}}} {
		if _, err := NewServer(&Options{Users: []User{u}}); err == nil {
			t.Errorf("user %+v accepted", u)
		}
	}
	if _, err := NewServer(&Options{Users: []User{{Username: "a", Password: "p"}, {Username: "A", Password: "q"}}}); err == nil {
		t.Error("duplicate username accepted")
	}
}

// The authorize endpoint renders whatever a browser sends into a page or
// a redirect: it never panics, never answers 5xx, and never redirects to a
// URI that is not registered.
func FuzzAuthorize(f *testing.F) {
	f.Add("client_id=" + AzureCLIClientID + "&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A1&scope=openid&state=s")
	f.Add("client_id=" + AzureCLIClientID + "&redirect_uri=https%3A%2F%2Fevil&scope=%00")
	f.Add("redirect_uri=%zz&code_challenge=x&code_challenge_method=S512")
	srv, err := NewServer(&Options{SigningKeyBits: 1024})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	h := srv.routes()
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "https://127.0.0.1/organizations/oauth2/v2.0/authorize", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d", rec.Code)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			u, err := url.Parse(loc)
			if err != nil || !isLoopbackHost(u.Hostname()) || u.Scheme != "http" {
				t.Fatalf("redirected to %q", loc)
			}
		}
	})
}

func FuzzParseUserScope(f *testing.F) {
	f.Add("https://management.core.windows.net//.default offline_access openid profile")
	f.Add("User.Read api://x/y")
	f.Add("/ //")
	f.Fuzz(func(t *testing.T, scope string) {
		us, e := parseUserScope(scope)
		if e == nil && (us.resource == "" || len(us.permissions) == 0) {
			t.Fatalf("accepted %q without a resource or permission: %+v", scope, us)
		}
	})
}

func TestDeviceLoginPage(t *testing.T) {
	srv := newTestServer(t, nil)
	dc := postForm(t, srv, "/organizations/oauth2/v2.0/devicecode", url.Values{"client_id": {AzureCLIClientID}, "scope": {"openid offline_access"}})
	if r := get(t, srv, "/devicelogin"); r.status != 200 || !strings.Contains(string(r.raw), `id="code"`) {
		t.Fatalf("page: %d %s", r.status, r.raw)
	}
	form := url.Values{"code": {dc.str("user_code")}, "username": {DefaultUsername}, "password": {"wrong"}}
	if r := postForm(t, srv, "/devicelogin", form); !strings.Contains(string(r.raw), "AADSTS50126") {
		t.Fatalf("wrong password: %s", r.raw)
	}
	if r := postForm(t, srv, "/devicelogin", with(with(form, "code", "NOTACODE1"), "password", DefaultPassword)); !strings.Contains(string(r.raw), "not valid") {
		t.Fatalf("wrong code: %s", r.raw)
	}
	if r := postForm(t, srv, "/devicelogin", with(form, "password", DefaultPassword)); !strings.Contains(string(r.raw), `id="result"`) {
		t.Fatalf("approve: %s", r.raw)
	}
	r := postForm(t, srv, tokenPath("organizations"), url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
		"client_id": {AzureCLIClientID}, "device_code": {dc.str("device_code")}})
	if r.status != 200 {
		t.Fatalf("poll after approval: %d %s", r.status, r.raw)
	}
}
