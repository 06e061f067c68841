package interop

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
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

// The emulator's managed identity endpoints speak the protocols closely
// enough for azidentity (through MSAL Go) to get tokens from them: App
// Service, Service Fabric, Azure ML and Cloud Shell, found through the
// variables each host sets. Arc is left out: MSAL hard-codes its key
// directory. IMDS is TestAzidentityManagedIdentityIMDS.
// The test sets process environment variables, so it does not run in
// parallel.
func TestAzidentityManagedIdentity(t *testing.T) {
	srv := newEmulator(t, &entratest.Options{SigningKeyBits: 1024})
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
			resource := processResource(t, "interop-"+string(ep))
			tok, err := cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{resource + "/.default"}})
			if err != nil {
				t.Fatal(err)
			}
			wantClaims(t, srv, tok.Token, map[string]any{"aud": resource, "oid": sys.ObjectID, "appid": sys.ClientID})
			if n := srv.Requests(ep); n != 1 {
				t.Fatalf("%d requests to %s", n, ep)
			}
		})
	}
}

// imdsTransport is the network of an Azure VM as far as a test needs it:
// requests to IMDS's fixed address, 169.254.169.254, reach the emulator's
// IMDS listener; any other request fails, so nothing leaves the machine.
// It is azcore's Transport option: azidentity and MSAL stay unmodified.
type imdsTransport struct {
	imds *url.URL // the emulator's IMDS base URL
	c    *http.Client
}

func (tr imdsTransport) Do(req *http.Request) (*http.Response, error) {
	if req.URL.Host != "169.254.169.254" {
		return nil, fmt.Errorf("imdsTransport: refusing a request to %s", req.URL.Host)
	}
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = tr.imds.Scheme, tr.imds.Host
	out.Host = req.URL.Host // what the client addressed, as on a VM
	return tr.c.Do(out)
}

// ManagedIdentityCredential on a VM: with no hosting variables set MSAL
// uses IMDS at its hard-coded address, which the test's transport routes to
// the emulator. System-assigned, then a user-assigned identity chosen by
// client ID and by resource ID.
func TestAzidentityManagedIdentityIMDS(t *testing.T) {
	for _, k := range miVariables {
		t.Setenv(k, "")
	}
	srv := newEmulator(t, &entratest.Options{SigningKeyBits: 1024})
	host, err := srv.ManagedIdentity()
	if err != nil {
		t.Fatal(err)
	}
	imds, err := url.Parse(host.IMDSHost())
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{}
	t.Cleanup(client.CloseIdleConnections)
	opts := azcore.ClientOptions{Transport: imdsTransport{imds: imds, c: client}}
	sys, _ := host.SystemAssigned()
	ua := host.AddUserAssigned(entratest.ManagedIdentity{ResourceID: "/subscriptions/5ab50000-0000-4000-8000-000000000001/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/interop"})

	for _, tt := range []struct {
		name string
		id   azidentity.ManagedIDKind
		want entratest.ManagedIdentity
	}{
		{"system-assigned", nil, sys},
		{"client ID", azidentity.ClientID(ua.ClientID), ua},
		{"resource ID", azidentity.ResourceID(ua.ResourceID), ua},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv.ResetCounts()
			cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts, ID: tt.id})
			if err != nil {
				t.Fatal(err)
			}
			resource := processResource(t, "interop-imds")
			tok, err := cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{resource + "/.default"}})
			if err != nil {
				t.Fatal(err)
			}
			wantClaims(t, srv, tok.Token, map[string]any{"aud": resource, "oid": tt.want.ObjectID, "appid": tt.want.ClientID})
			if n := srv.Requests(entratest.EndpointIMDS); n != 1 {
				t.Fatalf("%d IMDS requests, want 1", n)
			}
			for _, r := range srv.RequestLog() {
				if r.Endpoint != entratest.EndpointIMDS || r.Status != 200 || r.Path != "/metadata/identity/oauth2/token" {
					t.Errorf("request %+v", r)
				}
			}
		})
	}
}
