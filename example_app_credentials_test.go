package azid_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

// A certificate credential from a PEM or PKCS#12 file. Here the file is
// made on the spot and its certificate uploaded to a local emulator's app
// registration; in production it is the file whose certificate you
// uploaded to the app in Entra.
func ExampleParseCertificates() {
	dir, err := os.MkdirTemp("", "azid-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	certFile, certDER := writeCertificateFile(dir)
	srv, err := entratest.NewServer(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	uploaded, _ := x509.ParseCertificate(certDER)
	const clientID = "c0ffee00-0000-4000-8000-000000000001"
	if err := srv.AddApp(entratest.App{TenantID: entratest.DefaultTenantID, ClientID: clientID, Certificates: []*x509.Certificate{uploaded}}); err != nil {
		log.Fatal(err)
	}

	data, err := os.ReadFile(certFile)
	if err != nil {
		log.Fatal(err)
	}
	certs, key, err := azid.ParseCertificates(data, nil) // the password of a .pfx, or nil
	if err != nil {
		log.Fatal(err) // says what is wrong: the password, no key, a key of another certificate...
	}
	fmt.Printf("%d certificate for %s\n", len(certs), certs[0].Subject.CommonName)

	cred, err := azid.NewClientCertificateCredential(entratest.DefaultTenantID, clientID, certs, key, &azid.ClientCertificateCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()}, Transport: srv.Client()},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	fmt.Println("token:", err == nil)
	// Output:
	// 1 certificate for my-app
	// token: true
}

// writeCertificateFile writes a new self-signed certificate and its RSA key
// to a PEM file in dir, as openssl would, and returns the file and the
// certificate.
func writeCertificateFile(dir string) (string, []byte) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "my-app"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		log.Fatal(err)
	}
	file := filepath.Join(dir, "cert.pem")
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})...)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		log.Fatal(err)
	}
	return file, der
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
