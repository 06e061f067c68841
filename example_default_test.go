package azid_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

// An Azure SDK client with DefaultAzureCredential, as most programs start:
// the chain finds the identity the program has where it runs. Here that is
// a service principal configured by the environment (AZURE_TENANT_ID,
// AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), as a deployment would set it; on
// Azure it would be workload or managed identity, on a developer's machine
// the Azure CLI sign-in. Switching from azidentity is an import change:
//
//	cred, err := azid.NewDefaultAzureCredential(nil)
//	client, err := armresources.NewClient(subscriptionID, cred, nil)
//
// The client is azcore's Resource Manager client, which SDK modules such as
// armsubscriptions are built on, against a stand-in for Resource Manager.
// Its pipeline asks the credential for a token on every request; the one
// token request shows the credential's cache answering the rest. Pass a
// persistent cache (see package cache) in Cache to keep the token across
// restarts.
func Example_defaultAzureCredential() {
	d := newDemo()
	defer d.close()
	// What the deployment sets (the authority host points at the emulator).
	defer setenvs(map[string]string{
		"AZURE_TENANT_ID":     entratest.DefaultTenantID,
		"AZURE_CLIENT_ID":     entratest.DefaultClientID,
		"AZURE_CLIENT_SECRET": entratest.DefaultClientSecret,
		// Not set in this deployment; cleared in case the machine running
		// the example has them.
		"AZURE_CLIENT_CERTIFICATE_PATH": "", "AZURE_USERNAME": "", "AZURE_PASSWORD": "",
		"AZURE_FEDERATED_TOKEN_FILE": "", "AZURE_TOKEN_CREDENTIALS": "", "AZURE_ADDITIONALLY_ALLOWED_TENANTS": "",
	})()

	cred, err := azid.NewDefaultAzureCredential(&azid.DefaultAzureCredentialOptions{ClientOptions: d.clientOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		log.Fatal(err)
	}
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
