package entratest

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

const mgmtScope = "https://management.core.windows.net//.default"

// armGet calls an ARM path with a bearer token ("" for none).
func armGet(t testing.TB, srv *Server, path, token string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, srv, req)
}

func wantARMError(t testing.TB, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d; body %s", r.status, status, r.raw)
	}
	e, _ := r.json["error"].(map[string]any)
	if e == nil || e["code"] != code || e["message"] == "" {
		t.Errorf("body %s, want ARM error %s", r.raw, code)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Bearer authorization_uri="https://`) {
		t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
	}
}

func TestARMSubscriptions(t *testing.T) {
	srv := newTestServer(t, nil)
	tok := getToken(t, srv, with(ccForm(), "scope", mgmtScope))
	r := armGet(t, srv, "/subscriptions?api-version=2019-11-01", tok)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	value, _ := r.json["value"].([]any)
	if len(value) != 1 {
		t.Fatalf("value = %s", r.raw)
	}
	sub := value[0].(map[string]any)
	id := DefaultSubscriptionID(DefaultTenantID)
	if sub["subscriptionId"] != id || sub["id"] != "/subscriptions/"+id || sub["tenantId"] != DefaultTenantID ||
		sub["state"] != "Enabled" || sub["displayName"] != "entratest subscription" {
		t.Errorf("subscription = %v", sub)
	}
	if DefaultSubscriptionID(DefaultTenantID) != DefaultSubscriptionID(strings.ToUpper(DefaultTenantID)) || !isGUID(id) {
		t.Errorf("DefaultSubscriptionID is not a stable GUID: %s", id)
	}
	if n := srv.Requests(EndpointARMSubscriptions); n != 1 {
		t.Errorf("Requests = %d", n)
	}
}

func TestARMConfiguredTenants(t *testing.T) {
	const other = "0badc0de-2222-4000-8000-000000000000"
	const sub1, sub2 = "5ab50000-0000-4000-8000-000000000001", "5ab50000-0000-4000-8000-000000000002"
	srv := newTestServer(t, &Options{
		Apps: []App{
			{TenantID: DefaultTenantID, ClientID: DefaultClientID, Secret: DefaultClientSecret},
			{TenantID: other, ClientID: DefaultClientID, Secret: DefaultClientSecret},
		},
		Tenants: []Tenant{
			{ID: DefaultTenantID, DisplayName: "Contoso", Domains: []string{"Contoso.example", "contoso.onmicrosoft.com"},
				Subscriptions: []Subscription{{ID: sub1, DisplayName: "dev"}, {ID: strings.ToUpper(sub2)}}},
			{ID: other, Subscriptions: []Subscription{}}, // none
		},
	})
	tok := getToken(t, srv, with(ccForm(), "scope", "https://management.azure.com/.default"))
	r := armGet(t, srv, "/subscriptions?api-version=2019-11-01", tok)
	value, _ := r.json["value"].([]any)
	if len(value) != 2 || value[0].(map[string]any)["displayName"] != "dev" || value[1].(map[string]any)["subscriptionId"] != sub2 {
		t.Errorf("subscriptions = %s", r.raw)
	}
	r = armGet(t, srv, "/tenants?api-version=2019-11-01", tok)
	value, _ = r.json["value"].([]any)
	if r.status != 200 || len(value) != 1 {
		t.Fatalf("tenants: %d %s", r.status, r.raw)
	}
	ten := value[0].(map[string]any)
	if ten["tenantId"] != DefaultTenantID || ten["id"] != "/tenants/"+DefaultTenantID || ten["displayName"] != "Contoso" ||
		ten["defaultDomain"] != "contoso.example" || ten["tenantCategory"] != "Home" {
		t.Errorf("tenant = %v", ten)
	}

	// A tenant with no subscriptions lists [], never null: the Azure CLI
	// iterates the list.
	r = postForm(t, srv, tokenPath(other), with(ccForm(), "scope", mgmtScope))
	r = armGet(t, srv, "/subscriptions?api-version=2019-11-01", r.str("access_token"))
	if r.status != 200 || !strings.Contains(string(r.raw), `"value":[]`) {
		t.Errorf("empty tenant: %d %s", r.status, r.raw)
	}
}

