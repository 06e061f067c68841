package entratest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// userGrantResult is what a user flow adds to a token response.
type userGrantResult struct {
	scope        string
	refreshToken string
	idToken      string
	clientInfo   string
	familyID     string
}

// refreshGrant is the server side of one refresh token.
type refreshGrant struct {
	user     *user
	clientID string // lower-case
	issued   time.Time
	revoked  bool
	redeemed bool
	// family is the sign-in this token descends from, revoked as a whole
	// when reuse detection sees one of its tokens presented twice.
	family *rtFamily
}

// refreshTokenLifetime is how long an unused refresh token lives, as
// Entra's inactivity window for public clients.
const refreshTokenLifetime = 90 * 24 * time.Hour

// graphResource is the audience of bare scopes ("User.Read"), as in Entra.
const graphResource = "https://graph.microsoft.com"

// userScope is a parsed user-flow scope parameter.
type userScope struct {
	resource    string   // access token audience
	permissions []string // scp values
	granted     string   // the scope answered in the response
	refresh     bool     // offline_access was asked
	openid      bool     // openid was asked
}

// parseUserScope reads a delegated scope: permissions of one resource
// ("https://storage.azure.com/user_impersonation", "<resource>/.default",
// "User.Read" for Graph) plus OIDC scopes.
func parseUserScope(scope string) (userScope, *entraError) {
	var us userScope
	fields := strings.Fields(scope)
	if len(fields) == 0 {
		return us, errScopeMissing()
	}
	var granted []string
	for _, f := range fields {
		if isOIDCScope(f) {
			switch f {
			case "offline_access":
				us.refresh = true
			case "openid":
				us.openid = true
			}
			continue
		}
		res, perm := graphResource, f
		if i := strings.LastIndex(f, "/"); i >= 0 {
			res, perm = f[:i], f[i+1:]
		}
		if res == "" || perm == "" {
			return us, errScopeInvalid(f)
		}
		if us.resource != "" && us.resource != res {
			return us, errMultipleResources()
		}
		us.resource = res
		if strings.EqualFold(perm, ".default") {
			perm = "user_impersonation"
		}
		us.permissions = append(us.permissions, perm)
		granted = append(granted, f)
	}
	if us.resource == "" {
		// Only OIDC scopes: Entra issues a Graph token for them.
		us.resource = graphResource
		us.permissions = []string{"User.Read"}
	}
	for _, f := range fields {
		if isOIDCScope(f) {
			granted = append(granted, f)
		}
	}
	us.granted = strings.Join(granted, " ")
	return us, nil
}

// userIssue is what every user grant needs to answer with tokens.
type userIssue struct {
	user     *user
	client   userClient
	tenant   string // the token's tenant (tid), never an alias
	scope    string
	claims   string
	nonce    string
	authTime time.Time
	// family is the refresh token family a refresh grant continues; nil
	// starts a new one (a sign-in).
	family *rtFamily
}

