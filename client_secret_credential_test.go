package azid

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
	"github.com/azid-go/azid/internal/tokencache"
)

func TestClientSecretCredentialGetsAVerifiedToken(t *testing.T) {
	srv := newEmulator(t, nil)
	cred, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&ClientSecretCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := srv.VerifyToken(tok.Token)
	if err != nil {
		t.Fatalf("the emulator does not recognise the token: %v", err)
	}
	if claims["aud"] != "https://storage.azure.com" || claims["tid"] != entratest.DefaultTenantID || claims["appid"] != entratest.DefaultClientID {
		t.Fatalf("claims = %v", claims)
	}
	if tok.ExpiresOn.Before(before.Add(59*time.Minute)) || tok.ExpiresOn.After(time.Now().Add(time.Hour)) {
		t.Fatalf("ExpiresOn %v is not about an hour from now", tok.ExpiresOn)
	}
	if !tok.RefreshOn.After(before) || !tok.RefreshOn.Before(tok.ExpiresOn) {
		t.Fatalf("RefreshOn %v is not between now and expiry", tok.RefreshOn)
	}
	reqs := srv.TokenRequests()
	if len(reqs) != 1 || reqs[0].GrantType != "client_credentials" || reqs[0].Scope != "https://storage.azure.com/.default" || reqs[0].Claims != "" {
		t.Fatalf("token requests = %+v", reqs)
	}
}

func TestClientSecretCredentialCaches(t *testing.T) {
	srv := newEmulator(t, nil)
	cred := newSecretCred(t, srv, nil)
	first, err := cred.GetToken(context.Background(), demoScope)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		tok, err := cred.GetToken(context.Background(), demoScope)
		if err != nil || tok.Token != first.Token {
			t.Fatalf("repeat call: %v (same token: %v)", err, tok.Token == first.Token)
		}
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("101 calls made %d token requests, want 1", n)
	}
	st := cred.CacheStats()
	if st.Hits != 100 || st.Misses != 1 || st.TokenRequests != 1 || st.Entries != 1 {
		t.Fatalf("stats = %+v", st)
	}
	// A new instance starts with an empty cache.
	other := newSecretCred(t, srv, nil)
	if _, err := other.GetToken(context.Background(), demoScope); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 2 {
		t.Fatalf("a second credential instance made %d requests in all, want 2", n)
	}
}

func TestClientSecretCredentialColdHerd(t *testing.T) {
	srv := newEmulator(t, nil)
	srv.SetFault(entratest.EndpointToken, entratest.Fault{Latency: 50 * time.Millisecond})
	cred := newSecretCred(t, srv, nil)
	const callers = 100
	var wg sync.WaitGroup
	tokens := make([]string, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := cred.GetToken(context.Background(), demoScope)
			if err != nil {
				t.Error(err)
			}
			tokens[i] = tok.Token
		}()
	}
	wg.Wait()
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("%d cold callers caused %d token requests, want exactly 1", callers, n)
	}
	for i, tok := range tokens {
		if tok != tokens[0] {
			t.Fatalf("caller %d got a different token", i)
		}
	}
}

