package azid_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

// A certificate credential from a PEM or PKCS#12 file.
func ExampleParseCertificates() {
	data, err := os.ReadFile("/path/to/cert.pfx")
	if err != nil {
		log.Fatal(err)
	}
	certs, key, err := azid.ParseCertificates(data, []byte("pfx password"))
	if err != nil {
		log.Fatal(err) // says what is wrong: the password, no key, a key of another certificate...
	}
	cred, err := azid.NewClientCertificateCredential("tenant-id", "client-id", certs, key, nil)
	if err != nil {
		log.Fatal(err)
	}
	_ = cred
}

// A middle-tier API acting for the users who call it: one credential made
// at start-up, and a cheap one per incoming request that shares its cache.
func ExampleOnBehalfOfCredential_WithUserAssertion() {
	srv, err := entratest.NewServer(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	// In a real API, these are the bearer tokens of incoming requests.
	alice, _ := srv.IssueUserAccessToken(entratest.UserAccessToken{Audience: entratest.DefaultClientID, Username: "alice@entratest.example"})
	bob, _ := srv.IssueUserAccessToken(entratest.UserAccessToken{Audience: entratest.DefaultClientID, Username: "bob@entratest.example"})

	base, err := azid.NewOnBehalfOfCredentialWithSecret(entratest.DefaultTenantID, entratest.DefaultClientID, alice, entratest.DefaultClientSecret,
		&azid.OnBehalfOfCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()}, Transport: srv.Client()},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		log.Fatal(err)
	}
	graph := policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/User.Read"}}
	for _, userToken := range []string{alice, bob, alice, bob} {
		cred, err := base.WithUserAssertion(userToken)
		if err != nil {
			log.Fatal(err)
		}
		if _, err := cred.GetToken(context.Background(), graph); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("token requests:", srv.Requests(entratest.EndpointToken))
	// Output: token requests: 2
}

// Workload identity in a Kubernetes pod reads AZURE_CLIENT_ID,
// AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE; here the options name
// them and the emulator plays both the cluster's issuer and Entra.
func ExampleNewWorkloadIdentityCredential() {
	srv, err := entratest.NewServer(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	const issuer, subject = "https://oidc.cluster.example", "system:serviceaccount:default:app"
	const clientID = "a0a0a0a0-0000-4000-8000-0000000000a0"
	_ = srv.AddApp(entratest.App{TenantID: entratest.DefaultTenantID, ClientID: clientID,
		FederatedCredentials: []entratest.FederatedCredential{{Issuer: issuer, Subject: subject}}})
	saToken, _ := srv.IssueFederatedToken(entratest.FederatedToken{Issuer: issuer, Subject: subject})
	dir, _ := os.MkdirTemp("", "wi")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "token")
	_ = os.WriteFile(file, []byte(saToken), 0o600)

	cred, err := azid.NewWorkloadIdentityCredential(&azid.WorkloadIdentityCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()}, Transport: srv.Client()},
		DisableInstanceDiscovery: true,
		ClientID:                 clientID,
		TenantID:                 entratest.DefaultTenantID,
		TokenFilePath:            file,
	})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
	if err != nil {
		log.Fatal(err)
	}
	claims, _ := srv.VerifyToken(tok.Token)
	fmt.Println(claims["appid"] == clientID)
	// Output: true
}
