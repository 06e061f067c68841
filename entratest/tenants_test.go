package entratest

import (
	"net/url"
	"testing"
)

func TestAddTenantValidation(t *testing.T) {
	srv := newTestServer(t, &Options{Tenants: []Tenant{{ID: "7e4a0000-0000-4000-8000-000000000001", Domains: []string{"a.example"}}}})
	for name, ten := range map[string]Tenant{
		"empty ID":         {},
		"not a GUID":       {ID: "contoso"},
		"alias":            {ID: "common"},
		"bad domain":       {ID: "7e4a0000-0000-4000-8000-000000000002", Domains: []string{"no_underscores.example"}},
		"one-label domain": {ID: "7e4a0000-0000-4000-8000-000000000002", Domains: []string{"localhost"}},
		"taken domain":     {ID: "7e4a0000-0000-4000-8000-000000000002", Domains: []string{"A.example"}},
		"duplicate":        {ID: "7E4A0000-0000-4000-8000-000000000001"},
		"bad subscription": {ID: "7e4a0000-0000-4000-8000-000000000002", Subscriptions: []Subscription{{ID: "x"}}},
	} {
		if err := srv.AddTenant(ten); err == nil {
			t.Errorf("%s: AddTenant(%+v) accepted", name, ten)
		}
	}
	if _, err := NewServer(&Options{Tenants: []Tenant{{ID: "x"}}}); err == nil {
		t.Error("NewServer accepted a bad tenant")
	}
}

// A configured tenant exists without apps: discovery works, and a token
// request there fails on the client (700016), not on the tenant (90002).
func TestTenantWithoutApps(t *testing.T) {
	const empty = "7e4a0000-0000-4000-8000-0000000000ee"
	srv := newTestServer(t, nil)
	wantEntraError(t, postForm(t, srv, tokenPath(empty), ccForm()), 400, "invalid_request", 90002)
	if err := srv.AddTenant(Tenant{ID: empty}); err != nil {
		t.Fatal(err)
	}
	if r := get(t, srv, "/"+empty+"/v2.0/.well-known/openid-configuration"); r.status != 200 {
		t.Errorf("discovery of a configured tenant: %d %s", r.status, r.raw)
	}
	wantEntraError(t, postForm(t, srv, tokenPath(empty), ccForm()), 400, "unauthorized_client", 700016)
}

func TestUserRealm(t *testing.T) {
	srv := newTestServer(t, &Options{Tenants: []Tenant{{ID: DefaultTenantID, Domains: []string{"contoso.example"}}}})
	for user, want := range map[string]string{
		"alice@contoso.example": "Managed",
		"Bob@CONTOSO.example":   "Managed",
		"eve@fabrikam.example":  "Unknown",
		"no-domain":             "Unknown",
		"x@":                    "Unknown",
	} {
		r := get(t, srv, "/common/userrealm/"+url.PathEscape(user)+"?api-version=1.0")
		if r.status != 200 || r.str("account_type") != want || r.str("ver") != "1.0" || r.str("cloud_instance_name") != "microsoftonline.com" {
			t.Errorf("%s: %d %s, want account_type %s", user, r.status, r.raw, want)
		}
		if want == "Managed" && r.str("domain_name") != "contoso.example" {
			t.Errorf("%s: domain_name = %q", user, r.str("domain_name"))
		}
	}
	if n := srv.Requests(EndpointUserRealm); n != 5 {
		t.Errorf("Requests = %d", n)
	}
}
