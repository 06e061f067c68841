package entratest

import (
	"net/http"
	"strings"
)

// EndpointUserRealm is the user realm endpoint,
// GET /common/userrealm/{username}?api-version=1.0, which MSAL asks before
// a username/password sign-in to learn whether the user's domain is managed
// by Entra or federated to another identity provider.
const EndpointUserRealm Endpoint = "user-realm"

// userRealm is the api-version 1.0 answer.
type userRealm struct {
	Version            string `json:"ver"`
	AccountType        string `json:"account_type"`
	DomainName         string `json:"domain_name,omitempty"`
	CloudInstanceName  string `json:"cloud_instance_name"`
	CloudAudienceURN   string `json:"cloud_audience_urn"`
	FederationProtocol string `json:"federation_protocol,omitempty"`
}

// handleUserRealm serves the user realm endpoint. The emulator federates
// nothing, so a known domain is "Managed" (the password grant goes to the
// token endpoint) and any other one "Unknown", as Entra answers for domains
// no tenant has verified. A domain is known when a configured tenant lists
// it (Tenant.Domains) or a configured user's name is in it: MSAL Go refuses
// a password sign-in for an "Unknown" account type. Only "Federated" would
// change what MSAL does next.
func (s *Server) handleUserRealm(x *exchange) {
	user := x.r.PathValue("user")
	_, domain, found := strings.Cut(user, "@")
	domain = strings.ToLower(domain)
	ans := userRealm{
		Version:           "1.0",
		AccountType:       "Unknown",
		CloudInstanceName: "microsoftonline.com",
		CloudAudienceURN:  "urn:federation:MicrosoftOnline",
	}
	if found && validDomain(domain) {
		if _, ok := s.dir.domainTenant(domain); ok || s.users.hasDomain(domain) {
			ans.AccountType = "Managed"
			ans.DomainName = domain
		}
	}
	x.setNoCache()
	x.writeJSON(http.StatusOK, ans)
}