func TestARMRejects(t *testing.T) {
	clock := newTestClock(time.Now())
	srv := newTestServer(t, &Options{Now: clock.Now})
	good := getToken(t, srv, with(ccForm(), "scope", mgmtScope))
	other := newTestServer(t, nil)
	foreign := getToken(t, other, with(ccForm(), "scope", mgmtScope))
	wrongAud := getToken(t, srv, ccForm()) // api://demo

	for _, path := range []string{"/subscriptions", "/tenants"} {
		wantARMError(t, armGet(t, srv, path, good), 400, "MissingApiVersionParameter")
		p := path + "?api-version=2019-11-01"
		wantARMError(t, armGet(t, srv, p, ""), 401, "AuthenticationFailed")
		wantARMError(t, armGet(t, srv, p, "not-a-jwt"), 401, "InvalidAuthenticationToken")
		wantARMError(t, armGet(t, srv, p, foreign), 401, "InvalidAuthenticationToken")
		r := armGet(t, srv, p, wrongAud)
		wantARMError(t, r, 401, "InvalidAuthenticationTokenAudience")
		if !strings.Contains(string(r.raw), "api://demo") {
			t.Errorf("audience error does not name the audience: %s", r.raw)
		}
	}
	// Basic auth is not a bearer token.
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/subscriptions?api-version=2019-11-01", nil)
	req.SetBasicAuth("a", "b")
	wantARMError(t, do(t, srv, req), 401, "AuthenticationFailed")

	clock.Advance(2 * time.Hour)
	r := armGet(t, srv, "/subscriptions?api-version=2019-11-01", good)
	wantARMError(t, r, 401, "ExpiredAuthenticationToken")
	if strings.Contains(string(r.raw), good) || strings.Contains(r.header.Get("WWW-Authenticate"), good) {
		t.Error("an ARM error echoes the token")
	}
}

func TestARMMetadataEndpoints(t *testing.T) {
	srv := newProxyServer(t, nil)
	// msrestazure's form, which az cloud register reads.
	r := get(t, srv, "/metadata/endpoints?api-version=2015-01-01")
	auth, _ := r.json["authentication"].(map[string]any)
	if r.status != 200 || auth["loginEndpoint"] != srv.AuthorityHost() || r.str("graphEndpoint") != "https://graph.windows.net/" {
		t.Errorf("2015-01-01: %d %s", r.status, r.raw)
	}
	if aud, _ := auth["audiences"].([]any); len(aud) == 0 || aud[0] != "https://management.core.windows.net/" {
		t.Errorf("audiences = %v", auth["audiences"])
	}
	r = get(t, srv, "/metadata/endpoints?api-version=2019-05-01")
	if r.str("resourceManager") != srv.URL()+"/" || r.str("name") == "" {
		t.Errorf("2019-05-01: %s", r.raw)
	}
	if suffixes, _ := r.json["suffixes"].(map[string]any); suffixes["storage"] != "core.windows.net" {
		t.Errorf("suffixes = %v", r.json["suffixes"])
	}
	r = get(t, srv, "/metadata/endpoints?api-version=2022-09-01")
	if r.status != 200 || !strings.HasPrefix(string(r.raw), "[{") {
		t.Errorf("2022-09-01 is not a list of clouds: %s", r.raw)
	}
	wantARMError(t, get(t, srv, "/metadata/endpoints"), 400, "MissingApiVersionParameter")

	// Through the proxy, the cloud is Azure's public one.
	req, _ := http.NewRequest(http.MethodGet, "https://management.azure.com/metadata/endpoints?api-version=2019-05-01", nil)
	r = proxyDo(t, srv, req)
	auth, _ = r.json["authentication"].(map[string]any)
	if r.str("resourceManager") != "https://management.azure.com/" || auth["loginEndpoint"] != "https://login.microsoftonline.com/" {
		t.Errorf("proxied metadata: %s", r.raw)
	}
	if n := srv.Requests(EndpointARMMetadata); n != 5 {
		t.Errorf("Requests = %d, want 5", n)
	}
}

// A client that reaches the emulator's own address through the proxy (the
// Azure CLI registering a cloud at the emulator with HTTPS_PROXY set) is
// told the emulator's endpoints, not the public cloud's.
func TestARMMetadataOwnAddressThroughProxy(t *testing.T) {
	srv := newProxyServer(t, nil)
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/metadata/endpoints?api-version=2015-01-01", nil)
	r := proxyDo(t, srv, req)
	auth, _ := r.json["authentication"].(map[string]any)
	if auth["loginEndpoint"] != srv.AuthorityHost() {
		t.Errorf("loginEndpoint = %v, want %s", auth["loginEndpoint"], srv.AuthorityHost())
	}
	if log := srv.RequestLog(); len(log) != 1 || !log[0].Proxied {
		t.Errorf("log = %+v", log)
	}
}
