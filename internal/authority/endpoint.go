package authority

import (
	"net/url"
	"strings"
)

// TokenEndpoint returns the OAuth 2.0 token endpoint of tenant at host (a URL as
// returned by Host): host/{tenant}/oauth2/v2.0/token for Entra, and
// host/adfs/oauth2/token for ADFS, which has no v2.0 endpoint. The tenant should
// have passed ValidateTenantID; it is path-escaped all the same.
func TokenEndpoint(host *url.URL, tenant string) string {
	base := host.Scheme + "://" + host.Host + "/"
	if strings.EqualFold(tenant, ADFSTenant) {
		return base + "adfs/oauth2/token"
	}
	return base + url.PathEscape(tenant) + "/oauth2/v2.0/token"
}
