package entratest

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// grantJWTBearer is the grant type of the on-behalf-of flow.
const grantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// DefaultUserClientID is the client app a user signed in to in tokens from
// [Server.IssueUserAccessToken] that name none: the front end (a SPA, a
// mobile app) that then calls the API doing on-behalf-of.
const DefaultUserClientID = "f20e7a00-0000-4000-8000-0000000f20e7"

// UserAccessToken describes a user's access token for
// [Server.IssueUserAccessToken].
type UserAccessToken struct {
	// Audience is the API the token is for: the middle-tier app's client
	// ID or its "api://<client ID>" URI. Required.
	Audience string
	// TenantID is the user's tenant; default DefaultTenantID.
	TenantID string
	// Username is the user's sign-in name (upn, preferred_username);
	// default "user@entratest.example".
	Username string
	// ObjectID is the user's object ID (oid); default derived from the
	// tenant and Username, stable across runs.
	ObjectID string
	// ClientID is the client app the user signed in to (appid, azp);
	// default DefaultUserClientID.
	ClientID string
	// Scopes are the delegated permissions (scp); default
	// "user_impersonation".
	Scopes []string
	// ExpiresIn is the lifetime from now (the server's clock); default the
	// token policy's ExpiresIn. A negative value issues an expired token.
	ExpiresIn time.Duration
}

// IssueUserAccessToken returns a user's access token for an API, signed by
// this server, as a browser or mobile app would have got it by signing the
// user in. It is what a test of an on-behalf-of service starts from: pass
// it as the user assertion of an OnBehalfOfCredential whose client ID is
// the token's audience. The token has the standard claims (iss, aud, tid,
// oid, sub, scp, ver, exp, nbf, iat) and verifies with [Server.VerifyToken].
func (s *Server) IssueUserAccessToken(u UserAccessToken) (string, error) {
	if u.Audience == "" {
		return "", fmt.Errorf("entratest: a user access token needs an Audience (the API's client ID)")
	}
	if u.TenantID == "" {
		u.TenantID = DefaultTenantID
	}
	if u.Username == "" {
		u.Username = "user@entratest.example"
	}
	if u.ObjectID == "" {
		u.ObjectID = userObjectID(u.TenantID, u.Username)
	}
	if u.ClientID == "" {
		u.ClientID = DefaultUserClientID
	}
	if len(u.Scopes) == 0 {
		u.Scopes = []string{"user_impersonation"}
	}
	if u.ExpiresIn == 0 {
		u.ExpiresIn = s.policy.Load().ExpiresIn
	}
	tok, err := s.mintUserToken(userTokenSpec{
		tenant: strings.ToLower(u.TenantID), audience: u.Audience, oid: u.ObjectID, username: u.Username,
		clientID: strings.ToLower(u.ClientID), scopes: u.Scopes, lifetime: u.ExpiresIn,
	})
	if err != nil {
		return "", fmt.Errorf("entratest: %w", err)
	}
	return tok.raw, nil
}

// userObjectID derives a stable user object ID, as ServicePrincipalID does
// for apps.
func userObjectID(tenant, username string) string {
	sum := sha256.Sum256([]byte("entratest-user\x00" + strings.ToLower(tenant) + "\x00" + strings.ToLower(username)))
	var b [16]byte
	copy(b[:], sum[:16])
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b)
}

// userTokenSpec is what a delegated (user) access token is minted from.
type userTokenSpec struct {
	tenant, audience, oid, username, clientID string
	scopes                                    []string
	lifetime                                  time.Duration // 0: the token policy's
	capabilities                              []string
	minIssuedAt                               int64
}

// mintUserToken issues a v1.0 delegated access token.
func (s *Server) mintUserToken(spec userTokenSpec) (issuedToken, error) {
	p := *s.policy.Load()
	if spec.lifetime == 0 {
		spec.lifetime = p.ExpiresIn
	}
	now := s.now()
	issued := now.Add(-clockSkewBackdate).Unix()
	if spec.minIssuedAt > issued {
		issued = min(spec.minIssuedAt, now.Unix())
	}
	exp := now.Add(spec.lifetime).Unix()
	if spec.lifetime < 0 {
		issued = now.Add(2*spec.lifetime - clockSkewBackdate).Unix()
	}
	iss, ver := s.accessTokenIssuer(spec.tenant, spec.audience)
	claims := map[string]any{
		"aud":         spec.audience,
		"iss":         iss,
		"iat":         issued,
		"nbf":         issued,
		"exp":         exp,
		"appid":       spec.clientID,
		"appidacr":    "1",
		"azp":         spec.clientID,
		"idp":         iss,
		"idtyp":       "user",
		"name":        spec.username,
		"oid":         spec.oid,
		"sub":         pairwiseSubject(spec.oid, spec.clientID),
		"scp":         strings.Join(spec.scopes, " "),
		"tid":         spec.tenant,
		"upn":         spec.username,
		"unique_name": spec.username,
		"uti":         newUTI(),
		"ver":         ver,
	}
	if len(spec.capabilities) > 0 {
		claims["xms_cc"] = spec.capabilities
	}
	raw, err := s.signer.sign(claims)
	if err != nil {
		return issuedToken{}, err
	}
	expiresIn := max(exp-now.Unix(), 0)
	return issuedToken{
		raw: raw, expiresIn: expiresIn, extExpiresIn: expiresIn,
		refreshIn: durationSeconds(p.RefreshIn), notBefore: issued, expiresOn: exp,
	}, nil
}

