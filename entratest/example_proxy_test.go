package entratest_test

import (
	"fmt"
	"log"
	"net/url"
	"strings"

	"github.com/azid-go/azid/entratest"
)

// With the proxy, a client that insists on Entra's real host reaches the
// emulator. Tools run with HTTPS_PROXY=srv.ProxyURL() and trust
// srv.CACertPEM(); Go code can use srv.ProxyClient().
func ExampleServer_ProxyClient() {
	srv, err := entratest.NewServer(&entratest.Options{ProxyAddr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {entratest.DefaultClientID},
		"client_secret": {entratest.DefaultClientSecret},
		"scope":         {"https://management.azure.com/.default"},
	}
	resp, err := srv.ProxyClient().PostForm("https://login.microsoftonline.com/"+entratest.DefaultTenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	fmt.Println(srv.ProxyConnects()["login.microsoftonline.com:443"], "tunnel to login.microsoftonline.com")
	fmt.Println(srv.Requests(entratest.EndpointToken), "token request served by the emulator")
	fmt.Println(strings.HasPrefix(srv.ProxyURL(), "http://127.0.0.1:"))
	// Output:
	// 200 OK
	// 1 tunnel to login.microsoftonline.com
	// 1 token request served by the emulator
	// true
}

// A configuration file declares tenants, apps and users for a standalone
// emulator (azid emulator --config) or a test.
func ExampleParseConfig() {
	cfg, err := entratest.ParseConfig([]byte(`{
	  "tenants": [{"id": "7e4a0000-0000-4000-8000-000000000001", "domains": ["contoso.example"]}],
	  "apps": [{"tenantId": "7e4a0000-0000-4000-8000-000000000001",
	            "clientId": "a9900000-0000-4000-8000-000000000001", "secret": "test-secret"}],
	  "token": {"expiresIn": "10m"}
	}`))
	if err != nil {
		log.Fatal(err)
	}
	opts := cfg.Options
	srv, err := entratest.NewServer(&opts)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	fmt.Println(len(opts.Apps), "app;", opts.Token.ExpiresIn, "tokens")
	_, err = entratest.ParseConfig([]byte(`{"apps": [{"tenantID": "x", "clientId": "y", "secrt": "z"}]}`))
	fmt.Println(err)
	// Output:
	// 1 app; 10m0s tokens
	// entratest: config: json: unknown field "secrt"
}

// A configuration file's faults apply to a running server, and applying a
// later version of the file (as azid emulator does on SIGHUP) replaces
// them: here an outage, then a healthy endpoint again.
func ExampleConfig_ApplyFaults() {
	srv, err := entratest.NewServer(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	keys := func() int {
		resp, err := srv.Client().Get(srv.URL() + "/common/discovery/keys")
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, file := range []string{
		`{"faults": {"keys": {"status": 500, "times": 1}}}`,
		`{"outage": true}`,
		`{}`,
	} {
		cfg, err := entratest.ParseConfig([]byte(file))
		if err != nil {
			log.Fatal(err)
		}
		cfg.ApplyFaults(srv)
		fmt.Println(keys(), keys())
	}
	// Output:
	// 500 200
	// 503 503
	// 200 200
}
