package interop

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/azid-go/azid/entratest"
)

const (
	workloadClientID = "f0d00000-0000-4000-8000-00000000f0d0"
	workloadIssuer   = "https://oidc.interop.example/cluster"
	workloadSubject  = "system:serviceaccount:default:workload"
)

// WorkloadIdentityCredential as on Kubernetes: a projected service account
// token in a file (here from the emulator playing the cluster's issuer) is
// the client assertion of a client_credentials request, accepted because
// the app has a federated credential for that issuer and subject. A token
// for another subject is refused with Entra's AADSTS70021.
func TestAzidentityWorkloadIdentity(t *testing.T) {
	srv := newEmulator(t, &entratest.Options{Apps: []entratest.App{{
		TenantID: entratest.DefaultTenantID, ClientID: workloadClientID,
		FederatedCredentials: []entratest.FederatedCredential{{Issuer: workloadIssuer, Subject: workloadSubject}},
	}}})
	for _, tt := range []struct {
		subject string
		ok      bool
	}{
		{workloadSubject, true},
		{"system:serviceaccount:default:intruder", false},
	} {
		t.Run(tt.subject, func(t *testing.T) {
			srv.ResetCounts()
			fed, err := srv.IssueFederatedToken(entratest.FederatedToken{Issuer: workloadIssuer, Subject: tt.subject})
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(file, []byte(fed), 0o600); err != nil {
				t.Fatal(err)
			}
			cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
				ClientOptions: direct(srv), DisableInstanceDiscovery: true,
				TenantID: entratest.DefaultTenantID, ClientID: workloadClientID, TokenFilePath: file,
			})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
			log := srv.TokenRequests()
			if len(log) != 1 || log[0].GrantType != "client_credentials" || log[0].ClientID != workloadClientID {
				t.Fatalf("token log = %+v", log)
			}
			if !tt.ok {
				var afe *azidentity.AuthenticationFailedError
				if !errors.As(err, &afe) || !strings.Contains(err.Error(), "AADSTS70021") {
					t.Fatalf("err = %v, want AADSTS70021", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantClaims(t, srv, tok.Token, map[string]any{
				"appid": workloadClientID, "aud": "https://storage.azure.com",
				"oid": entratest.ServicePrincipalID(entratest.DefaultTenantID, workloadClientID),
			})
		})
	}
}
