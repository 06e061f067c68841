package entratest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// A minimal Azure Resource Manager: /subscriptions, /tenants and
// /metadata/endpoints, enough for the Azure CLI to finish a login and for
// tools that discover a cloud's endpoints from ARM. The emulator is its own
// ARM endpoint ([Server.URL] + "/"), and through the proxy it also answers
// for management.azure.com.

// The ARM endpoints.
const (
	// EndpointARMSubscriptions is GET /subscriptions?api-version=...,
	// which lists the subscriptions of the caller's tenant.
	EndpointARMSubscriptions Endpoint = "arm-subscriptions"
	// EndpointARMTenants is GET /tenants?api-version=..., which lists the
	// caller's tenant.
	EndpointARMTenants Endpoint = "arm-tenants"
	// EndpointARMMetadata is GET /metadata/endpoints?api-version=...,
	// the cloud's endpoints (login host, ARM audiences).
	EndpointARMMetadata Endpoint = "arm-metadata"
)

// armEndpoints lists the ARM endpoints that get request counters.
func armEndpoints() []Endpoint {
	return []Endpoint{EndpointARMSubscriptions, EndpointARMTenants, EndpointARMMetadata}
}

// routeARM routes the ARM endpoints.
func (s *Server) routeARM(handle func(pattern string, ep Endpoint, h handlerFunc)) {
	handle("GET /subscriptions", EndpointARMSubscriptions, s.handleSubscriptions)
	handle("GET /tenants", EndpointARMTenants, s.handleTenants)
	handle("GET /metadata/endpoints", EndpointARMMetadata, s.handleMetadataEndpoints)
}

// armAudiences are the audiences ARM accepts in a bearer token: its two
// resource URIs, each with and without the trailing slash.
var armAudiences = []string{
	"https://management.core.windows.net/", "https://management.core.windows.net",
	"https://management.azure.com/", "https://management.azure.com",
}

// armError is ARM's error shape, which is not Entra's:
// {"error":{"code":"...","message":"..."}}.
type armError struct {
	status  int
	code    string
	message string
}

func (x *exchange) writeARMError(e armError) {
	if e.status == http.StatusUnauthorized {
		// ARM tells the client where to authenticate; the Azure CLI and
		// azcore's ARM challenge policy read it.
		x.w.Header().Set("WWW-Authenticate", fmt.Sprintf(
			`Bearer authorization_uri="%s", error="invalid_token", error_description="%s"`,
			x.loginEndpoint(), e.message))
	}
	x.setNoCache()
	x.writeJSON(e.status, map[string]any{"error": map[string]string{"code": e.code, "message": e.message}})
}

// armRequest checks what every ARM call needs: an api-version and a
// bearer token this emulator issued for ARM. It returns the token's
// claims, or false after answering with ARM's error.
func (s *Server) armRequest(x *exchange) (map[string]any, bool) {
	if x.r.URL.Query().Get("api-version") == "" {
		x.writeARMError(armError{http.StatusBadRequest, "MissingApiVersionParameter",
			"The api-version query parameter (?api-version=) is required for all requests."})
		return nil, false
	}
	auth := x.r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(auth) <= len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		x.writeARMError(armError{http.StatusUnauthorized, "AuthenticationFailed",
			"Authentication failed. The 'Authorization' header is missing or not a Bearer token."})
		return nil, false
	}
	claims, err := s.VerifyToken(strings.TrimSpace(auth[len(prefix):]))
	switch {
	case errors.Is(err, ErrTokenExpired):
		x.writeARMError(armError{http.StatusUnauthorized, "ExpiredAuthenticationToken",
			"The access token has expired. Get a new token and try again."})
		return nil, false
	case err != nil:
		// The reason stays out of the answer, as ARM's does; the token
		// itself is never echoed.
		x.writeARMError(armError{http.StatusUnauthorized, "InvalidAuthenticationToken",
			"The access token is invalid: it was not issued by this emulator, or it is malformed."})
		return nil, false
	}
	aud, _ := claims["aud"].(string)
	if !slices.Contains(armAudiences, aud) {
		x.writeARMError(armError{http.StatusUnauthorized, "InvalidAuthenticationTokenAudience",
			fmt.Sprintf("The access token has been obtained for wrong audience or resource '%s'. It should exactly match one of the allowed audiences '%s'.",
				truncate(aud, 200), strings.Join(armAudiences, "','"))})
		return nil, false
	}
	if tid, _ := claims["tid"].(string); !s.dir.tenantExists(strings.ToLower(tid)) {
		x.writeARMError(armError{http.StatusUnauthorized, "InvalidAuthenticationToken",
			"The access token is from a tenant that does not exist."})
		return nil, false
	}
	if x.caeChallenge(claims) {
		return nil, false
	}
	return claims, true
}

