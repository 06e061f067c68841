package interop

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/azid-go/azid/entratest"
)

// wantClaims checks a token's claims as a resource would.
func wantClaims(t *testing.T, srv *entratest.Server, token string, want map[string]any) map[string]any {
	t.Helper()
	claims, err := srv.VerifyToken(token)
	if err != nil {
		t.Fatalf("the emulator does not verify the token azidentity returned: %v", err)
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	return claims
}

// Unmodified azidentity's ClientSecretCredential gets a token from the
// emulator at its own address with instance discovery off (how tests point
// azidentity at a local authority), and serves the second call from MSAL's
// cache: exactly one token request.
func TestAzidentityClientSecret(t *testing.T) {
	srv := newEmulator(t, nil)
	cred, err := azidentity.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: direct(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}}
	tok, err := cred.GetToken(ctx(t), opts)
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	wantClaims(t, srv, tok.Token, map[string]any{
		"aud":   "https://storage.azure.com",
		"tid":   entratest.DefaultTenantID,
		"appid": entratest.DefaultClientID,
		"iss":   "https://sts.windows.net/" + entratest.DefaultTenantID + "/",
		"oid":   entratest.ServicePrincipalID(entratest.DefaultTenantID, entratest.DefaultClientID),
	})
	again, err := cred.GetToken(ctx(t), opts)
	if err != nil || again.Token != tok.Token {
		t.Fatalf("second GetToken: %v (same token: %v)", err, again.Token == tok.Token)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
	if n := srv.Requests(entratest.EndpointInstanceDiscovery); n != 0 {
		t.Errorf("instance discovery requests = %d with DisableInstanceDiscovery", n)
	}
	log := srv.TokenRequests()
	if len(log) != 1 || log[0].GrantType != "client_credentials" || !strings.Contains(log[0].Scope, "https://storage.azure.com/.default") {
		t.Errorf("token log = %+v", log)
	}
}

// With instance discovery on, MSAL validates the authority with
// login.microsoftonline.com. Through the proxy, the emulator answers that
// too: for Entra's own host (a credential configured for the public cloud,
// as in production) and for the emulator's address (the Azure CLI case).
func TestAzidentityClientSecretInstanceDiscovery(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts func(*entratest.Server) azidentity.ClientSecretCredentialOptions
	}{
		{"public cloud", func(srv *entratest.Server) azidentity.ClientSecretCredentialOptions {
			return azidentity.ClientSecretCredentialOptions{ClientOptions: viaProxy(srv)}
		}},
		{"emulator authority", func(srv *entratest.Server) azidentity.ClientSecretCredentialOptions {
			o := viaProxy(srv)
			o.Cloud = direct(srv).Cloud
			return azidentity.ClientSecretCredentialOptions{ClientOptions: o}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newEmulator(t, nil)
			o := tt.opts(srv)
			cred, err := azidentity.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret, &o)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
			if err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			wantClaims(t, srv, tok.Token, map[string]any{"aud": "https://vault.azure.net", "tid": entratest.DefaultTenantID})
			if n := srv.Requests(entratest.EndpointInstanceDiscovery); n == 0 {
				t.Error("MSAL did not ask for instance discovery")
			}
			connects := srv.ProxyConnects()
			if connects["login.microsoftonline.com:443"] == 0 {
				t.Errorf("no tunnel to login.microsoftonline.com: %v", connects)
			}
			for _, r := range srv.RequestLog() {
				if r.Status != 200 {
					t.Errorf("request %+v failed", r)
				}
			}
		})
	}
}

// Client capabilities: azidentity's EnableCAE sends CP1, and the token
// carries xms_cc, which is how a resource knows it may send claims
// challenges. Without it, no xms_cc.
func TestAzidentityCAE(t *testing.T) {
	srv := newEmulator(t, nil)
	cred, err := azidentity.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: direct(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{"api://demo/.default"}, EnableCAE: true})
	if err != nil {
		t.Fatal(err)
	}
	claims := wantClaims(t, srv, tok.Token, nil)
	if cc, _ := claims["xms_cc"].([]any); len(cc) != 1 || cc[0] != "CP1" {
		t.Errorf("xms_cc = %v, want [CP1]", claims["xms_cc"])
	}
	tok, err = cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{"api://demo/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	if claims := wantClaims(t, srv, tok.Token, nil); claims["xms_cc"] != nil {
		t.Errorf("xms_cc = %v without EnableCAE", claims["xms_cc"])
	}
}

