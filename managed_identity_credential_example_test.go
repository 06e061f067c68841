package azid_test

import (
	"context"
	"fmt"
	"log"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

// On an Azure VM, App Service app, container or Arc-enabled server, pass
// nil options (or an ID for a user-assigned identity): the credential finds
// the endpoint itself. This example points it at the emulator's IMDS so
// that it runs anywhere.
func ExampleNewManagedIdentityCredential() {
	srv, err := entratest.NewServer(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	host, err := srv.ManagedIdentity()
	if err != nil {
		log.Fatal(err)
	}
	user := host.AddUserAssigned(entratest.ManagedIdentity{})

	cred, err := azid.NewManagedIdentityCredential(&azid.ManagedIdentityCredentialOptions{
		ID:           azid.ClientID(user.ClientID),
		IMDSEndpoint: host.IMDSHost(),
	})
	if err != nil {
		log.Fatal(err)
	}
	opts := policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}}
	for range 1000 {
		if _, err := cred.GetToken(context.Background(), opts); err != nil {
			log.Fatal(err)
		}
	}
	st := cred.CacheStats()
	fmt.Printf("1000 calls: %d token request, %d cache hits, %d IMDS request\n", st.TokenRequests, st.Hits, srv.Requests(entratest.EndpointIMDS))
	// Output: 1000 calls: 1 token request, 999 cache hits, 1 IMDS request
}
