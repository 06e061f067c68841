package entratest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Grant types, as sent in grant_type.
const (
	grantClientCredentials = "client_credentials"
)

// clientAssertionType is the only client_assertion_type Entra accepts.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// grantFunc handles one grant type at the token endpoint once the tenant and
// grant_type have been checked. Server.grants maps grant_type values to
// them; a new flow (device code, refresh token, OBO) is one more entry.
type grantFunc func(x *exchange, tenant string) (grantResult, *entraError)

// grantResult is what a grant produced, for the response writer; user
// flows add the refresh and ID tokens in user.
type grantResult struct {
	token    issuedToken
	resource string          // the token's audience, echoed by v1 responses
	user     userGrantResult // user flows only (userflows.go)
}

// tokenResponseV2 is the v2.0 endpoint's success body. Numbers are JSON
// integers, as Entra sends them; field order is Entra's.
type tokenResponseV2 struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	RefreshIn    int64  `json:"refresh_in,omitempty"`
	AccessToken  string `json:"access_token"`
	// User flows only.
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	ClientInfo   string `json:"client_info,omitempty"`
	FamilyID     string `json:"foci,omitempty"`
}

// tokenResponseV1 is the v1 endpoint's success body, where Entra sends the
// numbers as strings and adds absolute times and the resource.
type tokenResponseV1 struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    string `json:"expires_in"`
	ExtExpiresIn string `json:"ext_expires_in"`
	ExpiresOn    string `json:"expires_on"`
	NotBefore    string `json:"not_before"`
	Resource     string `json:"resource"`
	AccessToken  string `json:"access_token"`
	// User flows only.
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	ClientInfo   string `json:"client_info,omitempty"`
	FamilyID     string `json:"foci,omitempty"`
}

// handleTokenV2 serves POST /{tenant}/oauth2/v2.0/token, the endpoint MSAL
// and azidentity use.
func (s *Server) handleTokenV2(x *exchange) { s.handleToken(x, false) }

// handleTokenV1 serves POST /{tenant}/oauth2/token, the v1 endpoint, where
// the audience is named by a resource parameter instead of a scope.
func (s *Server) handleTokenV1(x *exchange) { s.handleToken(x, true) }

// handleToken runs the checks every grant shares, in the order Entra makes
// them: the HTTP method, the tenant in the path, then grant_type, whose
// value decides which parameters the request needs. Client, secret and
// scope are checked by the grant.
func (s *Server) handleToken(x *exchange, v1 bool) {
	if x.r.Method != http.MethodPost {
		x.writeError(errPostOnly(x.r.Method))
		return
	}
	if e := checkForm(x.form, x.formErr); e != nil {
		x.writeError(e)
		return
	}
	tenant := strings.ToLower(x.r.PathValue("tenant"))
	if !isSpecialTenant(tenant) {
		if e := s.tenantError(tenant); e != nil {
			x.writeError(e)
			return
		}
	}
	grant := x.form.Get("grant_type")
	if grant == "" {
		x.writeError(errMissingParameter("grant_type"))
		return
	}
	g, ok := s.grants[grant]
	if !ok {
		x.writeError(errUnsupportedGrant(grant))
		return
	}
	x.v1 = v1
	res, e := g(x, tenant)
	if e != nil {
		x.writeError(e)
		return
	}
	x.setNoCache()
	t := res.token
	if v1 {
		x.writeJSON(http.StatusOK, tokenResponseV1{
			TokenType:    "Bearer",
			ExpiresIn:    strconv.FormatInt(t.expiresIn, 10),
			ExtExpiresIn: strconv.FormatInt(t.extExpiresIn, 10),
			ExpiresOn:    strconv.FormatInt(t.expiresOn, 10),
			NotBefore:    strconv.FormatInt(t.notBefore, 10),
			Resource:     res.resource,
			AccessToken:  t.raw,
			Scope:        res.user.scope,
			RefreshToken: res.user.refreshToken,
			IDToken:      res.user.idToken,
			ClientInfo:   res.user.clientInfo,
			FamilyID:     res.user.familyID,
		})
		return
	}
	x.writeJSON(http.StatusOK, tokenResponseV2{
		TokenType:    "Bearer",
		ExpiresIn:    t.expiresIn,
		ExtExpiresIn: t.extExpiresIn,
		RefreshIn:    t.refreshIn,
		AccessToken:  t.raw,
		Scope:        res.user.scope,
		RefreshToken: res.user.refreshToken,
		IDToken:      res.user.idToken,
		ClientInfo:   res.user.clientInfo,
		FamilyID:     res.user.familyID,
	})
}

