package interop

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

const pipelinesClientID = "a21e0000-0000-4000-8000-0000000a21e0"

// TestPipelinesOIDCWithAzidentity: unmodified azidentity's
// AzurePipelinesCredential gets a token through the emulator's Azure
// Pipelines OIDC endpoint, as azid's does, so the endpoint answers as the
// real one does for the SDK's own client; a wrong system access token gets
// the 401 azidentity reports.
func TestPipelinesOIDCWithAzidentity(t *testing.T) {
	srv := newEmulator(t, nil)
	conn, err := srv.AddPipelineServiceConnection(entratest.PipelineServiceConnection{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddApp(entratest.App{TenantID: entratest.DefaultTenantID, ClientID: pipelinesClientID,
		FederatedCredentials: []entratest.FederatedCredential{conn.FederatedCredential()}}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SYSTEM_OIDCREQUESTURI", srv.PipelineOIDCRequestURI())
	opts := policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}}

	theirs, err := azidentity.NewAzurePipelinesCredential(entratest.DefaultTenantID, pipelinesClientID, conn.ID, conn.SystemAccessToken,
		&azidentity.AzurePipelinesCredentialOptions{ClientOptions: direct(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := theirs.GetToken(ctx(t), opts)
	if err != nil {
		t.Fatalf("azidentity: %v", err)
	}
	if claims, err := srv.VerifyToken(tok.Token); err != nil || claims["appid"] != pipelinesClientID {
		t.Fatalf("azidentity's token: claims %v, %v", claims, err)
	}

	ours, err := azid.NewAzurePipelinesCredential(entratest.DefaultTenantID, pipelinesClientID, conn.ID, conn.SystemAccessToken,
		&azid.AzurePipelinesCredentialOptions{ClientOptions: direct(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ours.GetToken(ctx(t), opts); err != nil {
		t.Fatalf("azid: %v", err)
	}
	if n := srv.Requests(entratest.EndpointPipelinesOIDC); n != 2 {
		t.Fatalf("%d OIDC requests, want one per credential", n)
	}

	wrong, err := azidentity.NewAzurePipelinesCredential(entratest.DefaultTenantID, pipelinesClientID, conn.ID, "wrong-system-token",
		&azidentity.AzurePipelinesCredentialOptions{ClientOptions: direct(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.GetToken(ctx(t), opts); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("azidentity with a wrong system token: %v, want a 401", err)
	}
}