func TestClientSecretCredentialMultiTenant(t *testing.T) {
	const home, second, third = "11111111-0000-4000-8000-000000000001", "22222222-0000-4000-8000-000000000002", "33333333-0000-4000-8000-000000000003"
	srv := newEmulator(t, &entratest.Options{Apps: []entratest.App{{
		TenantID: home, ClientID: entratest.DefaultClientID, Secret: "s3cret-value",
		AllowedTenants: []string{second, third},
	}}})
	newCred := func(allowed ...string) *ClientSecretCredential {
		c, err := NewClientSecretCredential(home, entratest.DefaultClientID, "s3cret-value", &ClientSecretCredentialOptions{
			ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, AdditionallyAllowedTenants: allowed,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tidOf := func(cred *ClientSecretCredential, tenant string) (string, error) {
		tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: demoScope.Scopes, TenantID: tenant})
		if err != nil {
			return "", err
		}
		claims, err := srv.VerifyToken(tok.Token)
		if err != nil {
			t.Fatal(err)
		}
		return claims["tid"].(string), nil
	}

	cred := newCred(second)
	for _, tc := range []struct{ ask, want string }{{"", home}, {home, home}, {second, second}} {
		if got, err := tidOf(cred, tc.ask); err != nil || got != tc.want {
			t.Errorf("TenantID %q: tid %q, %v; want %q", tc.ask, got, err, tc.want)
		}
	}
	srv.ResetCounts()
	if _, err := tidOf(cred, third); err == nil || !strings.Contains(err.Error(), "AdditionallyAllowedTenants") {
		t.Errorf("a tenant outside the allowed list: err = %v, want advice to add it to AdditionallyAllowedTenants", err)
	}
	if _, err := tidOf(cred, "../evil"); err == nil {
		t.Error("a tenant ID with a path in it was accepted")
	}
	if n := srv.Requests(entratest.EndpointToken); n != 0 {
		t.Errorf("refused tenants still caused %d token requests", n)
	}
	if got, err := tidOf(newCred("*"), third); err != nil || got != third {
		t.Errorf(`with "*": tid %q, %v; want %q`, got, err, third)
	}
	// Tokens of different tenants are different cache entries.
	if st := cred.CacheStats(); st.Entries != 2 {
		t.Errorf("entries = %d, want one per tenant (2)", st.Entries)
	}
}

func TestClientSecretCredentialCAE(t *testing.T) {
	srv := newEmulator(t, nil)
	cred := newSecretCred(t, srv, nil)
	cae := policy.TokenRequestOptions{Scopes: demoScope.Scopes, EnableCAE: true}
	tok, err := cred.GetToken(context.Background(), cae)
	if err != nil {
		t.Fatal(err)
	}
	claims, _ := srv.VerifyToken(tok.Token)
	if fmt.Sprint(claims["xms_cc"]) != "[CP1]" {
		t.Fatalf("CAE token xms_cc = %v, want [CP1]", claims["xms_cc"])
	}
	plain, err := cred.GetToken(context.Background(), demoScope)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Token == tok.Token {
		t.Fatal("a CAE token was served to a non-CAE request")
	}
	if claims, _ := srv.VerifyToken(plain.Token); claims["xms_cc"] != nil {
		t.Fatalf("non-CAE token carries xms_cc %v", claims["xms_cc"])
	}
	// Both are cached.
	cred.GetToken(context.Background(), cae)
	cred.GetToken(context.Background(), demoScope)
	if n := srv.Requests(entratest.EndpointToken); n != 2 {
		t.Fatalf("%d token requests, want 2 (one CAE, one not)", n)
	}

	// A claims challenge bypasses the cache, is merged with the client
	// capabilities, and its token replaces the cached one.
	challenge := `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`
	fresh, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: demoScope.Scopes, EnableCAE: true, Claims: challenge})
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Token == tok.Token {
		t.Fatal("the claims request was served the cached token")
	}
	reqs := srv.TokenRequests()
	sent := reqs[len(reqs)-1].Claims
	if !strings.Contains(sent, `"nbf"`) || !strings.Contains(sent, `"xms_cc"`) {
		t.Fatalf("claims sent = %s, want the challenge merged with xms_cc", sent)
	}
	again, _ := cred.GetToken(context.Background(), cae)
	if again.Token != fresh.Token {
		t.Fatal("the token acquired for the claims challenge did not replace the cached one")
	}
}

func TestClientSecretCredentialWrongSecret(t *testing.T) {
	srv := newEmulator(t, nil)
	const secret = "wrong-secret-value-123"
	cred, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, secret,
		&ClientSecretCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, err = cred.GetToken(context.Background(), demoScope)
		var afe *AuthenticationFailedError
		if !errors.As(err, &afe) {
			t.Fatalf("err = %T %v, want *AuthenticationFailedError", err, err)
		}
		if afe.ErrorCode != "invalid_client" || len(afe.ErrorCodes) == 0 || afe.ErrorCodes[0] != 7000215 || afe.CorrelationID == "" {
			t.Fatalf("error fields = %+v", afe)
		}
		if afe.RawResponse == nil || afe.RawResponse.StatusCode != http.StatusUnauthorized {
			t.Fatalf("RawResponse = %v", afe.RawResponse)
		}
		msg := err.Error()
		if strings.Contains(msg, secret) || !strings.Contains(msg, "AADSTS7000215") || !strings.Contains(msg, "secret's value, not its ID") {
			t.Fatalf("message = %s", msg)
		}
	}
	// Failures are not cached: each call asked again.
	if n := srv.Requests(entratest.EndpointToken); n != 2 {
		t.Fatalf("%d token requests for two failing calls, want 2", n)
	}
}

