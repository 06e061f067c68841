package entratest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// authCode is an issued authorization code.
type authCode struct {
	client      userClient
	redirectURI string
	scope       string
	claims      string
	nonce       string
	challenge   string
	method      string // "S256" or "plain"
	user        *user
	tenant      string // the token's tenant (never an alias)
	authTime    time.Time
	expires     time.Time
	redeemed    bool
}

// authCodeLifetime is how long a code can be redeemed, as in Entra.
const authCodeLifetime = 10 * time.Minute

// authorizeRequest is a validated authorization request.
type authorizeRequest struct {
	params url.Values // the parameters, passed through the sign-in form
	client userClient
	tenant string // path tenant, lower-case (may be an alias)
}

// signInPage is the emulator's sign-in form. Its element IDs (username,
// password, signin, deny, error) are stable: browser tests rely on them.
var signInPage = template.Must(template.New("signin").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - entratest</title></head>
<body>
<h1>Sign in</h1>
<p>to <code>{{.ClientID}}</code> (Entra ID emulator)</p>
{{if .Error}}<p id="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" id="signin-form">
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<label>Username <input id="username" name="username" type="email" autocomplete="username" value="{{.LoginHint}}"></label>
<label>Password <input id="password" name="password" type="password" autocomplete="current-password"></label>
<button id="signin" type="submit" name="action" value="signin">Sign in</button>
<button id="deny" type="submit" name="action" value="deny">Cancel</button>
</form>
</body></html>
`))

// errorPage is shown when the request is too broken to redirect back.
var errorPage = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in error - entratest</title></head>
<body><h1>Sorry, but we're having trouble signing you in.</h1>
<p id="error">AADSTS{{.Code}}: {{.Message}}</p></body></html>
`))

type hiddenField struct{ Name, Value string }

// authorizeParams are the request parameters carried through the form.
var authorizeParams = []string{"client_id", "response_type", "redirect_uri", "scope", "state",
	"code_challenge", "code_challenge_method", "nonce", "response_mode", "claims", "prompt", "login_hint"}

// handleAuthorize serves the authorize endpoint: GET shows the sign-in
// form (or, in auto-approve mode, signs in at once); POST is the form.
func (s *Server) handleAuthorize(x *exchange) {
	x.setNoCache()
	x.r.Body = http.MaxBytesReader(x.w, x.r.Body, maxFormBytes)
	if err := x.r.ParseForm(); err != nil {
		s.authorizeErrorPage(x, errInvalidParameter("request"))
		return
	}
	params := x.r.Form
	req, e := s.validateAuthorize(x, params)
	if e != nil {
		s.authorizeErrorPage(x, e)
		return
	}
	if e := s.checkAuthorizeRedirectable(params); e != nil {
		s.redirectError(x, req, e.oauth, e)
		return
	}
	if x.r.Method == http.MethodGet {
		s.users.mu.Lock()
		auto := s.users.autoApprove
		s.users.mu.Unlock()
		if auto != "" {
			s.signIn(x, req, auto, "", true)
			return
		}
		s.showSignIn(x, req, "")
		return
	}
	if x.r.PostForm.Get("action") == "deny" {
		s.redirectError(x, req, "access_denied", &entraError{code: 65004, message: "User declined to consent to access the app."})
		return
	}
	s.signIn(x, req, x.r.PostForm.Get("username"), x.r.PostForm.Get("password"), false)
}

// validateAuthorize checks what must hold before the emulator may
// redirect anywhere: the tenant, the client and its redirect URI.
func (s *Server) validateAuthorize(x *exchange, p url.Values) (authorizeRequest, *entraError) {
	tenant := strings.ToLower(x.r.PathValue("tenant"))
	if !isSpecialTenant(tenant) {
		if e := s.tenantError(tenant); e != nil {
			return authorizeRequest{}, e
		}
	}
	clientID := p.Get("client_id")
	if clientID == "" {
		return authorizeRequest{}, errMissingParameter("client_id")
	}
	var c userClient
	var ok bool
	if isSpecialTenant(tenant) {
		c, ok = s.anyClient(clientID)
	} else {
		c, ok = s.clientInTenant(clientID, tenant)
	}
	if !ok {
		return authorizeRequest{}, errUnknownClient(clientID, tenant)
	}
	redirect := p.Get("redirect_uri")
	if redirect == "" {
		return authorizeRequest{}, errMissingParameter("redirect_uri")
	}
	if !redirectAllowed(c, redirect) {
		e := errRedirectMismatch(redirect, clientID)
		e.oauth = "invalid_request"
		return authorizeRequest{}, e
	}
	return authorizeRequest{params: p, client: c, tenant: tenant}, nil
}

