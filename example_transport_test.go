package azid_test

import (
	"fmt"
	"io"
	"log"
	"net/http"

	"github.com/azid-go/azid"
)

// Calling an Entra-protected API with net/http: the transport adds a token
// from the credential to every request, and handles 401s (CAE claims
// challenges, revoked tokens) by retrying once.
func ExampleNewBearerTokenTransport() {
	d := newDemo()
	defer d.close()
	cred := d.credential()

	// The third argument is the transport that actually sends requests;
	// nil means http.DefaultTransport. The demo's trusts its test API.
	tr, err := azid.NewBearerTokenTransport(cred, []string{"https://management.azure.com/.default"}, d.client.Transport, nil)
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: tr}
	for range 3 {
		resp, err := client.Get(d.api.URL + "/hello")
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Status, string(body))
	}
	fmt.Println("token requests:", d.tokenRequests())
	// Output:
	// 200 OK {"hello":"world"}
	// 200 OK {"hello":"world"}
	// 200 OK {"hello":"world"}
	// token requests: 1
}