// Each malformed answer from the token endpoint is a clear
// AuthenticationFailedError, and nothing is cached.
func TestClientSecretCredentialBadResponses(t *testing.T) {
	huge := `{"access_token":"` + strings.Repeat("a", 1<<20) + `","token_type":"Bearer","expires_in":3600}`
	cases := []struct {
		name, body, contentType string
		status                  int
		want                    string
	}{
		{"not JSON", "this is not json", "", 200, "JSON"},
		{"no access_token", `{"token_type":"Bearer","expires_in":3600}`, "", 200, `"access_token"`},
		{"no token_type", `{"access_token":"LEAKY-TOKEN-VALUE","expires_in":3600}`, "", 200, `"token_type"`},
		{"no expires_in", `{"access_token":"LEAKY-TOKEN-VALUE","token_type":"Bearer"}`, "", 200, `"expires_in"`},
		{"negative expires_in", `{"access_token":"LEAKY-TOKEN-VALUE","token_type":"Bearer","expires_in":-5}`, "", 200, `"expires_in"`},
		{"non-numeric expires_in", `{"access_token":"LEAKY-TOKEN-VALUE","token_type":"Bearer","expires_in":"soon"}`, "", 200, `"expires_in"`},
		{"absurd expires_in", `{"access_token":"LEAKY-TOKEN-VALUE","token_type":"Bearer","expires_in":1e30}`, "", 200, `"expires_in"`},
		{"body over 1 MiB", huge, "", 200, "1 MiB"},
		{"HTML page from a proxy", "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", "text/html", 502, "502 Bad Gateway"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newEmulator(t, nil)
			srv.SetFault(entratest.EndpointToken, entratest.Fault{Status: tc.status, Body: []byte(tc.body), ContentType: tc.contentType})
			cred := newSecretCred(t, srv, func(o *appOptions) { o.Retry.MaxRetries = -1 })
			for range 2 {
				_, err := cred.GetToken(context.Background(), demoScope)
				var afe *AuthenticationFailedError
				if !errors.As(err, &afe) {
					t.Fatalf("err = %T %v, want *AuthenticationFailedError", err, err)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("message %q does not mention %s", err, tc.want)
				}
				if strings.Contains(err.Error(), entratest.DefaultClientSecret) || strings.Contains(err.Error(), "LEAKY-TOKEN-VALUE") {
					t.Fatalf("message leaks a secret or token: %s", err)
				}
			}
			if n := srv.Requests(entratest.EndpointToken); n != 2 {
				t.Fatalf("%d token requests for two calls, want 2: a bad answer must not be cached", n)
			}
			if st := cred.CacheStats(); st.Hits != 0 {
				t.Fatalf("a bad answer was served from the cache: %+v", st)
			}
		})
	}
}

// During an outage the cached token keeps being served, with no caller
// waiting, until it is no longer usable; then callers get the error.
func TestClientSecretCredentialOutage(t *testing.T) {
	srv := newEmulator(t, nil)
	clk := newFakeClock()
	cred := newSecretCred(t, srv, func(o *appOptions) { o.clock = clk })
	tok, err := cred.GetToken(context.Background(), demoScope)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetOutage(true)
	clk.Advance(57 * time.Minute) // past the refresh time (55–57 min), before usable-until (59 min)
	for range 100 {
		got, err := cred.GetToken(context.Background(), demoScope)
		if err != nil || got.Token != tok.Token {
			t.Fatalf("during the outage: %v", err)
		}
	}
	eventually(t, "the background refresh to fail", func() bool { return cred.CacheStats().RefreshFailures == 1 })
	if st := cred.CacheStats(); st.Misses != 1 || st.BackgroundRefreshes != 1 {
		t.Fatalf("stats = %+v: callers waited, or refreshes were not backed off", st)
	}
	clk.Advance(3 * time.Minute) // past usable-until
	_, err = cred.GetToken(context.Background(), demoScope)
	var afe *AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RawResponse == nil || afe.RawResponse.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("past usable-until: err = %v, want the outage's 503", err)
	}
	srv.SetOutage(false)
	fresh, err := cred.GetToken(context.Background(), demoScope)
	if err != nil || fresh.Token == tok.Token {
		t.Fatalf("after the outage: %v", err)
	}
}