// pairwiseSubject is the sub claim of a user token: Entra makes it
// different for every app, so that apps cannot correlate users by it.
func pairwiseSubject(oid, clientID string) string {
	sum := sha256.Sum256([]byte("entratest-sub\x00" + oid + "\x00" + clientID))
	return base64.RawURLEncoding.EncodeToString(sum[:24])
}

// oboGrant is the on-behalf-of flow: a middle-tier API exchanges the
// user's access token it received (the assertion) for a token to a
// downstream API, keeping the user's identity. The assertion must be a
// user token this server issued (any flow), for this app, and valid now.
func (s *Server) oboGrant(x *exchange, tenant string) (grantResult, *entraError) {
	if isSpecialTenant(tenant) {
		return grantResult{}, errNoTenantInRequest()
	}
	app, e := s.authenticateClient(x, tenant)
	if e != nil {
		return grantResult{}, e
	}
	if x.form.Get("requested_token_use") != "on_behalf_of" {
		return grantResult{}, errMissingParameter("requested_token_use")
	}
	assertion := x.form.Get("assertion")
	if assertion == "" {
		return grantResult{}, errMissingParameter("assertion")
	}
	j, err := parseJWT(assertion)
	if err != nil {
		return grantResult{}, errOBOMalformed()
	}
	if j.header.Alg != "RS256" || j.header.Kid != s.signer.kid || j.verifyRSA(&s.signer.key.PublicKey) != nil {
		return grantResult{}, errOBOSignature()
	}
	now := s.now()
	nbf, exp, ok := j.times()
	if !ok {
		return grantResult{}, errOBOMalformed()
	}
	if now.Unix() >= exp || nbf > now.Add(assertionSkew).Unix() {
		return grantResult{}, errOBOTimeRange()
	}
	clientID := strings.ToLower(app.ClientID)
	okAud := false
	for _, a := range j.audiences() {
		a = strings.ToLower(strings.TrimSuffix(a, "/"))
		if a == clientID || a == "api://"+clientID {
			okAud = true
		}
	}
	if !okAud {
		return grantResult{}, errOBOAudience(strings.Join(j.audiences(), ","), clientID)
	}
	oid, _ := j.raw["oid"].(string)
	tid, _ := j.raw["tid"].(string)
	scp, _ := j.raw["scp"].(string)
	if oid == "" || tid == "" || scp == "" || j.raw["idtyp"] == "app" {
		// An app-only token (no delegated scopes) has no user to act for.
		return grantResult{}, errOBONoUser()
	}
	if !strings.EqualFold(tid, tenant) {
		return grantResult{}, errOBOTenant(tid, tenant)
	}
	var audience string
	var scopes []string
	if x.v1 {
		// The v1 endpoint names the downstream API by resource and grants
		// what the user consented to.
		if audience = x.form.Get("resource"); audience == "" {
			return grantResult{}, errMissingParameter("resource")
		}
		scopes = []string{"user_impersonation"}
	} else if audience, scopes, e = delegatedScopes(x.form.Get("scope")); e != nil {
		return grantResult{}, e
	}
	claims, e := parseClaimsRequest(x.form.Get("claims"))
	if e != nil {
		return grantResult{}, e
	}
	username, _ := j.raw["upn"].(string)
	if username == "" {
		username, _ = j.raw["preferred_username"].(string)
	}
	tok, err := s.mintUserToken(userTokenSpec{
		tenant: strings.ToLower(tid), audience: audience, oid: oid, username: username,
		clientID: clientID, scopes: scopes, capabilities: claims.capabilities, minIssuedAt: claims.notBefore,
	})
	if err != nil {
		return grantResult{}, errForStatus(http.StatusInternalServerError)
	}
	return grantResult{token: tok, resource: audience}, nil
}

// delegatedScopes splits a delegated request's scope into the resource (the
// token's audience) and the permission names (scp). All scopes must be on
// one resource; "<resource>/.default" grants "user_impersonation", standing
// for whatever the user consented to.
func delegatedScopes(scope string) (string, []string, *entraError) {
	var resource string
	var perms []string
	for _, f := range strings.Fields(scope) {
		if isOIDCScope(f) {
			continue
		}
		i := strings.LastIndex(f, "/")
		if i <= 0 || i == len(f)-1 {
			return "", nil, errScopeInvalid(f)
		}
		res, perm := f[:i], f[i+1:]
		if resource != "" && !strings.EqualFold(resource, res) {
			return "", nil, errScopeInvalid(scope)
		}
		resource = res
		if perm == ".default" {
			perm = "user_impersonation"
		}
		perms = append(perms, perm)
	}
	if resource == "" {
		return "", nil, errScopeMissing()
	}
	return resource, perms, nil
}

// The on-behalf-of errors, with Entra's codes. None quotes the assertion.

func errOBOMalformed() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 50027,
		message: "JWT token is invalid or malformed. The assertion must be a user's access token."}
}

func errOBOSignature() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 50013,
		message: "Assertion failed signature validation. [Reason - The key was not found.]"}
}

func errOBOTimeRange() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 500133,
		message: "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token."}
}

func errOBOAudience(got, want string) *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 500131,
		message: fmt.Sprintf("Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '%s' and the expected audience is '%s' or one of the Application Uris of this application.", sanitize(got), want)}
}

func errOBONoUser() *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 50013,
		message: "Assertion is not a user token: it has no oid, tid or scp claim. On-behalf-of needs the access token of a signed-in user."}
}

func errOBOTenant(got, want string) *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_grant", code: 50013,
		message: fmt.Sprintf("Assertion was issued for tenant '%s', not the tenant '%s' of this request.", sanitize(got), want)}
}