// truncate shortens untrusted text echoed in an error.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// armList is ARM's list envelope. Value is never nil: the Azure CLI
// iterates it and fails on null.
type armList[T any] struct {
	Value []T `json:"value"`
}

type armSubscription struct {
	ID                   string            `json:"id"`
	AuthorizationSource  string            `json:"authorizationSource"`
	ManagedByTenants     []any             `json:"managedByTenants"`
	SubscriptionID       string            `json:"subscriptionId"`
	TenantID             string            `json:"tenantId"`
	DisplayName          string            `json:"displayName"`
	State                string            `json:"state"`
	SubscriptionPolicies map[string]string `json:"subscriptionPolicies"`
}

// handleSubscriptions serves GET /subscriptions: the subscriptions of the
// token's tenant, the way ARM lists what a principal can see.
func (s *Server) handleSubscriptions(x *exchange) {
	claims, ok := s.armRequest(x)
	if !ok {
		return
	}
	tid, _ := claims["tid"].(string)
	t, _ := s.dir.tenant(strings.ToLower(tid))
	list := armList[armSubscription]{Value: []armSubscription{}}
	for _, sub := range t.Subscriptions {
		list.Value = append(list.Value, armSubscription{
			ID:                  "/subscriptions/" + sub.ID,
			AuthorizationSource: "RoleBased",
			ManagedByTenants:    []any{},
			SubscriptionID:      sub.ID,
			TenantID:            t.ID,
			DisplayName:         sub.DisplayName,
			State:               "Enabled",
			SubscriptionPolicies: map[string]string{
				"locationPlacementId": "Public_2014-09-01",
				"quotaId":             "Internal_2014-09-01",
				"spendingLimit":       "Off",
			},
		})
	}
	x.writeJSON(http.StatusOK, list)
}

type armTenant struct {
	ID             string   `json:"id"`
	TenantID       string   `json:"tenantId"`
	CountryCode    string   `json:"countryCode"`
	DisplayName    string   `json:"displayName"`
	Domains        []string `json:"domains"`
	TenantCategory string   `json:"tenantCategory"`
	DefaultDomain  string   `json:"defaultDomain,omitempty"`
	TenantType     string   `json:"tenantType"`
}

// handleTenants serves GET /tenants: the tenants the caller can reach.
// For an app that is the token's tenant; for a user, as in ARM, the home
// tenant and every tenant the user is a guest in, which is how "az login"
// without --tenant finds them all.
func (s *Server) handleTenants(x *exchange) {
	claims, ok := s.armRequest(x)
	if !ok {
		return
	}
	tid, _ := claims["tid"].(string)
	ids := []string{strings.ToLower(tid)}
	if upn, _ := claims["upn"].(string); upn != "" {
		if u, err := s.users.get(upn); err == nil {
			ids = append([]string{u.TenantID}, u.GuestTenants...)
		}
	}
	list := armList[armTenant]{Value: []armTenant{}}
	for _, id := range ids {
		t, ok := s.dir.tenant(id)
		if !ok {
			continue
		}
		at := armTenant{
			ID:             "/tenants/" + t.ID,
			TenantID:       t.ID,
			CountryCode:    "US",
			DisplayName:    t.DisplayName,
			Domains:        append([]string{}, t.Domains...),
			TenantCategory: "Home",
			TenantType:     "AAD",
		}
		if len(t.Domains) > 0 {
			at.DefaultDomain = t.Domains[0]
		}
		list.Value = append(list.Value, at)
	}
	x.writeJSON(http.StatusOK, list)
}

// proxiedKey marks requests that arrived through the proxy.
type proxiedKey struct{}

// markProxied wraps the handler the proxy serves, so handlers know the
// client believes it is talking to Azure's public hosts.
func markProxied(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), proxiedKey{}, true)))
	})
}

