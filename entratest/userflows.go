package entratest

import (
	"strings"
)

// User flows: authorize page, device code, password, authorization code and
// refresh token grants, id_token and client_info.

// Endpoints of the user flows.
const (
	// EndpointAuthorize is the sign-in page of the authorization code
	// flow: GET and POST /{tenant}/oauth2/v2.0/authorize.
	EndpointAuthorize Endpoint = "authorize"
	// EndpointDeviceCode starts the device code flow:
	// POST /{tenant}/oauth2/v2.0/devicecode.
	EndpointDeviceCode Endpoint = "devicecode"
)

// Grant types of the user flows.
const (
	grantPassword          = "password"
	grantRefreshToken      = "refresh_token"
	grantAuthorizationCode = "authorization_code"
	grantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// userEndpoints lists the user-flow endpoints that get request counters.
func userEndpoints() []Endpoint {
	return []Endpoint{EndpointAuthorize, EndpointDeviceCode, EndpointDeviceLogin}
}

// addUserGrants registers the user-flow grants at the token endpoint.
func (s *Server) addUserGrants(g map[string]grantFunc) {
	g[grantPassword] = s.passwordGrant
	g[grantRefreshToken] = s.refreshTokenGrant
	g[grantAuthorizationCode] = s.authorizationCodeGrant
	g[grantDeviceCode] = s.deviceCodeGrant
	g["device_code"] = s.deviceCodeGrant // Entra's v1 spelling
}

// routeUserFlows routes the user-flow endpoints.
func (s *Server) routeUserFlows(handle func(pattern string, ep Endpoint, h handlerFunc)) {
	handle("GET /{tenant}/oauth2/v2.0/authorize", EndpointAuthorize, s.handleAuthorize)
	handle("POST /{tenant}/oauth2/v2.0/authorize", EndpointAuthorize, s.handleAuthorize)
	handle("POST /{tenant}/oauth2/v2.0/devicecode", EndpointDeviceCode, s.handleDeviceCode)
	handle("GET /devicelogin", EndpointDeviceLogin, s.handleDeviceLogin)
	handle("POST /devicelogin", EndpointDeviceLogin, s.handleDeviceLogin)
}

// passwordGrant is the resource owner password credentials flow (ROPC):
// UsernamePasswordCredential and `az login -u -p`.
func (s *Server) passwordGrant(x *exchange, tenant string) (grantResult, *entraError) {
	username, password := x.form.Get("username"), x.form.Get("password")
	if username == "" {
		return grantResult{}, errMissingParameter("username")
	}
	if password == "" {
		return grantResult{}, errMissingParameter("password")
	}
	st := s.users
	st.mu.Lock()
	u, ok := st.lookupUserLocked(username)
	mfa := ok && u.interactionRequired
	st.mu.Unlock()
	if !ok {
		return grantResult{}, errUserNotFound(tenant)
	}
	if !secretMatches(u.Password, password) {
		return grantResult{}, errBadPassword()
	}
	tid, e := userTenant(tenant, u)
	if e != nil {
		return grantResult{}, e
	}
	c, e := s.authenticateUserClient(x, tid)
	if e != nil {
		return grantResult{}, e
	}
	if mfa {
		return grantResult{}, errMFARequired()
	}
	return s.issueUserTokens(x, userIssue{user: u, client: c, tenant: tid, scope: x.form.Get("scope"), claims: x.form.Get("claims")})
}

// refreshTokenGrant redeems a refresh token for a token for any scope,
// with a new refresh token (rotation).
func (s *Server) refreshTokenGrant(x *exchange, tenant string) (grantResult, *entraError) {
	rt := x.form.Get("refresh_token")
	if rt == "" {
		return grantResult{}, errMissingParameter("refresh_token")
	}
	st := s.users
	st.mu.Lock()
	g, ok := st.refresh[rt]
	var u *user
	var mfa bool
	if ok {
		u, mfa = g.user, g.user.interactionRequired
	}
	var e *entraError
	switch {
	case !ok:
		e = errBadRefreshToken()
	case g.revoked:
		e = errRefreshTokenRevoked()
	case s.now().Sub(g.issued) > refreshTokenLifetime:
		e = errRefreshTokenExpired()
	case !strings.EqualFold(x.form.Get("client_id"), g.clientID) && x.form.Get("client_id") != "":
		e = errGrantOtherClient()
	}
	st.mu.Unlock()
	if e != nil {
		return grantResult{}, e
	}
	tid, e := userTenant(tenant, u)
	if e != nil {
		return grantResult{}, e
	}
	c, e := s.authenticateUserClient(x, tid)
	if e != nil {
		return grantResult{}, e
	}
	if !strings.EqualFold(c.ClientID, g.clientID) {
		return grantResult{}, errGrantOtherClient()
	}
	if mfa {
		return grantResult{}, errMFARequired()
	}
	// A request refused for its scope or claims leaves the refresh token
	// unredeemed, so the client can use it again.
	if _, e := parseUserScope(x.form.Get("scope")); e != nil {
		return grantResult{}, e
	}
	if _, e := parseClaimsRequest(x.form.Get("claims")); e != nil {
		return grantResult{}, e
	}
	st.mu.Lock()
	e = st.redeemLocked(g)
	st.mu.Unlock()
	if e != nil {
		return grantResult{}, e
	}
	return s.issueUserTokens(x, userIssue{user: u, client: c, tenant: tid, scope: x.form.Get("scope"), claims: x.form.Get("claims"), family: g.family})
}
