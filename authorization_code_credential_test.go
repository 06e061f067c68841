package azid

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/azid-go/azid/entratest"
)

const webRedirect = "https://app.example/auth/callback"

// authCodeEmulator registers a confidential web app with a redirect URI.
func authCodeEmulator(t *testing.T) *entratest.Server {
	t.Helper()
	srv := newEmulator(t, &entratest.Options{Apps: []entratest.App{{
		TenantID: entratest.DefaultTenantID, ClientID: entratest.DefaultClientID, Secret: entratest.DefaultClientSecret,
		RedirectURIs: []string{webRedirect},
	}}})
	if err := srv.SetAutoApprove(entratest.DefaultUsername); err != nil {
		t.Fatal(err)
	}
	return srv
}

// authorize runs the authorization request in auto-approve mode, as a web
// app's user would in a browser, and returns the code.
func authorize(t *testing.T, srv *entratest.Server, challenge string) string {
	t.Helper()
	q := url.Values{"client_id": {entratest.DefaultClientID}, "response_type": {"code"}, "redirect_uri": {webRedirect},
		"scope": {"https://storage.azure.com/.default openid offline_access"}, "state": {"xyz"}}
	if challenge != "" {
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
	}
	c := *srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(srv.URL() + "/" + entratest.DefaultTenantID + "/oauth2/v2.0/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("state") != "xyz" || loc.Query().Get("code") == "" {
		t.Fatalf("authorize answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

func TestAuthorizationCodeCredentialRedeemsOnce(t *testing.T) {
	srv := authCodeEmulator(t)
	verifier := randomString(32)
	sum := sha256.Sum256([]byte(verifier))
	code := authorize(t, srv, base64.RawURLEncoding.EncodeToString(sum[:]))
	cred, err := NewAuthorizationCodeCredential(entratest.DefaultTenantID, entratest.DefaultClientID, code, webRedirect,
		&AuthorizationCodeCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true,
			ClientSecret: entratest.DefaultClientSecret, CodeVerifier: verifier})
	if err != nil {
		t.Fatal(err)
	}
	// Many first callers: one redemption.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cred.GetToken(context.Background(), storageScope); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	tok, err := cred.GetToken(context.Background(), vaultScope)
	if err != nil {
		t.Fatal(err)
	}
	if c := mustClaims(t, srv, tok.Token); c["upn"] != entratest.DefaultUsername || c["appidacr"] != "1" {
		t.Fatalf("claims = %v", c)
	}
	if g := grantCounts(srv); g["authorization_code"] != 1 || g["refresh_token"] != 1 || len(g) != 2 {
		t.Fatalf("grants = %v", g)
	}
	rec, err := cred.Authenticate(context.Background(), &storageScope)
	if err != nil || rec.Username != entratest.DefaultUsername {
		t.Fatalf("Authenticate after redemption = %+v, %v", rec, err)
	}
	// Once the refresh token is revoked, the credential cannot go on and
	// says so, without sending the spent code again.
	if err := srv.RevokeRefreshTokens(entratest.DefaultUsername); err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(context.Background(), graphScope)
	var are *AuthenticationRequiredError
	if !errors.As(err, &are) || !errors.Is(err, errCodeRedeemed) {
		t.Fatalf("GetToken after revocation = %v", err)
	}
	if g := grantCounts(srv); g["authorization_code"] != 1 {
		t.Fatalf("the code was sent again: %v", g)
	}
	if strings.Contains(err.Error(), code) || strings.Contains(err.Error(), entratest.DefaultClientSecret) {
		t.Fatal("the error holds the code or the secret")
	}
}

func TestAuthorizationCodeCredentialErrors(t *testing.T) {
	srv := authCodeEmulator(t)
	opts := func(o AuthorizationCodeCredentialOptions) *AuthorizationCodeCredentialOptions {
		o.ClientOptions, o.DisableInstanceDiscovery = emulatorOptions(srv), true
		o.ClientSecret = entratest.DefaultClientSecret
		return &o
	}
	sum := sha256.Sum256([]byte("the-right-verifier-0123456789012345678901234"))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	for _, tc := range []struct {
		name     string
		redirect string
		o        AuthorizationCodeCredentialOptions
		code     int
	}{
		{"PKCE mismatch", webRedirect, AuthorizationCodeCredentialOptions{CodeVerifier: "a-wrong-verifier-0123456789012345678901234567"}, 501481},
		{"wrong redirect URI", "https://app.example/other", AuthorizationCodeCredentialOptions{CodeVerifier: "the-right-verifier-0123456789012345678901234"}, 50011},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := authorize(t, srv, challenge)
			cred, err := NewAuthorizationCodeCredential(entratest.DefaultTenantID, entratest.DefaultClientID, code, tc.redirect, opts(tc.o))
			if err != nil {
				t.Fatal(err)
			}
			_, err = cred.GetToken(context.Background(), storageScope)
			var afe *AuthenticationFailedError
			if !errors.As(err, &afe) || afe.ErrorCodes[0] != tc.code {
				t.Fatalf("GetToken = %v, want AADSTS%d", err, tc.code)
			}
		})
	}
	// A code redeemed by one credential is refused to another (replay).
	code := authorize(t, srv, "")
	first, _ := NewAuthorizationCodeCredential(entratest.DefaultTenantID, entratest.DefaultClientID, code, webRedirect, opts(AuthorizationCodeCredentialOptions{}))
	if _, err := first.GetToken(context.Background(), storageScope); err != nil {
		t.Fatal(err)
	}
	replay, _ := NewAuthorizationCodeCredential(entratest.DefaultTenantID, entratest.DefaultClientID, code, webRedirect, opts(AuthorizationCodeCredentialOptions{}))
	var afe *AuthenticationFailedError
	if _, err := replay.GetToken(context.Background(), storageScope); !errors.As(err, &afe) || afe.ErrorCodes[0] != 54005 {
		t.Fatalf("replayed code = %v, want AADSTS54005", err)
	}
	// Without its secret, a confidential client is refused.
	code = authorize(t, srv, "")
	nosecret, _ := NewAuthorizationCodeCredential(entratest.DefaultTenantID, entratest.DefaultClientID, code, webRedirect,
		&AuthorizationCodeCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if _, err := nosecret.GetToken(context.Background(), storageScope); !errors.As(err, &afe) || afe.ErrorCodes[0] != 7000218 {
		t.Fatalf("no secret = %v", err)
	}
	for _, args := range [][4]string{{"", "c", "x", webRedirect}, {"t", "", "x", webRedirect}, {"t", "c", "", webRedirect}, {"t", "c", "x", ""}, {"t", "c", "x", "relative"}} {
		if _, err := NewAuthorizationCodeCredential(args[0], args[1], args[2], args[3], nil); err == nil {
			t.Errorf("NewAuthorizationCodeCredential%q accepted", args)
		}
	}
}
