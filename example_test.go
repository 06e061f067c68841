package azid_test

import (
	"context"
	"fmt"
	"log"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

// A service principal with a client secret. Against Entra ID, pass your
// tenant ID, client ID and secret, and nil options; this example uses the
// local emulator so that it runs anywhere.
func ExampleNewClientSecretCredential() {
	srv, err := entratest.NewServer(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	cred, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&azid.ClientSecretCredentialOptions{
			ClientOptions: azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()},
				Transport: srv.Client(),
			},
			DisableInstanceDiscovery: true, // the emulator is not a known Entra host
		})
	if err != nil {
		log.Fatal(err)
	}
	opts := policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}}
	for range 1000 {
		if _, err := cred.GetToken(context.Background(), opts); err != nil {
			log.Fatal(err)
		}
	}
	st := cred.CacheStats()
	fmt.Printf("1000 calls: %d token request, %d cache hits\n", st.TokenRequests, st.Hits)
	// Output: 1000 calls: 1 token request, 999 cache hits
}

// Asking for a token in another tenant: a multi-tenant app lists the tenants
// it may act in, or "*" for any.
func ExampleClientSecretCredential_GetToken_otherTenant() {
	const otherTenant = "22222222-0000-4000-8000-000000000002"
	srv, err := entratest.NewServer(&entratest.Options{Apps: []entratest.App{{
		TenantID: entratest.DefaultTenantID, ClientID: entratest.DefaultClientID,
		Secret: entratest.DefaultClientSecret, AllowedTenants: []string{otherTenant},
	}}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	cred, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&azid.ClientSecretCredentialOptions{
			ClientOptions: azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()},
				Transport: srv.Client(),
			},
			DisableInstanceDiscovery:   true,
			AdditionallyAllowedTenants: []string{otherTenant},
		})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{
		Scopes:   []string{"https://management.azure.com/.default"},
		TenantID: otherTenant,
	})
	if err != nil {
		log.Fatal(err)
	}
	claims, err := srv.VerifyToken(tok.Token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("token for tenant", claims["tid"])
	// Output: token for tenant 22222222-0000-4000-8000-000000000002
}