// checkAuthorizeRedirectable checks the rest; its errors go back to the
// client's redirect URI.
func (s *Server) checkAuthorizeRedirectable(p url.Values) *entraError {
	if rt := p.Get("response_type"); rt != "code" {
		return &entraError{oauth: "unsupported_response_type", code: 700054,
			message: "response_type '" + rt + "' is not supported; this emulator supports 'code'."}
	}
	if p.Get("scope") == "" {
		return &entraError{oauth: "invalid_request", code: 900144,
			message: "The request body must contain the following parameter: 'scope'."}
	}
	if _, e := parseUserScope(p.Get("scope")); e != nil {
		return e
	}
	if p.Get("code_challenge") != "" {
		switch p.Get("code_challenge_method") {
		case "S256", "plain", "":
		default:
			return &entraError{oauth: "invalid_request", code: 501471,
				message: "Invalid code_challenge_method: only 'S256' and 'plain' are supported."}
		}
	}
	return nil
}

func (s *Server) showSignIn(x *exchange, req authorizeRequest, msg string) {
	var hidden []hiddenField
	for _, k := range authorizeParams {
		if v := req.params.Get(k); v != "" {
			hidden = append(hidden, hiddenField{k, v})
		}
	}
	hint := req.params.Get("login_hint")
	if u := x.r.PostForm.Get("username"); u != "" {
		hint = u
	}
	x.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	x.w.Header().Set("X-Frame-Options", "DENY")
	x.status = http.StatusOK
	x.w.WriteHeader(http.StatusOK)
	_ = signInPage.Execute(x.w, map[string]any{
		"ClientID": req.client.ClientID, "Error": msg, "Hidden": hidden, "LoginHint": hint,
	})
}

func (s *Server) authorizeErrorPage(x *exchange, e *entraError) {
	x.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	x.status = http.StatusBadRequest
	x.w.WriteHeader(http.StatusBadRequest)
	_ = errorPage.Execute(x.w, map[string]any{"Code": e.code, "Message": e.message})
}

// signIn checks the credentials (unless auto) and redirects with a code.
func (s *Server) signIn(x *exchange, req authorizeRequest, username, password string, auto bool) {
	st := s.users
	st.mu.Lock()
	u, ok := st.lookupUserLocked(username)
	st.mu.Unlock()
	if !ok || (!auto && !secretMatches(u.Password, password)) {
		s.showSignIn(x, req, "AADSTS50126: Error validating credentials due to invalid username or password.")
		return
	}
	tid, e := userTenant(req.tenant, u)
	if e != nil {
		s.showSignIn(x, req, "AADSTS50020: This account does not exist in the tenant of the application.")
		return
	}
	if !req.client.firstParty {
		if _, ok := s.dir.lookup(tid, req.client.ClientID); !ok {
			s.redirectError(x, req, "unauthorized_client", errUnknownClient(req.client.ClientID, tid))
			return
		}
	}
	method := req.params.Get("code_challenge_method")
	if method == "" && req.params.Get("code_challenge") != "" {
		method = "plain"
	}
	now := s.now()
	code := &authCode{
		client:      req.client,
		redirectURI: req.params.Get("redirect_uri"),
		scope:       req.params.Get("scope"),
		claims:      req.params.Get("claims"),
		nonce:       req.params.Get("nonce"),
		challenge:   req.params.Get("code_challenge"),
		method:      method,
		user:        u,
		tenant:      tid,
		authTime:    now,
		expires:     now.Add(authCodeLifetime),
	}
	value := randomToken("entratest-code.")
	st.mu.Lock()
	u.interactionRequired = false // the user has just signed in interactively
	st.codes[value] = code
	st.mu.Unlock()
	q := url.Values{"code": {value}, "session_state": {newGUID()}}
	if v := req.params.Get("state"); v != "" {
		q.Set("state", v)
	}
	s.redirect(x, req, q)
}

