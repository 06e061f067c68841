package azid

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/azid-go/azid/entratest"
)

func TestUsernamePasswordCredential(t *testing.T) {
	srv := newUserEmulator(t)
	cred, err := NewUsernamePasswordCredential(entratest.DefaultTenantID, entratest.AzureCLIClientID, entratest.DefaultUsername, entratest.DefaultPassword,
		&UsernamePasswordCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), storageScope)
	if err != nil {
		t.Fatal(err)
	}
	if c := mustClaims(t, srv, tok.Token); c["upn"] != entratest.DefaultUsername || c["tid"] != entratest.DefaultTenantID {
		t.Fatalf("claims = %v", c)
	}
	// New scopes use the refresh token; the password is sent once.
	if _, err := cred.GetToken(context.Background(), vaultScope); err != nil {
		t.Fatal(err)
	}
	if g := grantCounts(srv); g["password"] != 1 || g["refresh_token"] != 1 {
		t.Fatalf("grants = %v", g)
	}
	rec, err := cred.Authenticate(context.Background(), &graphScope)
	if err != nil || rec.Username != entratest.DefaultUsername {
		t.Fatalf("Authenticate = %+v, %v", rec, err)
	}
}

func TestUsernamePasswordCredentialWrongPassword(t *testing.T) {
	srv := newUserEmulator(t)
	const wrong = "not-the-password-1234"
	cred, err := NewUsernamePasswordCredential(entratest.DefaultTenantID, entratest.AzureCLIClientID, entratest.DefaultUsername, wrong,
		&UsernamePasswordCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(context.Background(), storageScope)
	var afe *AuthenticationFailedError
	if !errors.As(err, &afe) || afe.ErrorCode != "invalid_grant" || afe.ErrorCodes[0] != 50126 {
		t.Fatalf("GetToken = %v", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Fatal("the error holds the password")
	}
	// MFA required: ROPC cannot satisfy it, and says so with Entra's code.
	if err := srv.SetInteractionRequired(entratest.DefaultUsername, true); err != nil {
		t.Fatal(err)
	}
	good, _ := NewUsernamePasswordCredential(entratest.DefaultTenantID, entratest.AzureCLIClientID, entratest.DefaultUsername, entratest.DefaultPassword,
		&UsernamePasswordCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if _, err := good.GetToken(context.Background(), storageScope); !errors.As(err, &afe) || afe.ErrorCodes[0] != 50076 {
		t.Fatalf("GetToken with MFA required = %v", err)
	}
}

func TestUsernamePasswordCredentialConstructorErrors(t *testing.T) {
	for _, args := range [][4]string{
		{"", "c", "u", "p"}, {"t", "", "u", "p"}, {"t", "c", "", "p"}, {"t", "c", "u", ""}, {"bad tenant", "c", "u", "p"},
	} {
		if _, err := NewUsernamePasswordCredential(args[0], args[1], args[2], args[3], nil); err == nil {
			t.Errorf("NewUsernamePasswordCredential%q accepted", args)
		}
	}
}
