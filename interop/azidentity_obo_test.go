package interop

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/azid-go/azid/entratest"
)

// OnBehalfOfCredential in a middle-tier API: the user's token for the API
// (as the front end got it) is exchanged for a token for a downstream API
// with the jwt-bearer grant; the result is the same user, with the
// delegated scope asked for. A second call for the same user and scope is
// served from MSAL's cache.
func TestAzidentityOnBehalfOf(t *testing.T) {
	srv := newEmulator(t, nil)
	user, err := srv.IssueUserAccessToken(entratest.UserAccessToken{Audience: entratest.DefaultClientID, Username: "ann@entratest.example"})
	if err != nil {
		t.Fatal(err)
	}
	userClaims := wantClaims(t, srv, user, nil)
	cred, err := azidentity.NewOnBehalfOfCredentialWithSecret(entratest.DefaultTenantID, entratest.DefaultClientID, user, entratest.DefaultClientSecret,
		&azidentity.OnBehalfOfCredentialOptions{ClientOptions: direct(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	scope := policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/User.Read"}}
	tok, err := cred.GetToken(ctx(t), scope)
	if err != nil {
		t.Fatal(err)
	}
	wantClaims(t, srv, tok.Token, map[string]any{
		"aud": "https://graph.microsoft.com", "scp": "User.Read", "oid": userClaims["oid"],
		"upn": "ann@entratest.example", "appid": entratest.DefaultClientID, "tid": entratest.DefaultTenantID,
	})
	if again, err := cred.GetToken(ctx(t), scope); err != nil || again.Token != tok.Token {
		t.Fatalf("second GetToken: %v (same token: %v)", err, again.Token == tok.Token)
	}
	log := srv.TokenRequests()
	if len(log) != 1 || log[0].GrantType != "urn:ietf:params:oauth:grant-type:jwt-bearer" || log[0].ClientID != entratest.DefaultClientID || log[0].Status != 200 {
		t.Fatalf("token log = %+v, want one jwt-bearer request", log)
	}

	// A user token for another API cannot be exchanged by this one.
	other, err := srv.IssueUserAccessToken(entratest.UserAccessToken{Audience: "api://someone-else"})
	if err != nil {
		t.Fatal(err)
	}
	cred, err = azidentity.NewOnBehalfOfCredentialWithSecret(entratest.DefaultTenantID, entratest.DefaultClientID, other, entratest.DefaultClientSecret,
		&azidentity.OnBehalfOfCredentialOptions{ClientOptions: direct(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred.GetToken(ctx(t), scope); err == nil {
		t.Fatal("a token for another audience was exchanged")
	}
}
