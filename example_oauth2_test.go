package azid_test

import (
	"context"
	"fmt"
	"log"

	"github.com/azid-go/azid"
	"golang.org/x/oauth2"
)

// Using an azid credential where a library takes a golang.org/x/oauth2
// TokenSource, here oauth2.NewClient. Each Token call is answered by azid's
// cache.
func ExampleTokenSource() {
	d := newDemo()
	defer d.close()
	cred := d.credential()

	ts := azid.TokenSource(cred, "https://management.azure.com/.default")
	// oauth2.HTTPClient in the context sets the client that sends the
	// requests; the demo's trusts its test API.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, d.client)
	client := oauth2.NewClient(ctx, ts)
	for range 3 {
		resp, err := client.Get(d.api.URL + "/hello")
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	fmt.Println("token requests:", d.tokenRequests())
	// Output:
	// 200 OK
	// 200 OK
	// 200 OK
	// token requests: 1
}
