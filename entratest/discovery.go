package entratest

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// tenantError returns Entra's error for a tenant that does not exist in
// the emulator, nil when it does. A string that cannot be a tenant (not a
// GUID, not a domain name) gets the "neither a valid DNS name" error, as in
// Entra, so a mangled tenant ID is told apart from a wrong one.
func (s *Server) tenantError(tenant string) *entraError {
	if s.dir.tenantExists(tenant) {
		return nil
	}
	if !validTenantID(tenant) || (!isGUID(tenant) && !strings.Contains(tenant, ".")) {
		return errMalformedTenant(tenant)
	}
	return errTenantNotFound(tenant)
}

// setDiscoveryCaching marks metadata as cacheable for a day, as Entra does:
// clients may keep discovery documents, unlike tokens.
func (x *exchange) setDiscoveryCaching() {
	x.w.Header().Set("Cache-Control", "max-age=86400, private")
}

// openIDConfiguration is the OIDC discovery document with the fields Entra
// publishes. MSAL needs authorization_endpoint, token_endpoint and issuer
// (and checks that the issuer's host is the authority's); the rest is there
// so generic OIDC libraries configure themselves as they would for Entra.
type openIDConfiguration struct {
	TokenEndpoint                     string   `json:"token_endpoint"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	Issuer                            string   `json:"issuer"`
	MicrosoftMultiRefreshToken        bool     `json:"microsoft_multi_refresh_token,omitempty"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	DeviceAuthorizationEndpoint       string   `json:"device_authorization_endpoint"`
	HTTPLogoutSupported               bool     `json:"http_logout_supported"`
	FrontchannelLogoutSupported       bool     `json:"frontchannel_logout_supported"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	ClaimsSupported                   []string `json:"claims_supported"`
	CheckSessionIframe                string   `json:"check_session_iframe,omitempty"`
	KerberosEndpoint                  string   `json:"kerberos_endpoint"`
	TenantRegionScope                 *string  `json:"tenant_region_scope"`
	CloudInstanceName                 string   `json:"cloud_instance_name"`
	CloudGraphHostName                string   `json:"cloud_graph_host_name"`
	MSGraphHost                       string   `json:"msgraph_host"`
	RBACURL                           string   `json:"rbac_url"`
}

// discoveryTenant validates the tenant of a discovery request. For the
// multi-tenant aliases it returns the "{tenantid}" placeholder Entra puts
// in the issuer, with ok true.
func (s *Server) discoveryTenant(x *exchange) (tenant, issuerTenant string, ok bool) {
	tenant = strings.ToLower(x.r.PathValue("tenant"))
	if isSpecialTenant(tenant) {
		return tenant, "{tenantid}", true
	}
	if e := s.tenantError(tenant); e != nil {
		if e.code == 90002 {
			e = errInvalidTenant(tenant)
		}
		x.writeError(e)
		return "", "", false
	}
	return tenant, tenant, true
}

// handleOpenIDConfigurationV2 serves /{tenant}/v2.0/.well-known/openid-configuration,
// the document MSAL reads to find the token endpoint.
func (s *Server) handleOpenIDConfigurationV2(x *exchange) {
	tenant, issuerTenant, ok := s.discoveryTenant(x)
	if !ok {
		return
	}
	base := "https://" + x.host() + "/" + tenant
	doc := openIDConfiguration{
		TokenEndpoint:                     base + "/oauth2/v2.0/token",
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		JWKSURI:                           base + "/discovery/v2.0/keys",
		ResponseModesSupported:            []string{"query", "fragment", "form_post"},
		SubjectTypesSupported:             []string{"pairwise"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
		ResponseTypesSupported:            []string{"code", "id_token", "code id_token", "id_token token"},
		ScopesSupported:                   []string{"openid", "profile", "email", "offline_access"},
		Issuer:                            "https://" + x.host() + "/" + issuerTenant + "/v2.0",
		UserinfoEndpoint:                  "https://graph.microsoft.com/oidc/userinfo",
		AuthorizationEndpoint:             base + "/oauth2/v2.0/authorize",
		DeviceAuthorizationEndpoint:       base + "/oauth2/v2.0/devicecode",
		HTTPLogoutSupported:               true,
		FrontchannelLogoutSupported:       true,
		EndSessionEndpoint:                base + "/oauth2/v2.0/logout",
		ClaimsSupported:                   []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		KerberosEndpoint:                  base + "/kerberos",
		TenantRegionScope:                 regionScope(tenant),
		CloudInstanceName:                 "microsoftonline.com",
		CloudGraphHostName:                "graph.windows.net",
		MSGraphHost:                       "graph.microsoft.com",
		RBACURL:                           "https://pas.windows.net",
	}
	x.setDiscoveryCaching()
	x.writeJSON(http.StatusOK, doc)
}

// handleOpenIDConfigurationV1 serves the v1 document,
// /{tenant}/.well-known/openid-configuration, used by ADAL-era clients and
// by resource-side validators configured with a v1 authority.
func (s *Server) handleOpenIDConfigurationV1(x *exchange) {
	tenant, issuerTenant, ok := s.discoveryTenant(x)
	if !ok {
		return
	}
	base := "https://" + x.host() + "/" + tenant
	doc := openIDConfiguration{
		TokenEndpoint:                     base + "/oauth2/token",
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		JWKSURI:                           "https://" + x.host() + "/common/discovery/keys",
		ResponseModesSupported:            []string{"query", "fragment", "form_post"},
		SubjectTypesSupported:             []string{"pairwise"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
		ResponseTypesSupported:            []string{"code", "id_token", "code id_token", "token id_token", "token"},
		ScopesSupported:                   []string{"openid"},
		// v1 tokens, which the emulator issues, carry this issuer.
		Issuer:                       "https://sts.windows.net/" + issuerTenant + "/",
		MicrosoftMultiRefreshToken:   true,
		UserinfoEndpoint:             base + "/openid/userinfo",
		AuthorizationEndpoint:        base + "/oauth2/authorize",
		DeviceAuthorizationEndpoint:  base + "/oauth2/devicecode",
		HTTPLogoutSupported:          true,
		FrontchannelLogoutSupported:  true,
		EndSessionEndpoint:           base + "/oauth2/logout",
		ClaimsSupported:              []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email", "given_name", "family_name", "nickname"},
		CheckSessionIframe:           base + "/oauth2/checksession",
		KerberosEndpoint:             base + "/kerberos",
		TenantRegionScope:            regionScope(tenant),
		CloudInstanceName:            "microsoftonline.com",
		CloudGraphHostName:           "graph.windows.net",
		MSGraphHost:                  "graph.microsoft.com",
		RBACURL:                      "https://pas.windows.net",
		RequestURIParameterSupported: false,
	}
	x.setDiscoveryCaching()
	x.writeJSON(http.StatusOK, doc)
}

// regionScope is tenant_region_scope: a region for a tenant, null for the
// multi-tenant aliases, as in Entra.
func regionScope(tenant string) *string {
	if isSpecialTenant(tenant) {
		return nil
	}
	na := "NA"
	return &na
}

// instanceDiscovery is the answer of /common/discovery/instance.
type instanceDiscovery struct {
	TenantDiscoveryEndpoint string             `json:"tenant_discovery_endpoint"`
	APIVersion              string             `json:"api-version"`
	Metadata                []instanceMetadata `json:"metadata"`
}

type instanceMetadata struct {
	PreferredNetwork string   `json:"preferred_network"`
	PreferredCache   string   `json:"preferred_cache"`
	Aliases          []string `json:"aliases"`
}

// handleInstanceDiscovery serves /common/discovery/instance, which MSAL
// calls to validate an authority host it does not know (the emulator's
// host is one) before trusting it. The emulator vouches for itself, under
// whichever loopback name the client used, and rejects every other host as
// Entra rejects hosts that are not Entra.
func (s *Server) handleInstanceDiscovery(x *exchange) {
	ae := x.r.URL.Query().Get("authorization_endpoint")
	if ae == "" {
		x.writeError(errMissingAuthorizationEndpoint())
		return
	}
	u, err := url.Parse(ae)
	// Through the proxy every host the client can reach is the emulator,
	// so any well-formed host is vouched for; directly, only the
	// emulator's own.
	if err != nil || u.Scheme != "https" || !validHost(u.Host) || !(x.proxied() || s.isOwnHost(x, u.Host)) {
		x.writeError(errInvalidInstance())
		return
	}
	host := strings.ToLower(u.Host)
	tenant, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if tenant == "" {
		tenant = "common"
	}
	if x.proxied() && isLoopbackName(host) {
		// MSAL Python drops the port of the authority it asks about
		// (the Azure CLI with a cloud registered at the emulator asks
		// about "127.0.0.1"); name the emulator's real address, so the
		// client reaches it even when loopback bypasses the proxy.
		host = s.host
	}
	md := instanceMetadata{PreferredNetwork: host, PreferredCache: host, Aliases: []string{host}}
	if slices.Contains(publicCloudAliases, host) {
		// Entra's own answer for its public cloud, which the proxy
		// impersonates: one network host and its historical aliases.
		md = instanceMetadata{PreferredNetwork: "login.microsoftonline.com", PreferredCache: "login.windows.net", Aliases: publicCloudAliases}
	}
	x.setDiscoveryCaching()
	x.writeJSON(http.StatusOK, instanceDiscovery{
		TenantDiscoveryEndpoint: "https://" + md.PreferredNetwork + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		APIVersion:              "1.1",
		Metadata:                []instanceMetadata{md},
	})
}

// isLoopbackName reports whether host, without a port, names loopback.
func isLoopbackName(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// publicCloudAliases are the host names of Entra's public cloud.
var publicCloudAliases = []string{"login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"}

// isOwnHost reports whether host (host:port) names this server: any
// loopback spelling with its port, or the Host the client is using.
func (s *Server) isOwnHost(x *exchange, host string) bool {
	return strings.EqualFold(host, x.host()) || s.isEmulatorAddr(host)
}

// isEmulatorAddr reports whether host (host:port) is the emulator's own
// address under any loopback spelling, as opposed to a public host name
// the proxy answers for.
func (s *Server) isEmulatorAddr(host string) bool {
	if strings.EqualFold(host, s.host) {
		return true
	}
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		return false
	}
	if _, ownPort, err := net.SplitHostPort(s.host); err != nil || port != ownPort {
		return false
	}
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// handleKeysV2 serves /{tenant}/discovery/v2.0/keys. The keys are the same
// for every tenant, as in Entra, so no tenant check is made.
func (s *Server) handleKeysV2(x *exchange) {
	tenant := strings.ToLower(x.r.PathValue("tenant"))
	if isSpecialTenant(tenant) || !validTenantID(tenant) {
		tenant = "{tenantid}"
	}
	x.setDiscoveryCaching()
	x.writeJSON(http.StatusOK, s.signer.jwks("https://"+x.host()+"/"+tenant+"/v2.0"))
}

// handleKeysV1 serves /{tenant}/discovery/keys (usually /common), which has
// no issuer field.
func (s *Server) handleKeysV1(x *exchange) {
	x.setDiscoveryCaching()
	x.writeJSON(http.StatusOK, s.signer.jwks(""))
}