// issueUserTokens mints the access token and, as asked, a refresh token,
// an id_token and client_info.
func (s *Server) issueUserTokens(x *exchange, in userIssue) (grantResult, *entraError) {
	us, e := parseUserScope(in.scope)
	if e != nil {
		return grantResult{}, e
	}
	claims, e := parseClaimsRequest(in.claims)
	if e != nil {
		return grantResult{}, e
	}
	p := *s.policy.Load()
	now := s.now()
	issued := now.Add(-clockSkewBackdate).Unix()
	if claims.notBefore > issued {
		issued = min(claims.notBefore, now.Unix())
	}
	expiresIn := durationSeconds(p.ExpiresIn)
	exp := now.Unix() + expiresIn
	u := in.user
	clientID := strings.ToLower(in.client.ClientID)
	iss, ver := s.accessTokenIssuer(in.tenant, us.resource)
	acr := "0" // public client
	if in.client.Secret != "" && !in.client.PublicClient {
		acr = "1"
	}
	at := map[string]any{
		"aud":         us.resource,
		"iss":         iss,
		"iat":         issued,
		"nbf":         issued,
		"exp":         exp,
		"acr":         "1",
		"amr":         []string{"pwd"},
		"appid":       clientID,
		"appidacr":    acr,
		"azp":         clientID,
		"azpacr":      acr,
		"idtyp":       "user",
		"name":        u.DisplayName,
		"oid":         u.ObjectID,
		"scp":         strings.Join(us.permissions, " "),
		"sub":         pairwiseSub(u.ObjectID, clientID),
		"tid":         in.tenant,
		"unique_name": u.Username,
		"upn":         u.Username,
		"uti":         newUTI(),
		"ver":         ver,
	}
	if len(claims.capabilities) > 0 {
		at["xms_cc"] = claims.capabilities
	}
	raw, err := s.signer.sign(at)
	if err != nil {
		return grantResult{}, errForStatus(http.StatusInternalServerError)
	}
	res := grantResult{
		token: issuedToken{
			raw:          raw,
			expiresIn:    expiresIn,
			extExpiresIn: durationSeconds(p.ExtExpiresIn),
			refreshIn:    durationSeconds(p.RefreshIn),
			notBefore:    issued,
			expiresOn:    exp,
		},
		resource: us.resource,
		user:     userGrantResult{scope: us.granted},
	}
	if us.refresh {
		rt := randomToken("entratest-rt.")
		fam := in.family
		if fam == nil {
			fam = &rtFamily{}
		}
		s.users.mu.Lock()
		s.users.refresh[rt] = &refreshGrant{user: u, clientID: clientID, issued: now, family: fam}
		s.users.mu.Unlock()
		res.user.refreshToken = rt
		if in.client.firstParty {
			res.user.familyID = "1" // Microsoft's first-party family
		}
	}
	if us.openid {
		authTime := in.authTime
		if authTime.IsZero() {
			authTime = now
		}
		id := map[string]any{
			"aud":                clientID,
			"iss":                "https://" + x.host() + "/" + in.tenant + "/v2.0",
			"iat":                now.Unix(),
			"nbf":                now.Unix(),
			"exp":                now.Add(time.Hour).Unix(),
			"auth_time":          authTime.Unix(),
			"name":               u.DisplayName,
			"oid":                u.ObjectID,
			"preferred_username": u.Username,
			"sub":                pairwiseSub(u.ObjectID, clientID),
			"tid":                in.tenant,
			"uti":                newUTI(),
			"ver":                "2.0",
		}
		if in.nonce != "" {
			id["nonce"] = in.nonce
		}
		if res.user.idToken, err = s.signer.sign(id); err != nil {
			return grantResult{}, errForStatus(http.StatusInternalServerError)
		}
	}
	if x.form.Get("client_info") == "1" {
		ci, _ := json.Marshal(map[string]string{"uid": u.ObjectID, "utid": u.TenantID})
		res.user.clientInfo = base64.RawURLEncoding.EncodeToString(ci)
	}
	return res, nil
}

// pairwiseSub is the sub claim: Entra's is unique per user and app.
func pairwiseSub(oid, clientID string) string {
	id := derivedID("entratest-sub", oid, clientID)
	return strings.ReplaceAll(id, "-", "")
}

// userTenant resolves the tenant of a user-flow token request: an alias
// means the user's home tenant; a tenant ID must be one the user belongs
// to.
func userTenant(pathTenant string, u *user) (string, *entraError) {
	if isSpecialTenant(pathTenant) {
		return u.TenantID, nil
	}
	if !u.inTenant(pathTenant) {
		return "", errUserNotInTenant(u.Username, pathTenant)
	}
	return pathTenant, nil
}

// authenticateUserClient checks the client of a user flow in tenant: it
// must exist there; a confidential app must prove itself with its secret
// (or an assertion), a public client may.
func (s *Server) authenticateUserClient(x *exchange, tenant string) (userClient, *entraError) {
	clientID := x.form.Get("client_id")
	if clientID == "" {
		if id, _, ok := basicAuth(x.r); ok {
			clientID = id
		}
	}
	if clientID == "" {
		return userClient{}, errMissingParameter("client_id")
	}
	c, ok := s.clientInTenant(clientID, tenant)
	if !ok {
		return userClient{}, errUnknownClient(clientID, tenant)
	}
	_, _, basic := basicAuth(x.r)
	presented := x.form.Has("client_secret") || x.form.Has("client_assertion") || basic
	switch {
	case presented && !c.firstParty:
		app, e := s.authenticateClient(x, tenant)
		if e != nil {
			return userClient{}, e
		}
		c.App = app
	case presented:
		return userClient{}, errPublicClientSecret()
	case !c.PublicClient && !c.firstParty && c.Secret != "":
		return userClient{}, errConfidentialNeedsSecret()
	}
	return c, nil
}
