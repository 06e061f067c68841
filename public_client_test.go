package azid

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
	"github.com/azid-go/azid/internal/account"
)

// testPollUnit shrinks the device code flow's seconds in tests.
const testPollUnit = 2 * time.Millisecond

var (
	storageScope = policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}}
	vaultScope   = policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}}
	graphScope   = policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/User.Read"}}
)

// secondUser is registered next to the default user by newUserEmulator.
const (
	secondUsername = "grace@entratest.example"
	secondPassword = "entratest-not-a-real-password-2"
)

// newUserEmulator starts an emulator with the default app and two users.
// Like every emulator of these tests (newEmulator), it detects refresh
// token reuse, and the test fails if any refresh token was presented twice.
func newUserEmulator(t *testing.T) *entratest.Server {
	t.Helper()
	srv := newEmulator(t, &entratest.Options{Users: []entratest.User{
		{Username: entratest.DefaultUsername, Password: entratest.DefaultPassword, DisplayName: entratest.DefaultDisplayName},
		{Username: secondUsername, Password: secondPassword},
	}})
	srv.SetDeviceCodePolicy(entratest.DeviceCodePolicy{Interval: time.Second})
	return srv
}

// checkNoRefreshTokenReuse fails t, at its end, if srv saw a refresh token
// presented twice.
func checkNoRefreshTokenReuse(t *testing.T, srv *entratest.Server) {
	t.Helper()
	t.Cleanup(func() {
		if st := srv.RefreshTokenStats(); st.Reused != 0 || st.RevokedGrants != 0 || st.RefusedRevoked != 0 {
			t.Errorf("a refresh token was reused: %+v", st)
		}
	})
}

// approver answers device code prompts by approving (or otherwise
// handling) the code in the emulator, as a user would in a browser.
type approver struct {
	srv *entratest.Server
	mu  sync.Mutex
	// act handles one prompt; default: approve as the default user.
	act     func(code string) error
	prompts int
	last    DeviceCodeMessage
}

func (a *approver) prompt(_ context.Context, m DeviceCodeMessage) error {
	a.mu.Lock()
	a.prompts++
	a.last = m
	act := a.act
	a.mu.Unlock()
	if act == nil {
		act = func(code string) error { return a.srv.ApproveDeviceCode(code, entratest.DefaultUsername) }
	}
	return act(m.UserCode)
}

func (a *approver) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.prompts
}

// newDeviceCred builds a DeviceCodeCredential against srv through the
// constructor's path, with test seams open.
func newDeviceCred(t *testing.T, srv *entratest.Server, a *approver, mod func(*publicOptions)) *DeviceCodeCredential {
	t.Helper()
	o := publicOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true}
	if mod != nil {
		mod(&o)
	}
	c, err := newPublicClient(credNameDeviceCode, "", "", &deviceCodeFlow{prompt: a.prompt, unit: testPollUnit}, o)
	if err != nil {
		t.Fatal(err)
	}
	return &DeviceCodeCredential{client: c}
}

// grantCounts counts the token requests by grant type.
func grantCounts(srv *entratest.Server) map[string]int {
	m := map[string]int{}
	for _, r := range srv.TokenRequests() {
		m[r.GrantType]++
	}
	return m
}

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

// mustClaims verifies tok with srv and returns its claims.
func mustClaims(t *testing.T, srv *entratest.Server, tok string) map[string]any {
	t.Helper()
	c, err := srv.VerifyToken(tok)
	if err != nil {
		t.Fatalf("the emulator does not recognise the token: %v", err)
	}
	return c
}

