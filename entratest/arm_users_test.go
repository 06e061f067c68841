package entratest

import "testing"

// A user's /tenants lists the home tenant and every guest tenant, whichever
// tenant the token is for, as ARM does; an app's lists its token's tenant.
func TestARMTenantsOfAGuestUser(t *testing.T) {
	const guest = "0badc0de-3333-4000-8000-000000000000"
	srv := newTestServer(t, &Options{
		Tenants: []Tenant{{ID: guest, DisplayName: "Fabrikam"}},
		Users:   []User{{Username: DefaultUsername, Password: DefaultPassword, TenantID: DefaultTenantID, GuestTenants: []string{guest}}},
	})
	for _, tenant := range []string{DefaultTenantID, guest} {
		r := postForm(t, srv, tokenPath(tenant), passwordForm())
		if r.status != 200 {
			t.Fatalf("password grant in %s: %d %s", tenant, r.status, r.raw)
		}
		r = armGet(t, srv, "/tenants?api-version=2019-11-01", r.str("access_token"))
		value, _ := r.json["value"].([]any)
		if r.status != 200 || len(value) != 2 {
			t.Fatalf("token for %s: tenants %d %s", tenant, r.status, r.raw)
		}
		if value[0].(map[string]any)["tenantId"] != DefaultTenantID || value[1].(map[string]any)["tenantId"] != guest ||
			value[1].(map[string]any)["displayName"] != "Fabrikam" {
			t.Errorf("token for %s: tenants %s", tenant, r.raw)
		}
	}
}