// checkForm refuses a form body Entra would not read, given the form and
// ParseForm's error: one over the size limit, and one that names a
// parameter twice (Entra refuses every duplicate, even of equal values,
// rather than pick one: a client that sends two client_assertion or scope
// values has a bug worth seeing). Parameters are checked in sorted order
// so the error names the same one every time.
func checkForm(form url.Values, parseErr error) *entraError {
	var tooLarge *http.MaxBytesError
	if errors.As(parseErr, &tooLarge) {
		return errBodyTooLarge(tooLarge.Limit)
	}
	for _, name := range slices.Sorted(maps.Keys(form)) {
		if len(form[name]) > 1 {
			return errDuplicateParameter(name)
		}
	}
	return nil
}

// clientCredentialsGrant issues an app-only token to a confidential client
// authenticating with its secret: the service principal flow of
// ClientSecretCredential.
func (s *Server) clientCredentialsGrant(x *exchange, tenant string) (grantResult, *entraError) {
	if isSpecialTenant(tenant) {
		// An app token belongs to one tenant; "common" names none. Entra
		// has at times guessed the app's home tenant here, but rejecting
		// is what it documents and what catches the misconfiguration.
		return grantResult{}, errNoTenantInRequest()
	}
	app, e := s.authenticateClient(x, tenant)
	if e != nil {
		return grantResult{}, e
	}
	var audience string
	if x.v1 {
		if audience = x.form.Get("resource"); audience == "" {
			return grantResult{}, errMissingParameter("resource")
		}
	} else if audience, e = appAudience(x.form.Get("scope")); e != nil {
		return grantResult{}, e
	}
	claims, e := parseClaimsRequest(x.form.Get("claims"))
	if e != nil {
		return grantResult{}, e
	}
	tok, err := s.mintAppToken(appTokenSpec{
		tenant:       tenant,
		clientID:     strings.ToLower(app.ClientID),
		audience:     audience,
		capabilities: claims.capabilities,
		minIssuedAt:  claims.notBefore,
	})
	if err != nil {
		return grantResult{}, errForStatus(http.StatusInternalServerError)
	}
	return grantResult{token: tok, resource: audience}, nil
}

// authenticateClient identifies the client of a confidential flow and
// checks its credential: first that the app exists in the tenant
// (AADSTS700016), then the secret (AADSTS7000215) or the client assertion
// (a certificate-signed or federated JWT, see assertion.go), as Entra does.
func (s *Server) authenticateClient(x *exchange, tenant string) (App, *entraError) {
	clientID := x.form.Get("client_id")
	secret, hasSecret := x.form.Get("client_secret"), x.form.Has("client_secret")
	if id, sec, ok := basicAuth(x.r); ok {
		if clientID == "" {
			clientID = id
		}
		if !hasSecret {
			secret, hasSecret = sec, true
		}
	}
	if clientID == "" {
		return App{}, errMissingParameter("client_id")
	}
	app, ok := s.dir.lookup(tenant, clientID)
	if !ok {
		return App{}, errUnknownClient(clientID, tenant)
	}
	if assertion := x.form.Get("client_assertion"); assertion != "" && !hasSecret {
		if e := s.authenticateClientAssertion(x, app, tenant, assertion); e != nil {
			return App{}, e
		}
		return app, nil
	}
	if !hasSecret || secret == "" {
		return App{}, errMissingClientCredential()
	}
	if !secretMatches(app.Secret, secret) {
		return App{}, errInvalidSecret(clientID)
	}
	return app, nil
}

