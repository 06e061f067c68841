package azid

import (
	"context"
	"crypto/x509"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
)

// Every app credential, against one emulator refusing replayed client
// assertions (newEmulator turns it on; duplicated parameters are always
// refused): each gets a token for three scopes, concurrently, with exactly
// one token request per scope and no request refused.
func TestAppCredentialsPassTheStrictEmulator(t *testing.T) {
	a, _ := sharedCerts(t)
	srv := newEmulator(t, &entratest.Options{SigningKeyBits: 1024})
	certApp(t, srv, certClientID, a)
	const workload = "system:serviceaccount:default:strict"
	federatedApp(t, srv, workload)
	const apiID = "0b0b0000-0000-4000-8000-000000000b0c"
	if err := srv.AddApp(entratest.App{TenantID: entratest.DefaultTenantID, ClientID: apiID, Certificates: []*x509.Certificate{a.cert}}); err != nil {
		t.Fatal(err)
	}
	userToken, err := srv.IssueUserAccessToken(entratest.UserAccessToken{Audience: apiID})
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeToken(t, srv, tokenFile, workload)
	cc, err := newCertCredential([]*x509.Certificate{a.cert}, a.key, false)
	if err != nil {
		t.Fatal(err)
	}
	signer := newCertAuth(certClientID, cc, nil)
	endpoint := srv.URL() + "/" + entratest.DefaultTenantID + "/oauth2/v2.0/token"
	co := emulatorOptions(srv)

	creds := map[string]azcore.TokenCredential{}
	add := func(name string, c azcore.TokenCredential, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		creds[name] = c
	}
	secret, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
	add("secret", secret, err)
	cert, err := NewClientCertificateCredential(entratest.DefaultTenantID, certClientID, []*x509.Certificate{a.cert}, a.key,
		&ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, SendCertificateChain: true})
	add("certificate", cert, err)
	callback, err := NewClientAssertionCredential(entratest.DefaultTenantID, certClientID,
		func(context.Context) (string, error) { return signer.sign(endpoint, time.Now()) },
		&ClientAssertionCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
	add("assertion callback", callback, err)
	obo, err := NewOnBehalfOfCredentialWithCertificate(entratest.DefaultTenantID, apiID, userToken, []*x509.Certificate{a.cert}, a.key,
		&OnBehalfOfCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
	add("on-behalf-of with a certificate", obo, err)
	wi, err := NewWorkloadIdentityCredential(&WorkloadIdentityCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true,
		TenantID: entratest.DefaultTenantID, ClientID: fedClientID, TokenFilePath: tokenFile})
	add("workload identity", wi, err)

	appScopes := []string{"api://one/.default", "api://two/.default", "api://three/.default"}
	oboScopes := []string{"https://graph.microsoft.com/User.Read", "https://graph.microsoft.com/Mail.Read", "https://storage.azure.com/user_impersonation"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, c := range creds {
		t.Run(name, func(t *testing.T) {
			srv.ResetCounts()
			scopes := appScopes
			if name == "on-behalf-of with a certificate" {
				scopes = oboScopes
			}
			var wg sync.WaitGroup
			for _, s := range scopes {
				for range 5 {
					wg.Go(func() {
						if _, err := c.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s}}); err != nil {
							t.Errorf("%s: %v", s, err)
						}
					})
				}
			}
			wg.Wait()
			log := srv.TokenRequests()
			if len(log) != len(scopes) {
				t.Fatalf("%d token requests for %d scopes: %+v", len(log), len(scopes), log)
			}
			for _, r := range log {
				if r.Status != 200 {
					t.Errorf("request refused: %+v", r)
				}
			}
		})
	}
}