// redirectError sends an OAuth error back to the client's redirect URI.
func (s *Server) redirectError(x *exchange, req authorizeRequest, oauth string, e *entraError) {
	q := url.Values{"error": {oauth}, "error_description": {"AADSTS" + strconv.Itoa(e.code) + ": " + e.message}}
	if v := req.params.Get("state"); v != "" {
		q.Set("state", v)
	}
	s.redirect(x, req, q)
}

// formPostPage delivers the answer with response_mode=form_post, as Entra
// does: a form the browser posts to the redirect URI at once, so the code
// is never in a URL. MSAL Go asks for this and refuses a GET redirect.
var formPostPage = template.Must(template.New("formpost").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Working...</title></head>
<body><form method="post" id="form-post" action="{{.Action}}">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<noscript><p>Script is disabled. Click Submit to continue.</p><button type="submit">Submit</button></noscript>
</form>
<script>document.getElementById("form-post").submit();</script>
</body></html>
`))

// redirect sends the answer q to the client's redirect URI: in its query
// (a 302), or posted by the browser for response_mode=form_post.
func (s *Server) redirect(x *exchange, req authorizeRequest, q url.Values) {
	u, err := url.Parse(req.params.Get("redirect_uri"))
	if err != nil {
		s.authorizeErrorPage(x, errInvalidParameter("redirect_uri"))
		return
	}
	if req.params.Get("response_mode") == "form_post" {
		var fields []hiddenField
		for _, k := range []string{"code", "error", "error_description", "state", "session_state"} {
			if v := q.Get(k); v != "" {
				fields = append(fields, hiddenField{k, v})
			}
		}
		x.w.Header().Set("Content-Type", "text/html; charset=utf-8")
		x.status = http.StatusOK
		x.w.WriteHeader(http.StatusOK)
		_ = formPostPage.Execute(x.w, map[string]any{"Action": u.String(), "Fields": fields})
		return
	}
	merged := u.Query()
	for k, v := range q {
		merged[k] = v
	}
	u.RawQuery = merged.Encode()
	x.status = http.StatusFound
	http.Redirect(x.w, x.r, u.String(), http.StatusFound)
}

// authorizationCodeGrant redeems a code, once.
func (s *Server) authorizationCodeGrant(x *exchange, tenant string) (grantResult, *entraError) {
	value := x.form.Get("code")
	if value == "" {
		return grantResult{}, errMissingParameter("code")
	}
	st := s.users
	st.mu.Lock()
	code, ok := st.codes[value]
	st.mu.Unlock()
	if !ok {
		return grantResult{}, errBadAuthCode()
	}
	if !strings.EqualFold(x.form.Get("client_id"), code.client.ClientID) {
		if _, _, basic := basicAuth(x.r); !basic || x.form.Get("client_id") != "" {
			return grantResult{}, errGrantOtherClient()
		}
	}
	c, e := s.authenticateUserClient(x, code.tenant)
	if e != nil {
		return grantResult{}, e
	}
	if !strings.EqualFold(c.ClientID, code.client.ClientID) {
		return grantResult{}, errGrantOtherClient()
	}
	if !isSpecialTenant(tenant) && tenant != code.tenant {
		if _, e := userTenant(tenant, code.user); e != nil {
			return grantResult{}, e
		}
	}
	if x.form.Get("redirect_uri") != code.redirectURI {
		return grantResult{}, errRedirectMismatch(x.form.Get("redirect_uri"), c.ClientID)
	}
	if code.challenge != "" && !pkceMatches(code.challenge, code.method, x.form.Get("code_verifier")) {
		return grantResult{}, errPKCEMismatch()
	}
	st.mu.Lock()
	switch {
	case code.redeemed:
		e = errCodeRedeemed()
	case !s.now().Before(code.expires):
		e = errCodeExpired()
	default:
		code.redeemed = true
	}
	st.mu.Unlock()
	if e != nil {
		return grantResult{}, e
	}
	tid := code.tenant
	if !isSpecialTenant(tenant) {
		tid = tenant
	}
	scope := x.form.Get("scope")
	if scope == "" {
		scope = code.scope
	}
	claims := x.form.Get("claims")
	if claims == "" {
		claims = code.claims
	}
	return s.issueUserTokens(x, userIssue{user: code.user, client: c, tenant: tid, scope: scope, claims: claims,
		nonce: code.nonce, authTime: code.authTime})
}

// pkceMatches verifies a code_verifier against the code's challenge.
func pkceMatches(challenge, method, verifier string) bool {
	if verifier == "" {
		return false
	}
	want := verifier
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}