// basicAuth reads client_secret_basic credentials. RFC 6749 §2.3.1 has the
// client form-encode ID and secret before base64, which Go's
// Request.BasicAuth does not undo, so it is decoded here.
func basicAuth(r *http.Request) (clientID, secret string, ok bool) {
	auth := r.Header.Get("Authorization")
	const prefix = "basic "
	if len(auth) < len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(auth[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	id, sec, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	if clientID, err = url.QueryUnescape(id); err != nil {
		return "", "", false
	}
	if secret, err = url.QueryUnescape(sec); err != nil {
		return "", "", false
	}
	return clientID, secret, true
}

// oidcScopes are the scopes MSAL adds to every request. Entra ignores them
// in the client credentials flow, so they must not count as a second
// resource.
func isOIDCScope(s string) bool {
	switch s {
	case "openid", "profile", "offline_access", "email":
		return true
	}
	return false
}

// appAudience checks the scope of an app-only request and returns the
// token audience. An app token is for exactly one resource and carries all
// the app roles granted on it, so Entra requires the scope to be
// "<resource>/.default" and nothing else.
func appAudience(scope string) (string, *entraError) {
	fields := strings.Fields(scope)
	if len(fields) == 0 {
		return "", errScopeMissing()
	}
	if e := checkScopes(fields); e != nil {
		return "", e
	}
	var resources []string
	for _, f := range fields {
		if !isOIDCScope(f) {
			resources = append(resources, f)
		}
	}
	if len(resources) == 0 {
		return "", errScopeNotDefault(fields[0])
	}
	const suffix = "/.default"
	for _, r := range resources {
		if !isDefaultScope(r) {
			return "", errScopeNotDefault(r)
		}
	}
	if len(resources) > 1 {
		return "", errScopeInvalid(strings.Join(resources, " "))
	}
	aud := resources[0][:len(resources[0])-len(suffix)]
	if aud == "" {
		return "", errScopeInvalid(resources[0])
	}
	return aud, nil
}

// isDefaultScope reports whether a scope is "<resource>/.default" (the
// suffix in any case, as Entra matches it).
func isDefaultScope(scope string) bool {
	const suffix = "/.default"
	return len(scope) >= len(suffix) && strings.EqualFold(scope[len(scope)-len(suffix):], suffix)
}

// checkScopes applies the rules every flow shares to the fields of a scope
// parameter: each is an RFC 6749 scope-token (printable ASCII without
// quote or backslash), and a ".default" scope, which stands for everything
// granted on its resource, cannot be combined with scopes of a resource.
// Both are AADSTS70011 in Entra. User flows call it too.
func checkScopes(fields []string) *entraError {
	for _, f := range fields {
		for i := 0; i < len(f); i++ {
			if c := f[i]; c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' {
				return errScopeInvalid(strings.Join(fields, " "))
			}
		}
	}
	var hasDefault, hasOther bool
	for _, f := range fields {
		switch {
		case isOIDCScope(f):
		case isDefaultScope(f):
			hasDefault = true
		default:
			hasOther = true
		}
	}
	if hasDefault && hasOther {
		return errScopeDefaultMixed(strings.Join(fields, " "))
	}
	return nil
}

// claimsRequest is what the emulator acts on in a claims parameter.
type claimsRequest struct {
	// capabilities are the client capabilities (xms_cc values): "CP1"
	// means the client can handle CAE claims challenges.
	capabilities []string
	// notBefore is the time a claims challenge requires the token to be
	// issued after (access_token.nbf.value), unix seconds; 0 if none.
	notBefore int64
}

// parseClaimsRequest reads the claims parameter: client capabilities
// ({"access_token":{"xms_cc":{"values":["CP1"]}}}), a CAE claims
// challenge ({"access_token":{"nbf":{"essential":true,"value":"..."}}}),
// or MSAL's merge of both. Other requested claims are accepted and ignored.
func parseClaimsRequest(raw string) (claimsRequest, *entraError) {
	var cr claimsRequest
	if raw == "" {
		return cr, nil
	}
	var doc struct {
		AccessToken struct {
			XMSCC struct {
				Values []string `json:"values"`
			} `json:"xms_cc"`
			NBF struct {
				Value json.RawMessage `json:"value"`
			} `json:"nbf"`
		} `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil || !strings.HasPrefix(strings.TrimSpace(raw), "{") {
		return cr, errInvalidClaims()
	}
	cr.capabilities = doc.AccessToken.XMSCC.Values
	if v := doc.AccessToken.NBF.Value; len(v) > 0 {
		// Entra sends the value as a string of seconds; accept a number too.
		if n, err := strconv.ParseInt(strings.Trim(string(v), `"`), 10, 64); err == nil {
			cr.notBefore = n
		}
	}
	return cr, nil
}

// errDuplicateParameter is Entra's answer to a form that names a parameter
// more than once. The name is quoted only after truncating and sanitising,
// as a client controls it; values are never quoted.
func errDuplicateParameter(name string) *entraError {
	return &entraError{status: http.StatusBadRequest, oauth: "invalid_request", code: 9000411,
		message: fmt.Sprintf("The request is not properly formatted. The parameter '%s' is duplicated.", sanitize(name))}
}

// errBodyTooLarge answers a form body over maxFormBytes. Entra publishes
// no code for it; 413 is the HTTP status for exactly this, clients do not
// retry it, and AADSTS90100 is Entra's code for a request it cannot read.
func errBodyTooLarge(limit int64) *entraError {
	return &entraError{status: http.StatusRequestEntityTooLarge, oauth: "invalid_request", code: 90100,
		message: fmt.Sprintf("The request body is too large: this endpoint accepts at most %d bytes. Send only the parameters the request needs.", limit)}
}
