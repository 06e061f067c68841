package authority

import (
	"fmt"
	"slices"
	"strings"
)

// organizationsTenant is the multi-tenant alias for work and school accounts.
const organizationsTenant = "organizations"

// ResolveTenant picks the tenant for one token request, by azidentity's rules.
//
//   - defaultTenant is the credential's own tenant; "" when it has none (developer
//     tools and user credentials, whose tenant comes from elsewhere).
//   - requested is the tenant asked for in this request, often "".
//   - credName names the credential in errors.
//   - allowed is the credential's AdditionallyAllowedTenants; "*" allows any.
//
// No request tenant, or the default one, gives the default. An ADFS credential
// accepts no other tenant. Otherwise the requested tenant must be a valid ID and
// be allowed — except that a credential with no default tenant (or
// "organizations") and no allow list accepts any tenant, since there is nothing
// to hold it to. Tenants compare case-insensitively: GUIDs and domain names are.
func ResolveTenant(defaultTenant, requested, credName string, allowed []string) (string, error) {
	if requested == "" || strings.EqualFold(requested, defaultTenant) {
		return defaultTenant, nil
	}
	if strings.EqualFold(defaultTenant, ADFSTenant) {
		return "", fmt.Errorf("%s is configured for ADFS, which has no tenants, so it can't acquire a token for tenant %q", credName, requested)
	}
	if err := ValidateTenantID(requested); err != nil {
		return "", err
	}
	for _, t := range allowed {
		if t == "*" || strings.EqualFold(t, requested) {
			return requested, nil
		}
	}
	if len(allowed) == 0 && (defaultTenant == "" || strings.EqualFold(defaultTenant, organizationsTenant)) {
		return requested, nil
	}
	return "", fmt.Errorf(`%s isn't configured to acquire tokens for tenant %q. To enable acquiring tokens for this tenant, add it to AdditionallyAllowedTenants in the credential options, or add "*" to allow acquiring tokens for any tenant`, credName, requested)
}

// NormalizeAllowedTenants returns a copy of an AdditionallyAllowedTenants list,
// collapsed to just "*" when it contains "*" (every other entry is then moot),
// and nil when it is empty. The copy keeps later changes to the caller's slice
// from altering a credential's policy.
func NormalizeAllowedTenants(t []string) []string {
	if len(t) == 0 {
		return nil
	}
	if slices.Contains(t, "*") {
		return []string{"*"}
	}
	return slices.Clone(t)
}

// Tenants is one credential's tenant rules: its default tenant and the
// tenants a request may name besides it. Every credential resolves a
// request's tenant through Resolve, so the rules of ResolveTenant hold for
// all of them alike.
type Tenants struct {
	def     string // lower-cased, so that cache keys need no normalising
	cred    string
	allowed []string
}

// NewTenants returns the rules of the credential credName, whose tenant is
// defaultTenant ("" when the tenant comes from elsewhere) and whose
// AdditionallyAllowedTenants option is additional. The caller's slice is
// copied (see NormalizeAllowedTenants).
func NewTenants(credName, defaultTenant string, additional []string) Tenants {
	return Tenants{def: strings.ToLower(defaultTenant), cred: credName, allowed: NormalizeAllowedTenants(additional)}
}

// Default is the credential's own tenant, lower-cased.
func (t Tenants) Default() string { return t.def }

// Resolve picks the tenant for a request that asks for requested ("" for
// the default), by ResolveTenant's rules. The common cases, no tenant or the
// default one, are compared inline: Resolve runs on every cache hit.
func (t Tenants) Resolve(requested string) (string, error) {
	if requested == "" || requested == t.def {
		return t.def, nil
	}
	return ResolveTenant(t.def, requested, t.cred, t.allowed)
}
