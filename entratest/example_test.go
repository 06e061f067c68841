package entratest_test

import (
	"encoding/json"
	"fmt"
	"log"
	"net/url"
	"strings"
	"time"

	"github.com/azid-go/azid/entratest"
)

// A test starts the emulator, asks it for a token the way any OAuth client
// would, and checks what it got. With a credential library, point its
// authority host at srv.AuthorityHost() and its transport at srv.Client()
// instead of posting the form by hand.
func Example() {
	srv, err := entratest.NewServer(nil) // registers the default app
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {entratest.DefaultClientID},
		"client_secret": {entratest.DefaultClientSecret},
		"scope":         {"https://storage.azure.com/.default"},
	}
	tokenURL := srv.URL() + "/" + entratest.DefaultTenantID + "/oauth2/v2.0/token"
	resp, err := srv.Client().Post(tokenURL, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		log.Fatal(err)
	}

	claims, err := srv.VerifyToken(body.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, body.TokenType, body.ExpiresIn)
	fmt.Println("aud:", claims["aud"])
	fmt.Println("token requests:", srv.Requests(entratest.EndpointToken))
	// Output:
	// 200 Bearer 3600
	// aud: https://storage.azure.com
	// token requests: 1
}

// Faults make the emulator misbehave on purpose. Here the token endpoint
// throttles the next request once, then heals by itself.
func ExampleServer_SetFault() {
	srv, err := entratest.NewServer(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	srv.SetFault(entratest.EndpointToken, entratest.Fault{Status: 429, RetryAfter: 2 * time.Second, Times: 1})

	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {entratest.DefaultClientID},
		"client_secret": {entratest.DefaultClientSecret},
		"scope":         {"api://demo/.default"},
	}
	tokenURL := srv.URL() + "/" + entratest.DefaultTenantID + "/oauth2/v2.0/token"
	for range 2 {
		resp, err := srv.Client().Post(tokenURL, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Output:
	// 429 2
	// 200
}