func TestAuthenticateThenSilentCallsUseOnlyTheRefreshToken(t *testing.T) {
	srv := newUserEmulator(t)
	a := &approver{srv: srv}
	cred := newDeviceCred(t, srv, a, nil)
	rec, err := cred.Authenticate(context.Background(), &storageScope)
	if err != nil {
		t.Fatal(err)
	}
	hid, _ := srv.HomeAccountID(entratest.DefaultUsername)
	if rec.HomeAccountID != hid || rec.Username != entratest.DefaultUsername || rec.TenantID != entratest.DefaultTenantID ||
		rec.ClientID != developerSignOnClientID || rec.Authority != "https://"+strings.TrimPrefix(srv.URL(), "https://") || rec.Version != "1.0" {
		t.Fatalf("record = %+v", rec)
	}
	srv.ResetCounts()
	// The scope Authenticate asked for is cached; new scopes and another
	// tenant-neutral request go through the refresh token only.
	if _, err := cred.GetToken(context.Background(), storageScope); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 0 {
		t.Fatalf("the scope Authenticate got made %d token requests", n)
	}
	for _, s := range []policy.TokenRequestOptions{vaultScope, graphScope} {
		tok, err := cred.GetToken(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		c := mustClaims(t, srv, tok.Token)
		oid, _ := srv.UserObjectID(entratest.DefaultUsername)
		if c["oid"] != oid || c["upn"] != entratest.DefaultUsername || c["idtyp"] != "user" {
			t.Fatalf("claims = %v", c)
		}
	}
	if g := grantCounts(srv); g["refresh_token"] != 2 || len(g) != 1 || srv.Requests(entratest.EndpointDeviceCode) != 0 || a.count() != 1 {
		t.Fatalf("grants = %v, device code requests %d, prompts %d", g, srv.Requests(entratest.EndpointDeviceCode), a.count())
	}
	// And the cache serves repeats.
	if _, err := cred.GetToken(context.Background(), vaultScope); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 2 {
		t.Fatalf("a cached scope made a request: %d in all", n)
	}
}

func TestRotatedRefreshTokenIsStored(t *testing.T) {
	srv := newUserEmulator(t)
	srv.SetSingleUseRefreshTokens(true)
	cred := newDeviceCred(t, srv, &approver{srv: srv}, nil)
	if _, err := cred.Authenticate(context.Background(), &storageScope); err != nil {
		t.Fatal(err)
	}
	// Each refresh spends the previous refresh token; only a client that
	// stored each rotated one gets past the second.
	for _, s := range []string{"https://vault.azure.net/.default", "https://graph.microsoft.com/.default", "api://demo/.default"} {
		if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{s}}); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if g := grantCounts(srv); g["refresh_token"] != 3 || g[deviceGrant] != 1 {
		t.Fatalf("grants = %v", g)
	}
}

func TestDisableAutomaticAuthentication(t *testing.T) {
	srv := newUserEmulator(t)
	a := &approver{srv: srv}
	cred := newDeviceCred(t, srv, a, func(o *publicOptions) { o.DisableAutomaticAuthentication = true })
	_, err := cred.GetToken(context.Background(), storageScope)
	var are *AuthenticationRequiredError
	if !errors.As(err, &are) || are.TokenRequestOptions.Scopes[0] != storageScope.Scopes[0] || !isUnavailable(err) {
		t.Fatalf("GetToken before sign-in = %v", err)
	}
	if a.count() != 0 || srv.Requests(entratest.EndpointToken) != 0 {
		t.Fatal("the credential interacted or called Entra although automatic authentication is off")
	}
	if _, err := cred.Authenticate(context.Background(), &are.TokenRequestOptions); err != nil {
		t.Fatal(err)
	}
	if _, err := cred.GetToken(context.Background(), vaultScope); err != nil {
		t.Fatalf("silent after Authenticate: %v", err)
	}
	// Entra now demands MFA: the refresh fails, and the credential says
	// interaction is needed instead of prompting.
	if err := srv.SetInteractionRequired(entratest.DefaultUsername, true); err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(context.Background(), graphScope)
	if !errors.As(err, &are) || are.TokenRequestOptions.Scopes[0] != graphScope.Scopes[0] {
		t.Fatalf("GetToken needing MFA = %v", err)
	}
	var afe *AuthenticationFailedError
	if !errors.As(err, &afe) || len(afe.ErrorCodes) == 0 || afe.ErrorCodes[0] != 50076 {
		t.Fatalf("the cause is not Entra's AADSTS50076: %v", err)
	}
	if a.count() != 1 {
		t.Fatalf("prompts = %d, want 1", a.count())
	}
	// Authenticate (the user does MFA) makes it work again.
	if _, err := cred.Authenticate(context.Background(), &are.TokenRequestOptions); err != nil {
		t.Fatal(err)
	}
	if _, err := cred.GetToken(context.Background(), graphScope); err != nil {
		t.Fatal(err)
	}
}