// A 429 with Retry-After is honoured: until it passes, calls that need a new
// token fail at once without reaching Entra.
func TestClientSecretCredentialRetryAfter(t *testing.T) {
	srv := newEmulator(t, nil)
	clk := newFakeClock()
	srv.SetFault(entratest.EndpointToken, entratest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 2 * time.Minute})
	cred := newSecretCred(t, srv, func(o *appOptions) { o.clock = clk; o.Retry.MaxRetries = -1 })
	_, err := cred.GetToken(context.Background(), demoScope)
	var afe *AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RetryAfterDuration() != 2*time.Minute {
		t.Fatalf("err = %v, want a 429 with Retry-After 2m", err)
	}
	_, err = cred.GetToken(context.Background(), demoScope)
	var te *tokencache.ThrottledError
	if !errors.As(err, &te) || !errors.As(err, &afe) {
		t.Fatalf("within Retry-After: err = %v", err)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("%d token requests within Retry-After, want 1", n)
	}
	srv.ClearFaults()
	clk.Advance(2 * time.Minute)
	if _, err := cred.GetToken(context.Background(), demoScope); err != nil {
		t.Fatalf("after Retry-After: %v", err)
	}
}

// A caller that gives up returns at once; the request it started completes
// and its token serves the next caller.
func TestClientSecretCredentialCallerGivesUp(t *testing.T) {
	srv := newEmulator(t, nil)
	srv.SetFault(entratest.EndpointToken, entratest.Fault{Latency: 300 * time.Millisecond})
	cred := newSecretCred(t, srv, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := cred.GetToken(ctx, demoScope); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the caller's deadline", err)
	}
	eventually(t, "the abandoned request to complete", func() bool {
		st := cred.CacheStats()
		return st.TokenRequests == 1 && cred.app.cache.Stats().Entries == 1 && st.TokenRequestFailures == 0 && hasToken(cred)
	})
	if _, err := cred.GetToken(context.Background(), demoScope); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
}

// hasToken reports whether a cache hit is possible now, without causing a
// miss: a zero-deadline context fails any call that would wait.
func hasToken(cred *ClientSecretCredential) bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := cred.GetToken(ctx, demoScope)
	return err == nil
}

// A custom authority host that is not on this machine is validated once
// with Entra's instance discovery (here the emulator behind its proxy, as
// login.microsoftonline.com), however many tokens follow.
func TestClientSecretCredentialInstanceDiscovery(t *testing.T) {
	srv := newEmulator(t, &entratest.Options{ProxyAddr: "127.0.0.1:0"})
	cred := newSecretCred(t, srv, func(o *appOptions) {
		o.DisableInstanceDiscovery = false
		o.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.contoso.example/"}
		o.Transport = srv.ProxyClient()
	})
	for range 3 {
		if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{fmt.Sprintf("api://app-%d/.default", time.Now().UnixNano())}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Requests(entratest.EndpointInstanceDiscovery); n != 1 {
		t.Fatalf("%d instance discovery requests for 3 token requests, want 1", n)
	}
}

func TestNewClientSecretCredentialErrors(t *testing.T) {
	srv := newEmulator(t, nil)
	cases := []struct {
		name, tenant, client, secret string
		opts                         *ClientSecretCredentialOptions
		want                         string
	}{
		{"empty secret", entratest.DefaultTenantID, entratest.DefaultClientID, "", nil, "secret"},
		{"empty client", entratest.DefaultTenantID, "", "s", nil, "client ID"},
		{"bad tenant", "contoso/../x", entratest.DefaultClientID, "s", nil, "tenant"},
		{"empty tenant", "", entratest.DefaultClientID, "s", nil, "tenant"},
		{"http authority", entratest.DefaultTenantID, entratest.DefaultClientID, "s", &ClientSecretCredentialOptions{
			ClientOptions: azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: strings.Replace(srv.AuthorityHost(), "https", "http", 1)}},
		}, "https"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewClientSecretCredential(tc.tenant, tc.client, tc.secret, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestAuthorityHostFromEnvironment(t *testing.T) {
	srv := newEmulator(t, nil)
	t.Setenv("AZURE_AUTHORITY_HOST", srv.AuthorityHost())
	cred, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: srv.Client()}, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred.GetToken(context.Background(), demoScope); err != nil {
		t.Fatalf("with AZURE_AUTHORITY_HOST set to the emulator: %v", err)
	}
}