// proxied reports whether the request came through the proxy.
func (x *exchange) proxied() bool {
	v, _ := x.r.Context().Value(proxiedKey{}).(bool)
	return v
}

// asPublicCloud reports whether the client believes it talks to Azure's
// public cloud: it came through the proxy to a host that is not the
// emulator's own address (management.azure.com, say).
func (x *exchange) asPublicCloud() bool {
	return x.proxied() && !x.s.isEmulatorAddr(x.r.Host)
}

// loginEndpoint is the authority host a client of this request should
// use: Entra's public one when the client addressed a public host through
// the proxy (which answers for it), else the emulator itself.
func (x *exchange) loginEndpoint() string {
	if x.asPublicCloud() {
		return "https://login.microsoftonline.com/"
	}
	return "https://" + x.host() + "/"
}

// resourceManager is ARM's URL for this request, by the same rule.
func (x *exchange) resourceManager() string {
	if x.asPublicCloud() {
		return "https://management.azure.com/"
	}
	return "https://" + x.host() + "/"
}

// handleMetadataEndpoints serves GET /metadata/endpoints in the shape the
// api-version asks for: the 2015-01-01 form msrestazure reads when the
// Azure CLI registers a cloud from its ARM endpoint, the cloud object of
// 2019-05-01, or the list of clouds of 2022-09-01 and later.
func (s *Server) handleMetadataEndpoints(x *exchange) {
	v := x.r.URL.Query().Get("api-version")
	if v == "" {
		x.writeARMError(armError{http.StatusBadRequest, "MissingApiVersionParameter",
			"The api-version query parameter (?api-version=) is required for all requests."})
		return
	}
	audiences := []string{"https://management.core.windows.net/", "https://management.azure.com/"}
	x.setDiscoveryCaching()
	if v < "2019-05-01" {
		x.writeJSON(http.StatusOK, map[string]any{
			"galleryEndpoint": "https://gallery.azure.com/",
			"graphEndpoint":   "https://graph.windows.net/",
			"portalEndpoint":  "https://portal.azure.com/",
			"authentication": map[string]any{
				"loginEndpoint": x.loginEndpoint(),
				"audiences":     audiences,
			},
		})
		return
	}
	cloud := map[string]any{
		"name":                       "EntraTest",
		"portal":                     "https://portal.azure.com",
		"resourceManager":            x.resourceManager(),
		"gallery":                    "https://gallery.azure.com/",
		"graph":                      "https://graph.windows.net/",
		"graphAudience":              "https://graph.windows.net/",
		"microsoftGraphResourceId":   "https://graph.microsoft.com/",
		"activeDirectoryDataLake":    "https://datalake.azure.net/",
		"batch":                      "https://batch.core.windows.net/",
		"media":                      "https://rest.media.azure.net",
		"sqlManagement":              "https://management.core.windows.net:8443/",
		"vmImageAliasDoc":            "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/main/arm-compute/quickstart-templates/aliases.json",
		"appInsightsResourceId":      "https://api.applicationinsights.io",
		"logAnalyticsResourceId":     "https://api.loganalytics.io",
		"attestationResourceId":      "https://attest.azure.net",
		"ossrdbmsResourceId":         "https://ossrdbms-aad.database.windows.net",
		"synapseAnalyticsResourceId": "https://dev.azuresynapse.net",
		"authentication": map[string]any{
			"loginEndpoint":    x.loginEndpoint(),
			"audiences":        audiences,
			"tenant":           "common",
			"identityProvider": "AAD",
		},
		"suffixes": map[string]string{
			"storage":                             "core.windows.net",
			"keyVaultDns":                         "vault.azure.net",
			"mhsmDns":                             "managedhsm.azure.net",
			"sqlServerHostname":                   "database.windows.net",
			"acrLoginServer":                      "azurecr.io",
			"azureDataLakeStoreFileSystem":        "azuredatalakestore.net",
			"azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
			"synapseAnalytics":                    "dev.azuresynapse.net",
			"attestationEndpoint":                 "attest.azure.net",
		},
	}
	if v < "2022-09-01" {
		x.writeJSON(http.StatusOK, cloud)
		return
	}
	x.writeJSON(http.StatusOK, []any{cloud})
}
