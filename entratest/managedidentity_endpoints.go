package entratest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The API versions the emulated endpoints require, as the real ones do.
const (
	imdsAPIVersion          = "2018-02-01"
	appServiceAPIVersion    = "2019-08-01"
	serviceFabricAPIVersion = "2019-07-01-preview"
	azureMLAPIVersion       = "2017-09-01"
	arcAPIVersion           = "2020-06-01"
)

// miView is a consistent copy of the host's configuration for one request,
// so handlers never hold the lock while signing or writing.
type miView struct {
	system    *ManagedIdentity
	users     []ManagedIdentity
	format    ExpiresOnFormat
	secret    string
	arcLegacy bool
}

func (m *ManagedIdentityHost) view() miView {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := miView{users: append([]ManagedIdentity(nil), m.users...), format: m.format, secret: m.secret, arcLegacy: m.arcLegacy}
	if m.system != nil {
		sys := *m.system
		v.system = &sys
	}
	return v
}

// selector is how a request names an identity: the parameter and value.
type selector struct{ param, value string }

// selectorFrom reads at most one identity selector from q among params.
// ok is false when several were sent.
func selectorFrom(q map[string][]string, params ...string) (sel selector, ok bool) {
	for _, p := range params {
		if v := first(q[p]); v != "" {
			if sel.param != "" {
				return selector{}, false
			}
			sel = selector{p, v}
		}
	}
	return sel, true
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// find returns the identity sel names (the system-assigned one when sel is
// empty).
func (v miView) find(sel selector) (ManagedIdentity, bool) {
	if sel.param == "" {
		if v.system == nil {
			return ManagedIdentity{}, false
		}
		return *v.system, true
	}
	all := v.users
	if v.system != nil {
		all = append(all, *v.system)
	}
	for _, id := range all {
		var have string
		switch sel.param {
		case "client_id", "clientid":
			have = id.ClientID
		case "object_id", "principal_id":
			have = id.ObjectID
		case "msi_res_id", "mi_res_id":
			have = id.ResourceID
		}
		if strings.EqualFold(have, sel.value) {
			return id, true
		}
	}
	return ManagedIdentity{}, false
}

// oauthError answers in the OAuth shape IMDS, Arc, Azure ML and Cloud Shell
// use.
func oauthError(x *exchange, status int, code, description string) {
	x.setNoCache()
	x.writeJSON(status, map[string]string{"error": code, "error_description": description})
}

// appServiceError answers in App Service's shape.
func appServiceError(x *exchange, status int, message string) {
	x.setNoCache()
	x.writeJSON(status, map[string]any{"statusCode": status, "message": message, "correlationId": x.correlationID})
}

// serviceFabricError answers in Service Fabric's (Azure) shape.
func serviceFabricError(x *exchange, status int, code, message string) {
	x.setNoCache()
	x.writeJSON(status, map[string]any{"error": map[string]string{
		"correlationId": x.correlationID, "code": code, "message": message}})
}

// mint issues a managed identity access token: an app-only v1 token whose
// appid and oid are the identity's and whose audience is the resource.
func (m *ManagedIdentityHost) mint(id ManagedIdentity, resource string) (issuedToken, error) {
	p := *m.s.policy.Load()
	now := m.s.now()
	issued := now.Add(-clockSkewBackdate).Unix()
	expiresIn := durationSeconds(p.ExpiresIn)
	exp := now.Unix() + expiresIn
	iss := "https://sts.windows.net/" + DefaultTenantID + "/"
	raw, err := m.s.signer.sign(map[string]any{
		"aud":       strings.TrimSuffix(resource, "/.default"),
		"iss":       iss,
		"iat":       issued,
		"nbf":       issued,
		"exp":       exp,
		"appid":     id.ClientID,
		"appidacr":  "2",
		"idp":       iss,
		"idtyp":     "app",
		"oid":       id.ObjectID,
		"sub":       id.ObjectID,
		"tid":       DefaultTenantID,
		"uti":       newUTI(),
		"ver":       "1.0",
		"xms_mirid": id.ResourceID,
	})
	if err != nil {
		return issuedToken{}, err
	}
	return issuedToken{raw: raw, expiresIn: expiresIn, extExpiresIn: durationSeconds(p.ExtExpiresIn),
		refreshIn: durationSeconds(p.RefreshIn), notBefore: issued, expiresOn: exp}, nil
}

// answer sends a token for id in ep's format. echo adds fields the
// endpoint echoes (client_id, a selector).
func (m *ManagedIdentityHost) answer(x *exchange, v miView, id ManagedIdentity, resource string, echo map[string]string) {
	tok, err := m.mint(id, resource)
	if err != nil {
		x.writeError(errForStatus(http.StatusInternalServerError))
		return
	}
	body := map[string]any{"access_token": tok.raw, "resource": resource, "token_type": "Bearer"}
	for k, val := range echo {
		body[k] = val
	}
	str := func(n int64) string { return strconv.FormatInt(n, 10) }
	exp := time.Unix(tok.expiresOn, 0).UTC()
	switch v.format {
	case ExpiresOnNumber:
		body["expires_on"] = tok.expiresOn
	case ExpiresOnString:
		body["expires_on"] = str(tok.expiresOn)
	case ExpiresOnDate:
		body["expires_on"] = exp.Format("01/02/2006 03:04:05 PM -07:00")
	case ExpiresOnDate24h:
		body["expires_on"] = exp.Format("01/02/2006 15:04:05 -07:00")
	case ExpiresOnRFC3339:
		body["expires_on"] = exp.Format(time.RFC3339)
	default:
		switch x.ep {
		case EndpointServiceFabric:
			body["expires_on"] = tok.expiresOn
		case EndpointAppService:
			body["expires_on"] = str(tok.expiresOn)
		default:
			body["expires_in"] = str(tok.expiresIn)
			body["ext_expires_in"] = str(tok.extExpiresIn)
			body["expires_on"] = str(tok.expiresOn)
			body["not_before"] = str(tok.notBefore)
		}
	}
	if tok.refreshIn > 0 {
		body["refresh_in"] = tok.refreshIn
	}
	x.setNoCache()
	x.writeJSON(http.StatusOK, body)
}

// handleIMDS serves IMDS's token endpoint.
func (m *ManagedIdentityHost) handleIMDS(x *exchange) {
	if x.r.Method != http.MethodGet {
		oauthError(x, http.StatusMethodNotAllowed, "invalid_request", "The request method is not supported; use GET")
		return
	}
	if x.r.Header.Get("Metadata") != "true" {
		oauthError(x, http.StatusBadRequest, "invalid_request", "Required metadata header not specified")
		return
	}
	m.identityToken(x, imdsAPIVersion, true, "client_id", "object_id", "msi_res_id", "mi_res_id")
}

// identityToken is the shared part of IMDS-like endpoints: api-version,
// resource, identity selection, answer (echoing client_id when echoID).
func (m *ManagedIdentityHost) identityToken(x *exchange, apiVersion string, echoID bool, params ...string) {
	q := x.r.URL.Query()
	if q.Get("api-version") != apiVersion {
		oauthError(x, http.StatusBadRequest, "invalid_request", "Required query variable 'api-version' is missing or not "+apiVersion)
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		oauthError(x, http.StatusBadRequest, "invalid_request", "Required audience parameter not specified")
		return
	}
	v := m.view()
	sel, ok := selectorFrom(q, params...)
	if !ok {
		oauthError(x, http.StatusBadRequest, "invalid_request", "Only one of client_id, object_id or msi_res_id may be specified")
		return
	}
	id, found := v.find(sel)
	if !found {
		oauthError(x, http.StatusBadRequest, "invalid_request", "Identity not found")
		return
	}
	var echo map[string]string
	if echoID {
		echo = map[string]string{"client_id": id.ClientID}
		if sel.param != "" && sel.param != "client_id" {
			echo[sel.param] = sel.value
		}
	}
	m.answer(x, v, id, resource, echo)
}

// handleAppService serves App Service's identity endpoint.
func (m *ManagedIdentityHost) handleAppService(x *exchange) {
	v := m.view()
	if x.r.Header.Get("X-Identity-Header") != v.secret {
		appServiceError(x, http.StatusBadRequest, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.")
		return
	}
	q := x.r.URL.Query()
	if q.Get("api-version") != appServiceAPIVersion {
		appServiceError(x, http.StatusBadRequest, "api-version must be "+appServiceAPIVersion+".")
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		appServiceError(x, http.StatusBadRequest, "The resource parameter is required.")
		return
	}
	sel, ok := selectorFrom(q, "client_id", "object_id", "principal_id", "mi_res_id")
	if !ok {
		appServiceError(x, http.StatusBadRequest, "Only one identity selector may be specified.")
		return
	}
	id, found := v.find(sel)
	if !found {
		appServiceError(x, http.StatusBadRequest, "Unable to load the proper Managed Identity.")
		return
	}
	m.answer(x, v, id, resource, map[string]string{"client_id": id.ClientID})
}

// handleServiceFabric serves Service Fabric's identity endpoint; the
// cluster decides the identity, so it is always the system-assigned one.
func (m *ManagedIdentityHost) handleServiceFabric(x *exchange) {
	v := m.view()
	if x.r.Header.Get("Secret") != v.secret {
		serviceFabricError(x, http.StatusUnauthorized, "SecretHeaderNotFound", "Secret is not found in the request headers or does not match.")
		return
	}
	q := x.r.URL.Query()
	if q.Get("api-version") != serviceFabricAPIVersion {
		serviceFabricError(x, http.StatusBadRequest, "InvalidApiVersion", "api-version must be "+serviceFabricAPIVersion+".")
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		serviceFabricError(x, http.StatusBadRequest, "ArgumentNullOrEmpty", "Value cannot be null or empty. Parameter name: resource")
		return
	}
	id, found := v.find(selector{})
	if !found {
		serviceFabricError(x, http.StatusNotFound, "ManagedIdentityNotFound", "The application has no managed identity.")
		return
	}
	m.answer(x, v, id, resource, nil)
}

// handleAzureML serves Azure ML's MSI endpoint.
func (m *ManagedIdentityHost) handleAzureML(x *exchange) {
	v := m.view()
	if x.r.Header.Get("Secret") != v.secret {
		oauthError(x, http.StatusBadRequest, "invalid_request", "The secret header is missing or does not match MSI_SECRET")
		return
	}
	m.identityToken(x, azureMLAPIVersion, false, "clientid")
}

// handleCloudShell serves Cloud Shell's MSI endpoint.
func (m *ManagedIdentityHost) handleCloudShell(x *exchange) {
	if x.r.Method != http.MethodPost {
		oauthError(x, http.StatusMethodNotAllowed, "invalid_request", "Use POST")
		return
	}
	if x.r.Header.Get("Metadata") != "true" {
		oauthError(x, http.StatusBadRequest, "invalid_request", "Required metadata header not specified")
		return
	}
	x.r.Body = http.MaxBytesReader(x.w, x.r.Body, 64<<10)
	if err := x.r.ParseForm(); err != nil {
		oauthError(x, http.StatusBadRequest, "invalid_request", "The body is not a form")
		return
	}
	resource := x.r.PostForm.Get("resource")
	if resource == "" {
		oauthError(x, http.StatusBadRequest, "invalid_request", "Required audience parameter not specified")
		return
	}
	v := m.view()
	id, found := v.find(selector{})
	if !found {
		oauthError(x, http.StatusBadRequest, "invalid_request", "Identity not found")
		return
	}
	m.answer(x, v, id, resource, nil)
}

// handleArc serves the Arc agent: a request without a known key gets a 401
// challenge naming a fresh key file.
func (m *ManagedIdentityHost) handleArc(x *exchange) {
	if x.r.Header.Get("Metadata") != "true" {
		oauthError(x, http.StatusBadRequest, "invalid_request", "Required metadata header not specified")
		return
	}
	key, hasKey := strings.CutPrefix(x.r.Header.Get("Authorization"), "Basic ")
	m.mu.Lock()
	known := hasKey && m.arcKeys[key]
	m.mu.Unlock()
	if !known {
		m.arcChallenge(x)
		return
	}
	v := m.view()
	if v.arcLegacy {
		q := x.r.URL.Query()
		for _, p := range []string{"client_id", "object_id", "msi_res_id"} {
			q.Del(p)
		}
		x.r.URL.RawQuery = q.Encode()
	}
	m.identityToken(x, arcAPIVersion, !v.arcLegacy, "client_id", "object_id", "msi_res_id")
}

// arcChallenge writes a key file (unless SetArcKeyPath chose one) and
// answers 401 naming it.
func (m *ManagedIdentityHost) arcChallenge(x *exchange) {
	m.mu.Lock()
	path, dir := m.arcRealm, m.arcDir
	m.mu.Unlock()
	if path == "" {
		var b [32]byte
		_, _ = rand.Read(b[:])
		key := hex.EncodeToString(b[:])
		path = filepath.Join(dir, newGUID()+".key")
		if err := os.WriteFile(path, []byte(key), 0o600); err != nil {
			oauthError(x, http.StatusInternalServerError, "server_error", "The agent could not write its key file")
			return
		}
		m.mu.Lock()
		if len(m.arcKeys) >= 1024 {
			clear(m.arcKeys) // a long-running emulator must not grow without bound
		}
		m.arcKeys[key] = true
		m.mu.Unlock()
	}
	x.w.Header().Set("WWW-Authenticate", "Basic realm="+path)
	oauthError(x, http.StatusUnauthorized, "unauthorized", "Use the key in the file named by WWW-Authenticate")
}