// A multi-tenant app: azidentity's TenantID request option with
// AdditionallyAllowedTenants gets a token in the other tenant, with that
// tenant's service principal.
func TestAzidentityOtherTenant(t *testing.T) {
	const other = "0e7e0000-0000-4000-8000-000000000001"
	srv := newEmulator(t, &entratest.Options{Apps: []entratest.App{{
		TenantID: entratest.DefaultTenantID, ClientID: entratest.DefaultClientID, Secret: entratest.DefaultClientSecret,
		AllowedTenants: []string{other},
	}}})
	cred, err := azidentity.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: direct(srv), DisableInstanceDiscovery: true, AdditionallyAllowedTenants: []string{other}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{"api://demo/.default"}, TenantID: other})
	if err != nil {
		t.Fatal(err)
	}
	wantClaims(t, srv, tok.Token, map[string]any{"tid": other, "oid": entratest.ServicePrincipalID(other, entratest.DefaultClientID)})
}

// azidentity parses the emulator's error bodies as Entra's: the
// AuthenticationFailedError names the AADSTS code, and the status reaches
// the caller.
func TestAzidentityErrors(t *testing.T) {
	srv := newEmulator(t, nil)
	for _, tt := range []struct {
		name, tenant, secret, scope string
		status                      int
		code                        string
	}{
		{"wrong secret", entratest.DefaultTenantID, "wrong", "api://demo/.default", 401, "AADSTS7000215"},
		{"unknown tenant", "0badc0de-0000-4000-8000-000000000000", entratest.DefaultClientSecret, "api://demo/.default", 400, "AADSTS90002"},
		{"scope without .default", entratest.DefaultTenantID, entratest.DefaultClientSecret, "https://graph.microsoft.com/User.Read", 400, "AADSTS1002012"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := azidentity.NewClientSecretCredential(tt.tenant, entratest.DefaultClientID, tt.secret,
				&azidentity.ClientSecretCredentialOptions{ClientOptions: direct(srv), DisableInstanceDiscovery: true})
			if err != nil {
				t.Fatal(err)
			}
			_, err = cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{tt.scope}})
			var afe *azidentity.AuthenticationFailedError
			if !errors.As(err, &afe) {
				t.Fatalf("err = %v, want an AuthenticationFailedError", err)
			}
			if afe.RawResponse == nil || afe.RawResponse.StatusCode != tt.status || !strings.Contains(err.Error(), tt.code) {
				t.Errorf("err = %v (status %v), want %d and %s", err, afe.RawResponse, tt.status, tt.code)
			}
		})
	}
}

// ClientAssertionCredential's wire format: the assertion and its type
// reach the emulator, which answers as Entra does for an app without a
// registered certificate (AADSTS700027), and azidentity reports that code.
// The success case, with a certificate registered on the app, is in
// emulator_assertion_test.go.
func TestAzidentityClientAssertionWire(t *testing.T) {
	srv := newEmulator(t, nil)
	calls := 0
	cred, err := azidentity.NewClientAssertionCredential(entratest.DefaultTenantID, entratest.DefaultClientID,
		func(ctx context.Context) (string, error) {
			calls++
			return "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", nil
		},
		&azidentity.ClientAssertionCredentialOptions{ClientOptions: direct(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{"api://demo/.default"}})
	if err == nil || !strings.Contains(err.Error(), "AADSTS700027") {
		t.Fatalf("err = %v, want AADSTS700027", err)
	}
	if calls != 1 {
		t.Errorf("assertion callback called %d times", calls)
	}
	if log := srv.TokenRequests(); len(log) != 1 || log[0].ClientID != entratest.DefaultClientID || log[0].ErrorCode != 700027 {
		t.Errorf("token log = %+v", log)
	}
}
