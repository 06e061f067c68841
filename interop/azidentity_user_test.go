package interop

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

// The emulator's user flows satisfy MSAL Go as azidentity uses it
// (id_token, client_info, refresh tokens), and azid's AuthenticationRecord
// reads azidentity's and writes the same one.

var (
	storageScope = policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}}
	vaultScope   = policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}}
)

// DeviceCodeCredential: the test approves the code through the emulator's
// API as the user would at /devicelogin; azidentity polls and gets tokens
// (device_code grant). Its silent path for another scope then redeems the
// refresh token (refresh_token grant) without another device code.
func TestAzidentityDeviceCode(t *testing.T) {
	srv := newEmulator(t, nil)
	srv.SetDeviceCodePolicy(entratest.DeviceCodePolicy{Interval: time.Second})
	prompts := 0
	cred, err := azidentity.NewDeviceCodeCredential(&azidentity.DeviceCodeCredentialOptions{
		ClientOptions:            direct(srv),
		DisableInstanceDiscovery: true,
		UserPrompt: func(_ context.Context, m azidentity.DeviceCodeMessage) error {
			prompts++
			return srv.ApproveDeviceCode(m.UserCode, entratest.DefaultUsername)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := cred.Authenticate(ctx(t), &storageScope)
	if err != nil {
		t.Fatal(err)
	}
	hid, _ := srv.HomeAccountID(entratest.DefaultUsername)
	if rec.HomeAccountID != hid || rec.Username != entratest.DefaultUsername || rec.TenantID != entratest.DefaultTenantID {
		t.Fatalf("azidentity's record = %+v", rec)
	}
	if g := grants(srv); g["device_code"] != 1 || len(g) != 1 || srv.Requests(entratest.EndpointDeviceCode) != 1 {
		t.Fatalf("grants = %v, device code requests = %d", g, srv.Requests(entratest.EndpointDeviceCode))
	}

	// MSAL's silent path: a new scope with the refresh token.
	srv.ResetCounts()
	tok, err := cred.GetToken(ctx(t), vaultScope)
	if err != nil {
		t.Fatal(err)
	}
	wantClaims(t, srv, tok.Token, map[string]any{"aud": "https://vault.azure.net", "upn": entratest.DefaultUsername})
	if g := grants(srv); g["refresh_token"] != 1 || len(g) != 1 || prompts != 1 {
		t.Fatalf("silent GetToken: grants %v, prompts %d", g, prompts)
	}

	// azid reads azidentity's record, and writes the same one.
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := azid.ParseAuthenticationRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if ours.HomeAccountID != rec.HomeAccountID || ours.Username != rec.Username || ours.TenantID != rec.TenantID ||
		ours.ClientID != rec.ClientID || ours.Authority != rec.Authority || ours.Version != rec.Version {
		t.Fatalf("azid read %+v from %s", ours, b)
	}
	mine, err := azid.NewUsernamePasswordCredential(entratest.DefaultTenantID, entratest.AzureCLIClientID, entratest.DefaultUsername, entratest.DefaultPassword,
		&azid.UsernamePasswordCredentialOptions{ClientOptions: direct(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	azidRec, err := mine.Authenticate(ctx(t), &storageScope)
	if err != nil {
		t.Fatal(err)
	}
	if azidRec != ours {
		t.Fatalf("azid's record %+v differs from azidentity's %+v", azidRec, ours)
	}
	var back azidentity.AuthenticationRecord
	if b, _ := json.Marshal(azidRec); json.Unmarshal(b, &back) != nil || back != rec {
		t.Fatalf("azidentity read %+v from azid's record", back)
	}
}

// UsernamePasswordCredential: the password grant (ROPC) with the Azure
// CLI's public client, then the refresh token for another scope.
func TestAzidentityUsernamePassword(t *testing.T) {
	srv := newEmulator(t, nil)
	//lint:ignore SA1019 deprecated in azidentity, but still what ROPC users have
	cred, err := azidentity.NewUsernamePasswordCredential(entratest.DefaultTenantID, entratest.AzureCLIClientID,
		entratest.DefaultUsername, entratest.DefaultPassword,
		&azidentity.UsernamePasswordCredentialOptions{ClientOptions: direct(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(ctx(t), storageScope)
	if err != nil {
		t.Fatal(err)
	}
	oid, _ := srv.UserObjectID(entratest.DefaultUsername)
	wantClaims(t, srv, tok.Token, map[string]any{"upn": entratest.DefaultUsername, "oid": oid, "aud": "https://storage.azure.com"})
	if g := grants(srv); g["password"] != 1 || len(g) != 1 {
		t.Fatalf("grants = %v", g)
	}
	if log := srv.TokenRequests(); log[0].ClientID != entratest.AzureCLIClientID {
		t.Errorf("client = %s", log[0].ClientID)
	}
	if _, err := cred.GetToken(ctx(t), vaultScope); err != nil {
		t.Fatal(err)
	}
	if g := grants(srv); g["refresh_token"] != 1 || g["password"] != 1 {
		t.Fatalf("grants after a second scope = %v, want the refresh token used", g)
	}
}
