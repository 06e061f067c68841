package interop

import (
	"testing"

	"github.com/azid-go/azid/entratest"
)

const (
	azUser     = "alice@contoso.example"
	azPassword = "interop-test-password"
)

func newUserEmulator(t *testing.T) *entratest.Server {
	return newEmulator(t, &entratest.Options{
		Tenants: []entratest.Tenant{{ID: entratest.DefaultTenantID, DisplayName: "Contoso", Domains: []string{"contoso.example"}}},
		Users:   []entratest.User{{Username: azUser, Password: azPassword, TenantID: entratest.DefaultTenantID}},
	})
}

// az login -u/-p: the password grant with the Azure CLI's public client,
// refresh token, id_token and client_info; the user realm check; then
// tokens for ARM (from az's cache) and another resource (from the refresh
// token).
func TestAzCLIUser(t *testing.T) {
	t.Parallel()
	for _, tenant := range []string{entratest.DefaultTenantID, ""} { // "" lists /tenants
		srv := newUserEmulator(t)
		az := azLoggedIn(t, srv, azCLIOptions{}, azLogin{Username: azUser, Password: azPassword, TenantID: tenant})
		if srv.Requests(entratest.EndpointUserRealm) == 0 {
			t.Error("az did not ask the user realm")
		}
		if tenant == "" && srv.Requests(entratest.EndpointARMTenants) == 0 {
			t.Error("az did not list tenants for a login without --tenant")
		}
		arm := az.getAccessToken()
		claims, err := srv.VerifyToken(arm.AccessToken)
		if err != nil || claims["tid"] != entratest.DefaultTenantID || claims["aud"] != "https://management.core.windows.net/" {
			t.Errorf("tenant %q: ARM token %v %v", tenant, claims, err)
		}
		demo := az.getAccessToken("--scope", "api://demo/.default")
		if claims, err := srv.VerifyToken(demo.AccessToken); err != nil || claims["aud"] != "api://demo" {
			t.Errorf("tenant %q: api://demo token %v %v", tenant, claims, err)
		}
		grants := map[string]int{}
		for _, r := range srv.TokenRequests() {
			grants[r.GrantType]++
			if r.ClientID != "04b07795-8ddb-461a-bbee-02f9e1bf7b46" {
				t.Errorf("token request from client %s, want the Azure CLI's", r.ClientID)
			}
		}
		if grants["password"] != 1 || grants["refresh_token"] == 0 {
			t.Errorf("tenant %q: grants %v, want one password grant then refresh tokens", tenant, grants)
		}
	}
}
