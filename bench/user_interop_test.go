package bench

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

// The emulator's user flows must satisfy MSAL Go as azidentity uses it
// (id_token, client_info, refresh tokens), and azid's AuthenticationRecord
// must read azidentity's.

func userClientOptions(srv *entratest.Server) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()},
		Transport: srv.Client(),
	}
}

func TestAzidentityDeviceCodeAgainstTheEmulator(t *testing.T) {
	srv := newServer(t, nil)
	srv.SetDeviceCodePolicy(entratest.DeviceCodePolicy{Interval: time.Second})
	cred, err := azidentity.NewDeviceCodeCredential(&azidentity.DeviceCodeCredentialOptions{
		ClientOptions:            userClientOptions(srv),
		DisableInstanceDiscovery: true,
		UserPrompt: func(_ context.Context, m azidentity.DeviceCodeMessage) error {
			return srv.ApproveDeviceCode(m.UserCode, entratest.DefaultUsername)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := cred.Authenticate(context.Background(), &policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	hid, _ := srv.HomeAccountID(entratest.DefaultUsername)
	if rec.HomeAccountID != hid || rec.Username != entratest.DefaultUsername || rec.TenantID != entratest.DefaultTenantID {
		t.Fatalf("azidentity's record = %+v", rec)
	}
	// MSAL's silent path: a new scope with the refresh token.
	srv.ResetCounts()
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}}); err != nil {
		t.Fatal(err)
	}
	if reqs := srv.TokenRequests(); len(reqs) != 1 || reqs[0].GrantType != "refresh_token" {
		t.Fatalf("azidentity's silent request = %+v", reqs)
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
		&azid.UsernamePasswordCredentialOptions{ClientOptions: userClientOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	azidRec, err := mine.Authenticate(context.Background(), &policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
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

func TestAzidentityUsernamePasswordAgainstTheEmulator(t *testing.T) {
	srv := newServer(t, nil)
	//lint:ignore SA1019 the deprecated credential is what the comparison covers
	cred, err := azidentity.NewUsernamePasswordCredential(entratest.DefaultTenantID, entratest.AzureCLIClientID,
		entratest.DefaultUsername, entratest.DefaultPassword,
		&azidentity.UsernamePasswordCredentialOptions{ClientOptions: userClientOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := srv.VerifyToken(tok.Token); err != nil || c["upn"] != entratest.DefaultUsername {
		t.Fatalf("claims %v, %v", c, err)
	}
}
