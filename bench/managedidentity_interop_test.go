package bench

import (
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/azid-go/azid/entratest"
)

// miVariables are every variable a managed identity client reads; each
// case clears those its source does not set.
var miVariables = []string{
	"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT",
	"MSI_ENDPOINT", "MSI_SECRET", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "DEFAULT_IDENTITY_CLIENT_ID",
}

// TestAzidentityManagedIdentityAgainstTheEmulator shows the emulator's
// managed identity endpoints speak the protocols closely enough for
// azidentity (through MSAL Go) to get tokens from them. IMDS and Arc are
// left out: MSAL hard-codes IMDS's address and Arc's key directory.
// It sets process environment variables, so it does not run in parallel.
func TestAzidentityManagedIdentityAgainstTheEmulator(t *testing.T) {
	srv := newServer(t, &entratest.Options{SigningKeyBits: 1024})
	host, err := srv.ManagedIdentity()
	if err != nil {
		t.Fatal(err)
	}
	sys, _ := host.SystemAssigned()
	for _, ep := range []entratest.Endpoint{entratest.EndpointAppService, entratest.EndpointServiceFabric, entratest.EndpointAzureML, entratest.EndpointCloudShell} {
		t.Run(string(ep), func(t *testing.T) {
			for _, k := range miVariables {
				t.Setenv(k, "")
			}
			for k, v := range host.Env(ep) {
				t.Setenv(k, v)
			}
			cred, err := azidentity.NewManagedIdentityCredential(nil)
			if err != nil {
				t.Fatal(err)
			}
			// A resource per source: MSAL's managed identity cache is
			// process-wide, and would otherwise answer from another case.
			resource := "api://interop-" + string(ep)
			tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{resource + "/.default"}})
			if err != nil {
				t.Fatal(err)
			}
			claims, err := srv.VerifyToken(tok.Token)
			if err != nil {
				t.Fatal(err)
			}
			if claims["aud"] != resource || claims["oid"] != sys.ObjectID {
				t.Fatalf("claims = %v", claims)
			}
			if n := srv.Requests(ep); n != 1 {
				t.Fatalf("%d requests to %s", n, ep)
			}
		})
	}
}
