package azid_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// An Azure SDK client with an azid credential. Every Azure SDK for Go client
// takes an azcore.TokenCredential, so an azid credential goes where an
// azidentity one went, for example:
//
//	cred, err := azid.NewClientSecretCredential(tenantID, clientID, secret, nil)
//	client, err := azblob.NewClient("https://<account>.blob.core.windows.net/", cred, nil)
//	client, err := armresources.NewClient(subscriptionID, cred, nil)
//
// This example uses ClientSecretCredential (Example_defaultAzureCredential
// shows DefaultAzureCredential); any azid credential works the same way. The client here is azcore's generic Resource Manager
// client, which SDK modules such as armsubscriptions are built on, listing
// subscriptions from a stand-in for Resource Manager. The SDK's pipeline asks
// the credential for a token on every request; azid answers from its cache.
func Example_azureSDKClient() {
	d := newDemo()
	defer d.close()
	cred := d.credential()

	client, err := arm.NewClient("example.com/subscriptions", "v1.0.0", cred, &arm.ClientOptions{ClientOptions: d.clientOptions()})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		req, err := runtime.NewRequest(ctx, http.MethodGet, runtime.JoinPaths(client.Endpoint(), "/subscriptions"))
		if err != nil {
			log.Fatal(err)
		}
		req.Raw().URL.RawQuery = "api-version=2022-12-01"
		resp, err := client.Pipeline().Do(req)
		if err != nil {
			log.Fatal(err)
		}
		var page struct {
			Value []struct{ SubscriptionID, DisplayName string }
		}
		if err := runtime.UnmarshalAsJSON(resp, &page); err != nil {
			log.Fatal(err)
		}
		fmt.Println(page.Value[0].DisplayName, page.Value[0].SubscriptionID)
	}
	fmt.Println("token requests:", d.tokenRequests())
	// Output:
	// demo 00000000-0000-4000-8000-000000000001
	// demo 00000000-0000-4000-8000-000000000001
	// demo 00000000-0000-4000-8000-000000000001
	// token requests: 1
}
