package azid

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
)

// graphScope is declared in public_client_test.go.

// issueUserToken issues a user's access token for the default app (the
// middle-tier API).
func issueUserToken(t testing.TB, srv *entratest.Server, username string) string {
	t.Helper()
	tok, err := srv.IssueUserAccessToken(entratest.UserAccessToken{Audience: "api://" + entratest.DefaultClientID, Username: username})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func newOBO(t *testing.T, srv *entratest.Server, assertion string, o *OnBehalfOfCredentialOptions) *OnBehalfOfCredential {
	t.Helper()
	if o == nil {
		o = &OnBehalfOfCredentialOptions{}
	}
	o.ClientOptions = emulatorOptions(srv)
	o.DisableInstanceDiscovery = true
	cred, err := NewOnBehalfOfCredentialWithSecret(entratest.DefaultTenantID, entratest.DefaultClientID, assertion, entratest.DefaultClientSecret, o)
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func TestOnBehalfOfCredentialActsForTheUser(t *testing.T) {
	srv := newEmulator(t, nil)
	assertion := issueUserToken(t, srv, "alice@entratest.example")
	userClaims, err := srv.VerifyToken(assertion)
	if err != nil {
		t.Fatal(err)
	}
	cred := newOBO(t, srv, assertion, nil)
	tok, err := cred.GetToken(context.Background(), graphScope)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := srv.VerifyToken(tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	if claims["oid"] != userClaims["oid"] || claims["tid"] != entratest.DefaultTenantID || claims["aud"] != "https://graph.microsoft.com" ||
		claims["scp"] != "User.Read" || claims["appid"] != entratest.DefaultClientID {
		t.Fatalf("OBO token claims = %v", claims)
	}
	if _, err := cred.GetToken(context.Background(), graphScope); err != nil || srv.Requests(entratest.EndpointToken) != 1 {
		t.Fatalf("second call: %v, %d requests", err, srv.Requests(entratest.EndpointToken))
	}
	if r := srv.TokenRequests()[0]; r.GrantType != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		t.Fatalf("grant = %q", r.GrantType)
	}
	// Another user, through WithUserAssertion: same cache, another entry.
	bob, err := cred.WithUserAssertion(issueUserToken(t, srv, "bob@entratest.example"))
	if err != nil {
		t.Fatal(err)
	}
	bt, err := bob.GetToken(context.Background(), graphScope)
	if err != nil {
		t.Fatal(err)
	}
	if bc, _ := srv.VerifyToken(bt.Token); bc["oid"] == userClaims["oid"] {
		t.Fatal("bob got alice's token")
	}
	if st := cred.CacheStats(); st.Entries != 2 || st.TokenRequests != 2 {
		t.Fatalf("stats = %+v", st)
	}
	if _, err := cred.WithUserAssertion(""); err == nil {
		t.Fatal("an empty assertion was accepted")
	}
}

func TestOnBehalfOfCredentialConcurrentCallers(t *testing.T) {
	// 1024-bit signing keeps 200 token signatures cheap under -race.
	srv := newEmulator(t, &entratest.Options{SigningKeyBits: 1024})
	base := newOBO(t, srv, issueUserToken(t, srv, "u0@entratest.example"), nil)
	ctx := context.Background()

	// 100 concurrent callers for one user: one request.
	var wg sync.WaitGroup
	var failures atomic.Int32
	start := make(chan struct{})
	for range 100 {
		wg.Go(func() {
			<-start
			if _, err := base.GetToken(ctx, graphScope); err != nil {
				failures.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if failures.Load() != 0 || srv.Requests(entratest.EndpointToken) != 1 {
		t.Fatalf("100 callers for one user: %d failures, %d requests, want 0 and 1", failures.Load(), srv.Requests(entratest.EndpointToken))
	}

	// 100 users, each with a credential built per request: 100 requests.
	srv.ResetCounts()
	assertions := make([]string, 100)
	for i := range assertions {
		assertions[i] = issueUserToken(t, srv, fmt.Sprintf("user%d@entratest.example", i+1))
	}
	start = make(chan struct{})
	for i := range 100 {
		wg.Go(func() {
			<-start
			c, err := base.WithUserAssertion(assertions[i])
			if err == nil {
				_, err = c.GetToken(ctx, graphScope)
			}
			if err != nil {
				failures.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if failures.Load() != 0 || srv.Requests(entratest.EndpointToken) != 100 {
		t.Fatalf("100 users: %d failures, %d requests, want 0 and 100", failures.Load(), srv.Requests(entratest.EndpointToken))
	}
	if st := base.CacheStats(); st.Entries != 101 {
		t.Fatalf("%d cache entries, want 101", st.Entries)
	}
}

func TestOnBehalfOfCredentialRejections(t *testing.T) {
	srv := newEmulator(t, nil)
	other := newEmulator(t, nil)
	expired, _ := srv.IssueUserAccessToken(entratest.UserAccessToken{Audience: entratest.DefaultClientID, ExpiresIn: -time.Minute})
	otherApp, _ := srv.IssueUserAccessToken(entratest.UserAccessToken{Audience: "api://someone-else"})
	foreign, _ := other.IssueUserAccessToken(entratest.UserAccessToken{Audience: entratest.DefaultClientID})
	appCred := newSecretCred(t, srv, nil)
	appOnly, err := appCred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"api://" + entratest.DefaultClientID + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		assertion string
		code      int
	}{
		"expired user token":           {expired, 500133},
		"token for another API":        {otherApp, 500131},
		"token from another authority": {foreign, 50013},
		"app-only token":               {appOnly.Token, 50013},
		"not a JWT":                    {"opaque", 50027},
	} {
		t.Run(name, func(t *testing.T) {
			cred := newOBO(t, srv, tc.assertion, nil)
			_, err := cred.GetToken(context.Background(), graphScope)
			var afe *AuthenticationFailedError
			if !errors.As(err, &afe) || len(afe.ErrorCodes) == 0 || afe.ErrorCodes[0] != tc.code {
				t.Fatalf("err = %v, want AADSTS%d", err, tc.code)
			}
			if len(tc.assertion) > 10 && strings.Contains(err.Error(), tc.assertion) {
				t.Fatal("the error quotes the user assertion")
			}
		})
	}
	// A wrong client secret is the app's problem, reported as such.
	cred, _ := NewOnBehalfOfCredentialWithSecret(entratest.DefaultTenantID, entratest.DefaultClientID, issueUserToken(t, srv, "x"), "wrong",
		&OnBehalfOfCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if _, err := cred.GetToken(context.Background(), graphScope); err == nil || !strings.Contains(err.Error(), "7000215") {
		t.Fatalf("wrong secret: %v", err)
	}
	// A tenant not allowed never reaches the network.
	cred = newOBO(t, srv, issueUserToken(t, srv, "x"), nil)
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: graphScope.Scopes, TenantID: secondTenantID}); err == nil {
		t.Fatal("a tenant outside AdditionallyAllowedTenants was accepted")
	}
}

func TestOnBehalfOfCredentialWithCertificateAndAssertion(t *testing.T) {
	a, _ := sharedCerts(t)
	srv := newEmulator(t, nil)
	const apiID = "0b0b0000-0000-4000-8000-000000000b0b"
	if err := srv.AddApp(entratest.App{TenantID: entratest.DefaultTenantID, ClientID: apiID, Certificates: []*x509.Certificate{a.cert},
		FederatedCredentials: []entratest.FederatedCredential{{Issuer: "https://issuer.example", Subject: "api"}}}); err != nil {
		t.Fatal(err)
	}
	assertion, _ := srv.IssueUserAccessToken(entratest.UserAccessToken{Audience: apiID})
	o := &OnBehalfOfCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, SendCertificateChain: true}
	certCred, err := NewOnBehalfOfCredentialWithCertificate(entratest.DefaultTenantID, apiID, assertion, []*x509.Certificate{a.cert, a.ca}, a.key, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := certCred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: graphScope.Scopes, EnableCAE: true}); err != nil {
		t.Fatal(err)
	}
	// A second token request signs a new assertion: this emulator refuses
	// a replayed one.
	if _, err := certCred.GetToken(context.Background(), graphScope); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
	var calls atomic.Int32
	asrtCred, err := NewOnBehalfOfCredentialWithClientAssertions(entratest.DefaultTenantID, apiID, assertion, func(context.Context) (string, error) {
		calls.Add(1)
		return srv.IssueFederatedToken(entratest.FederatedToken{Issuer: "https://issuer.example", Subject: "api"})
	}, o)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := asrtCred.GetToken(context.Background(), graphScope); err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("%d client assertion callbacks, want 1", calls.Load())
	}
	if _, err := NewOnBehalfOfCredentialWithClientAssertions("t", apiID, assertion, nil, nil); err == nil {
		t.Fatal("nil callback accepted")
	}
	if _, err := NewOnBehalfOfCredentialWithSecret(entratest.DefaultTenantID, apiID, "", "s", nil); err == nil {
		t.Fatal("empty user assertion accepted")
	}
}

func TestOnBehalfOfCredentialForgetsDroppedUsers(t *testing.T) {
	srv := newEmulator(t, nil)
	base := newOBO(t, srv, issueUserToken(t, srv, "keep@entratest.example"), nil)
	func() {
		c, _ := base.WithUserAssertion(issueUserToken(t, srv, "gone@entratest.example"))
		if _, err := c.GetToken(context.Background(), graphScope); err != nil {
			t.Fatal(err)
		}
	}()
	count := func() int {
		n := 0
		base.fam.users.Range(func(any, any) bool { n++; return true })
		return n
	}
	eventually(t, "the dropped user's assertion to be forgotten", func() bool {
		runtime.GC()
		return count() == 1
	})
	// The base credential's user is still known.
	if _, ok := base.fam.assertionFor(base.hash); !ok {
		t.Fatal("a live credential's assertion was forgotten")
	}
}

// cannedTransport answers every request with a new token, without a
// network: it lets a benchmark fill a cache with 100,000 users quickly.
type cannedTransport struct{ n atomic.Int64 }

func (c *cannedTransport) Do(*http.Request) (*http.Response, error) {
	body := fmt.Sprintf(`{"token_type":"Bearer","expires_in":3600,"ext_expires_in":3600,"access_token":"eyJ0eXAiOiJKV1QifQ.%024d.c2lnbmF0dXJl"}`, c.n.Add(1))
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body))}, nil
}

// BenchmarkOBO100kUsers fills one OnBehalfOfCredential's cache with
// 100,000 users (credentials made per user and dropped, as a service does
// per request), reports the heap the cache keeps per cached user, then
// measures a cache hit for a user among the 100,000.
func BenchmarkOBO100kUsers(b *testing.B) {
	const users = 100_000
	tr := &cannedTransport{}
	fam := &oboFamily{}
	app, err := newAppClient(credNameOBO, "tenant", "client", oboGrant{auth: secretAuth("secret"), fam: fam}, appOptions{
		ClientOptions: azcore.ClientOptions{Transport: tr,
			Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.example/"}},
		DisableInstanceDiscovery: true,
		MaxCacheEntries:          2 * users,
	})
	if err != nil {
		b.Fatal(err)
	}
	fam.app = app
	ctx := context.Background()
	assertions := make([]string, users)
	for i := range assertions {
		assertions[i] = fmt.Sprintf("eyJ0eXAiOiJKV1QifQ.user-%08d.c2lnbmF0dXJl", i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fillStart := time.Now()
	for _, a := range assertions {
		if _, err := fam.forUser(a).GetToken(ctx, lowerGraphScope); err != nil {
			b.Fatal(err)
		}
	}
	fill := time.Since(fillStart)
	runtime.GC()
	runtime.GC() // run the cleanups queued by the first
	runtime.ReadMemStats(&after)
	if st := app.cacheStats(); st.Entries != users {
		b.Fatalf("%d entries cached, want %d", st.Entries, users)
	}
	perUser := float64(after.HeapAlloc-before.HeapAlloc) / users

	b.Logf("%d users cached in %s: %.0f bytes of heap per cached user", users, fill.Round(time.Millisecond), perUser)

	creds := make([]*OnBehalfOfCredential, 1024)
	for i := range creds {
		creds[i] = fam.forUser(assertions[(i*97)%users])
	}
	// Hits for users among the 100,000: with the scope as cached (lower
	// case, the engine's fast path) and in the caller's mixed case, which
	// the engine normalises first.
	for _, bc := range []struct {
		name string
		opts policy.TokenRequestOptions
	}{
		{"hit", lowerGraphScope},
		{"hit-mixed-case-scope", graphScope},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := creds[i&1023].GetToken(ctx, bc.opts); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(perUser, "heapB/cached-user")
			b.ReportMetric(fill.Seconds(), "fill-s")
		})
	}
}

var lowerGraphScope = policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/user.read"}}

// MaxCacheEntries bounds the cache shared by every user of a credential:
// past it, entries are evicted, and the bound is never exceeded for long.
func TestOnBehalfOfCredentialMaxCacheEntries(t *testing.T) {
	srv := newEmulator(t, nil)
	base := newOBO(t, srv, issueUserToken(t, srv, "u0@entratest.example"), &OnBehalfOfCredentialOptions{MaxCacheEntries: 4})
	creds := []*OnBehalfOfCredential{base}
	for i := 1; i < 10; i++ {
		c, err := base.WithUserAssertion(issueUserToken(t, srv, fmt.Sprintf("u%d@entratest.example", i)))
		if err != nil {
			t.Fatal(err)
		}
		creds = append(creds, c)
	}
	for _, c := range creds {
		if _, err := c.GetToken(context.Background(), graphScope); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "eviction down to the bound", func() bool {
		st := base.CacheStats()
		return st.Entries <= 4 && st.Evictions >= 6
	})
	if _, err := NewOnBehalfOfCredentialWithSecret(entratest.DefaultTenantID, entratest.DefaultClientID, "a", "s",
		&OnBehalfOfCredentialOptions{MaxCacheEntries: -1}); err == nil || !strings.Contains(err.Error(), "MaxCacheEntries") {
		t.Fatalf("a negative MaxCacheEntries was not refused clearly: %v", err)
	}
	if _, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, "s",
		&ClientSecretCredentialOptions{MaxCacheEntries: -1}); err == nil {
		t.Fatal("ClientSecretCredential accepted a negative MaxCacheEntries")
	}
}