func TestInteractionRequiredPromptsAgain(t *testing.T) {
	srv := newUserEmulator(t)
	a := &approver{srv: srv}
	cred := newDeviceCred(t, srv, a, nil)
	if _, err := cred.GetToken(context.Background(), storageScope); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetInteractionRequired(entratest.DefaultUsername, true); err != nil {
		t.Fatal(err)
	}
	if _, err := cred.GetToken(context.Background(), vaultScope); err != nil {
		t.Fatal(err)
	}
	if a.count() != 2 {
		t.Fatalf("prompts = %d, want 2 (the refresh needed interaction)", a.count())
	}
	if g := grantCounts(srv); g["refresh_token"] != 1 || g[deviceGrant] != 2 {
		t.Fatalf("grants = %v", g)
	}
}

func TestRevokedRefreshTokenNeedsAuthentication(t *testing.T) {
	srv := newUserEmulator(t)
	cred := newDeviceCred(t, srv, &approver{srv: srv}, func(o *publicOptions) { o.DisableAutomaticAuthentication = true })
	if _, err := cred.Authenticate(context.Background(), &storageScope); err != nil {
		t.Fatal(err)
	}
	if err := srv.RevokeRefreshTokens(entratest.DefaultUsername); err != nil {
		t.Fatal(err)
	}
	_, err := cred.GetToken(context.Background(), vaultScope)
	var are *AuthenticationRequiredError
	var afe *AuthenticationFailedError
	if !errors.As(err, &are) || !errors.As(err, &afe) || afe.ErrorCodes[0] != 50173 {
		t.Fatalf("GetToken with a revoked refresh token = %v", err)
	}
	// The cached token is still served: revocation reaches tokens at their
	// expiry (or through CAE), not before.
	if _, err := cred.GetToken(context.Background(), storageScope); err != nil {
		t.Fatal(err)
	}
}

func TestTwoAccountsNeverMix(t *testing.T) {
	srv := newUserEmulator(t)
	store := &account.MemoryUserStore{}
	a := &approver{srv: srv}
	shared := func(o *publicOptions) { o.users = store }
	cred := newDeviceCred(t, srv, a, shared)
	recA, err := cred.Authenticate(context.Background(), &storageScope)
	if err != nil {
		t.Fatal(err)
	}
	tokA, _ := cred.GetToken(context.Background(), storageScope)
	// Sign in again as the second user: the credential's account changes,
	// and the first user's cached token is not served for it.
	a.act = func(code string) error { return srv.ApproveDeviceCode(code, secondUsername) }
	recB, err := cred.Authenticate(context.Background(), &vaultScope)
	if err != nil {
		t.Fatal(err)
	}
	if recB.HomeAccountID == recA.HomeAccountID || recB.Username != secondUsername {
		t.Fatalf("second record = %+v", recB)
	}
	tokB, err := cred.GetToken(context.Background(), storageScope)
	if err != nil {
		t.Fatal(err)
	}
	oidB, _ := srv.UserObjectID(secondUsername)
	if tokB.Token == tokA.Token || mustClaims(t, srv, tokB.Token)["oid"] != oidB {
		t.Fatal("the second account got the first account's token")
	}
	// Credentials built with each record, sharing the refresh token store,
	// each get their own account's tokens silently.
	a.act = func(string) error { return errors.New("no prompt expected") }
	for _, tc := range []struct {
		rec  AuthenticationRecord
		user string
	}{{recA, entratest.DefaultUsername}, {recB, secondUsername}} {
		c := newDeviceCred(t, srv, a, func(o *publicOptions) { shared(o); o.Record = tc.rec })
		tok, err := c.GetToken(context.Background(), graphScope)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustClaims(t, srv, tok.Token)["upn"]; got != tc.user {
			t.Fatalf("record of %s got a token for %v", tc.user, got)
		}
	}
}

func TestConcurrentCallersShareOneSignIn(t *testing.T) {
	srv := newUserEmulator(t)
	a := &approver{srv: srv}
	cred := newDeviceCred(t, srv, a, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := cred.GetToken(context.Background(), storageScope)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if a.count() != 1 || srv.Requests(entratest.EndpointDeviceCode) != 1 {
		t.Fatalf("100 callers caused %d prompts and %d device codes, want 1", a.count(), srv.Requests(entratest.EndpointDeviceCode))
	}
	srv.ResetCounts()
	wg = sync.WaitGroup{}
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cred.GetToken(context.Background(), vaultScope); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if g := grantCounts(srv); g["refresh_token"] != 1 || len(g) != 1 {
		t.Fatalf("100 callers of a new scope made %v, want 1 refresh", g)
	}
}

func TestUserCredentialTenants(t *testing.T) {
	srv := newUserEmulator(t)
	cred := newDeviceCred(t, srv, &approver{srv: srv}, nil)
	// The default tenant "organizations" gives tokens in the user's home
	// tenant; a request naming the tenant gets one there.
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: storageScope.Scopes, TenantID: entratest.DefaultTenantID})
	if err != nil {
		t.Fatal(err)
	}
	if mustClaims(t, srv, tok.Token)["tid"] != entratest.DefaultTenantID {
		t.Fatal("wrong tid")
	}
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: storageScope.Scopes, TenantID: "bad/tenant"}); err == nil {
		t.Fatal("a malformed tenant was accepted")
	}
}

func runtimeGosched() { time.Sleep(time.Millisecond) }

func cloudPublic() cloud.Configuration { return cloud.AzurePublic }

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// newEmulatorB and newDeviceCredB are the benchmark forms of the helpers.
func newEmulatorB(b *testing.B) *entratest.Server {
	srv, err := entratest.NewServer(&entratest.Options{SigningKeyBits: 1024})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	srv.SetDeviceCodePolicy(entratest.DeviceCodePolicy{Interval: time.Second})
	return srv
}

func newDeviceCredB(b *testing.B, srv *entratest.Server) *DeviceCodeCredential {
	a := &approver{srv: srv}
	c, err := newPublicClient(credNameDeviceCode, "", "", &deviceCodeFlow{prompt: a.prompt, unit: testPollUnit},
		publicOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		b.Fatal(err)
	}
	return &DeviceCodeCredential{client: c}
}

func TestUserCredentialCAEAndClaimsChallenge(t *testing.T) {
	srv := newUserEmulator(t)
	a := &approver{srv: srv}
	cred := newDeviceCred(t, srv, a, nil)
	cae := policy.TokenRequestOptions{Scopes: storageScope.Scopes, EnableCAE: true}
	first, err := cred.GetToken(context.Background(), cae)
	if err != nil {
		t.Fatal(err)
	}
	if cc, _ := mustClaims(t, srv, first.Token)["xms_cc"].([]any); len(cc) != 1 || cc[0] != "CP1" {
		t.Fatalf("a CAE token lacks xms_cc CP1: %v", mustClaims(t, srv, first.Token))
	}
	// A resource's claims challenge: the cached token is bypassed and the
	// refresh token (not the user) answers it, with the challenge sent.
	challenge := `{"access_token":{"nbf":{"essential":true,"value":"` + fmt.Sprint(time.Now().Unix()) + `"}}}`
	srv.ResetCounts()
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: storageScope.Scopes, EnableCAE: true, Claims: challenge})
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.TokenRequests()
	if tok.Token == first.Token || len(reqs) != 1 || reqs[0].GrantType != "refresh_token" ||
		!strings.Contains(reqs[0].Claims, `"nbf"`) || !strings.Contains(reqs[0].Claims, "CP1") || a.count() != 1 {
		t.Fatalf("claims challenge: requests %+v, prompts %d", reqs, a.count())
	}
	// The new token replaced the cached one.
	if again, _ := cred.GetToken(context.Background(), cae); again.Token != tok.Token {
		t.Fatal("the challenged token did not replace the cached one")
	}
}
