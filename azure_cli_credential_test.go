// The fake tools are shell scripts.

//go:build unix

package azid

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/internal/devtool"
)

const armScope = "https://management.azure.com/.default"

var armOpts = policy.TokenRequestOptions{Scopes: []string{armScope}}

func newFakeAz(t *testing.T) *fakeTool {
	ft := newFakeTool(t, "az", "AZURE_CONFIG_DIR")
	ft.write("azureProfile.json", "alice\n")
	return ft
}

func newAzCred(t *testing.T, ft *fakeTool, o *AzureCLICredentialOptions, mod func(*toolHooks)) *AzureCLICredential {
	t.Helper()
	if o == nil {
		o = &AzureCLICredentialOptions{}
	}
	o.hooks = ft.hooks(mod)
	c, err := NewAzureCLICredential(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAzureCLICredentialGetToken(t *testing.T) {
	ft := newFakeAz(t)
	c := newAzCred(t, ft, nil, nil)
	tok := mustToken(t, c, armOpts)
	if tok.Token != "fake-alice-1" {
		t.Fatalf("token %q", tok.Token)
	}
	// Azure CLI 2.45 prints only expiresOn, in local time: an hour from now.
	if d := time.Until(tok.ExpiresOn); d < 58*time.Minute || d > 61*time.Minute {
		t.Fatalf("expires in %s, want about an hour (expiresOn read in the wrong zone?)", d)
	}
	if got := ft.calls(); len(got) != 1 || got[0] != "account get-access-token --output json --scope "+armScope {
		t.Fatalf("az ran with %q", got)
	}
}

func TestAzureCLICredentialExpiresOnEpoch(t *testing.T) {
	ft := newFakeAz(t)
	ft.setMode("epoch")
	c := newAzCred(t, ft, nil, func(h *toolHooks) { h.loc = time.FixedZone("far", 11*3600) })
	tok := mustToken(t, c, armOpts)
	// expires_on wins over expiresOn, whose zone is deliberately wrong here.
	if d := time.Until(tok.ExpiresOn); d < 58*time.Minute || d > 61*time.Minute {
		t.Fatalf("expires in %s, want about an hour", d)
	}
}

func TestAzureCLICredentialArguments(t *testing.T) {
	ft := newFakeAz(t)
	c := newAzCred(t, ft, &AzureCLICredentialOptions{TenantID: "Contoso.onmicrosoft.com", Subscription: "My Sub 1", AdditionallyAllowedTenants: []string{"other-tenant"}}, nil)
	mustToken(t, c, policy.TokenRequestOptions{Scopes: []string{"https://management.core.windows.net/"}})
	mustToken(t, c, policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/User.Read"}, TenantID: "other-tenant"})
	mustToken(t, c, policy.TokenRequestOptions{Scopes: []string{"00000003-0000-0000-c000-000000000000"}})
	want := []string{
		"account get-access-token --output json --resource https://management.core.windows.net/ --tenant contoso.onmicrosoft.com --subscription My Sub 1",
		"account get-access-token --output json --scope https://graph.microsoft.com/User.Read --tenant other-tenant --subscription My Sub 1",
		"account get-access-token --output json --resource 00000003-0000-0000-c000-000000000000 --tenant contoso.onmicrosoft.com --subscription My Sub 1",
	}
	got := ft.calls()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("az ran with\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAzureCLICredentialCaches(t *testing.T) {
	ft := newFakeAz(t)
	c := newAzCred(t, ft, nil, nil)
	for range 100 {
		if tok := mustToken(t, c, armOpts); tok.Token != "fake-alice-1" {
			t.Fatalf("token %q", tok.Token)
		}
	}
	mustToken(t, c, policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	mustToken(t, c, policy.TokenRequestOptions{Scopes: []string{armScope}, TenantID: "another"})
	mustToken(t, c, policy.TokenRequestOptions{Scopes: []string{armScope}, EnableCAE: true})
	if n := len(ft.calls()); n != 3 {
		t.Fatalf("az ran %d times, want 3 (one per scope and tenant; CAE does not matter to az)", n)
	}
	st := c.CacheStats()
	if st.TokenRequests != 3 || st.Hits != 100 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAzureCLICredentialDisableInMemoryCache(t *testing.T) {
	ft := newFakeAz(t)
	c := newAzCred(t, ft, &AzureCLICredentialOptions{DisableInMemoryCache: true}, nil)
	for i := range 3 {
		if tok := mustToken(t, c, armOpts); tok.Token != "fake-alice-"+string(rune('1'+i)) {
			t.Fatalf("call %d: token %q", i, tok.Token)
		}
	}
	if n := len(ft.calls()); n != 3 {
		t.Fatalf("az ran %d times, want 3", n)
	}
}

func TestAzureCLICredentialOneProcessForConcurrentCallers(t *testing.T) {
	ft := newFakeAz(t)
	ft.setMode("slow")
	c := newAzCred(t, ft, nil, nil)
	const callers = 50
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := c.GetToken(context.Background(), armOpts)
			if err == nil && tok.Token != "fake-alice-1" {
				err = errors.New("got " + tok.Token)
			}
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
	if n := len(ft.calls()); n != 1 {
		t.Fatalf("%d concurrent callers started az %d times, want 1", callers, n)
	}
	if st := c.CacheStats(); st.TokenRequests != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// The account changes (az login as someone else, az account set): the
// cached token of the previous account must stop being served.
func TestAzureCLICredentialSignInChangeDropsCache(t *testing.T) {
	ft := newFakeAz(t)
	c := newAzCred(t, ft, nil, func(h *toolHooks) { h.watch = devtool.WatchOptions{Interval: 2 * time.Millisecond} })
	if tok := mustToken(t, c, armOpts); tok.Token != "fake-alice-1" {
		t.Fatal(tok.Token)
	}
	ft.write("azureProfile.json", "bob\n")
	eventually(t, "bob's token", func() bool { return mustToken(t, c, armOpts).Token == "fake-bob-2" })
	if n := len(ft.calls()); n != 2 {
		t.Fatalf("az ran %d times, want 2", n)
	}
	if st := c.CacheStats(); st.Cleared != 1 {
		t.Fatalf("CacheStats().Cleared = %d after one sign-in change, want 1", st.Cleared)
	}
	// A cloud switch counts too.
	ft.write("clouds.config", "[AzureUSGovernment]\n")
	eventually(t, "a token after the cloud switch", func() bool { return mustToken(t, c, armOpts).Token == "fake-bob-3" })
}

// After a pause long enough for the watcher to stop, the first call checks
// the files before answering: no window at all.
func TestAzureCLICredentialSignInChangeWhileIdle(t *testing.T) {
	ft := newFakeAz(t)
	c := newAzCred(t, ft, nil, func(h *toolHooks) { h.watch = devtool.WatchOptions{Interval: time.Millisecond, IdleTicks: 2} })
	mustToken(t, c, armOpts)
	eventually(t, "the watcher to idle", func() bool { return !c.c.watcher.Running() })
	ft.write("azureProfile.json", "bob\n")
	if tok := mustToken(t, c, armOpts); tok.Token != "fake-bob-2" {
		t.Fatalf("first call after the sign-in change got %q", tok.Token)
	}
}

// az rewrites its own token cache when it refreshes a token; that is not a
// sign-in change and must not empty our cache.
func TestAzureCLICredentialOwnTokenCacheWrites(t *testing.T) {
	ft := newFakeAz(t)
	ft.setMode("refresh")
	c := newAzCred(t, ft, nil, nil)
	mustToken(t, c, armOpts)
	mustToken(t, c, policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if c.c.watcher.Check() {
		t.Fatal("az's own token cache write was taken for a sign-in change")
	}
	mustToken(t, c, armOpts)
	if n := len(ft.calls()); n != 2 {
		t.Fatalf("az ran %d times, want 2", n)
	}
	// Someone else's az changing the token cache does count.
	ft.write("msal_token_cache.json", "external")
	if !c.c.watcher.Check() {
		t.Fatal("an outside token cache change went unnoticed")
	}
	if tok := mustToken(t, c, armOpts); tok.Token != "fake-alice-3" {
		t.Fatalf("got %q after the cache was dropped", tok.Token)
	}
}

func TestAzureCLICredentialErrors(t *testing.T) {
	for _, tc := range []struct {
		mode        string
		unavailable bool
		want        string
	}{
		{"notloggedin", true, "AzureCLICredential: the Azure CLI is not signed in, or its sign-in expired; run az login: az failed with exit status 1: ERROR: Please run 'az login' to setup account."},
		{"fail", false, "AzureCLICredential authentication failed: az failed with exit status 1: ERROR: (SubscriptionNotFound) Subscription 'nope' could not be found."},
		{"garbage", false, "AzureCLICredential authentication failed: unexpected output from az: 45 bytes that are not a JSON object"},
		{"expired", false, "AzureCLICredential authentication failed: the tool returned a token that expired at "},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			ft := newFakeAz(t)
			ft.setMode(tc.mode)
			c := newAzCred(t, ft, nil, nil)
			_, err := c.GetToken(context.Background(), armOpts)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error\n%s\nwant\n%s", err, tc.want)
			}
			if strings.Contains(err.Error(), "fake-alice") {
				t.Errorf("the error quotes the tool's output: %v", err)
			}
			if isUnavailable(err) != tc.unavailable {
				t.Errorf("isUnavailable = %v, want %v", isUnavailable(err), tc.unavailable)
			}
			var afe *AuthenticationFailedError
			if !tc.unavailable && !errors.As(err, &afe) {
				t.Errorf("%T is not an AuthenticationFailedError", err)
			}
			// Failures are not cached: the next call runs az again.
			c.GetToken(context.Background(), armOpts)
			if n := len(ft.calls()); n != 2 {
				t.Errorf("az ran %d times after two failing calls, want 2", n)
			}
			// In DefaultAzureCredential every failure lets the chain go on.
			dc := newAzCred(t, ft, &AzureCLICredentialOptions{inDefaultChain: true}, nil)
			_, err = dc.GetToken(context.Background(), armOpts)
			if !isUnavailable(err) {
				t.Errorf("in the default chain: %v is not unavailable", err)
			}
			if !strings.HasPrefix(err.Error(), "AzureCLICredential: ") {
				t.Errorf("in the default chain: %q", err)
			}
		})
	}
}

func TestAzureCLICredentialNotInstalled(t *testing.T) {
	ft := newFakeAz(t)
	c := newAzCred(t, ft, nil, func(h *toolHooks) { h.env = []string{"PATH=" + t.TempDir(), "HOME=" + ft.home} })
	_, err := c.GetToken(context.Background(), armOpts)
	const want = "AzureCLICredential: the Azure CLI (az) is not installed or not on PATH; install it (https://aka.ms/azure-cli) or use another credential"
	if err == nil || err.Error() != want {
		t.Fatalf("error\n%v\nwant\n%s", err, want)
	}
	if !isUnavailable(err) {
		t.Fatal("not unavailable")
	}
}

func TestAzureCLICredentialTimeout(t *testing.T) {
	ft := newFakeAz(t)
	ft.setMode("hang")
	c := newAzCred(t, ft, nil, func(h *toolHooks) { h.timeout = 2 * time.Second })
	_, err := c.GetToken(context.Background(), armOpts)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a timeout", err)
	}
	const want = "AzureCLICredential authentication failed: az did not finish within 2s and was stopped"
	if err.Error() != want {
		t.Fatalf("error\n%s\nwant\n%s", err, want)
	}
	// az and what it started are gone.
	for _, f := range []string{"hang.pid", "child.pid"} {
		p := filepath.Join(ft.state, f)
		eventually(t, f+" to end", func() bool { return pidGone(t, p) })
	}
}

// A caller's short deadline stops its wait; a longer one extends az's time.
func TestAzureCLICredentialCallerDeadline(t *testing.T) {
	ft := newFakeAz(t)
	ft.setMode("hang")
	c := newAzCred(t, ft, nil, func(h *toolHooks) { h.timeout = 50 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := c.GetToken(ctx, armOpts)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	// The process was given the caller's 1.5 s, not the default 50 ms.
	if strings.Contains(err.Error(), "50ms") {
		t.Fatalf("error %q: az was not given the caller's deadline", err)
	}
}

// A caller whose deadline is further away than the engine's acquisition
// limit gets the whole of it: az answers after 1.5 s, past this
// credential's limit (a 200 ms tool timeout plus a 1 s grace, standing in
// for the default 10 s + 1 s and the engine's usual minute), and the token
// arrives. Without a deadline the same az is stopped at 200 ms.
func TestAzureCLICredentialDeadlineBeyondEngineLimit(t *testing.T) {
	for _, disableCache := range []bool{false, true} {
		t.Run(fmt.Sprintf("DisableInMemoryCache=%v", disableCache), func(t *testing.T) {
			ft := newFakeAz(t)
			ft.setMode("sleep")
			ft.write("fake_sleep", "1.5")
			c := newAzCred(t, ft, &AzureCLICredentialOptions{DisableInMemoryCache: disableCache}, func(h *toolHooks) { h.timeout = 200 * time.Millisecond })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tok, err := c.GetToken(ctx, armOpts)
			if err != nil {
				t.Fatalf("with a 30 s deadline: %v", err)
			}
			if !strings.HasPrefix(tok.Token, "fake-alice-") {
				t.Fatalf("token %q", tok.Token)
			}

			other := newAzCred(t, ft, &AzureCLICredentialOptions{DisableInMemoryCache: disableCache}, func(h *toolHooks) { h.timeout = 200 * time.Millisecond })
			_, err = other.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
			const want = "AzureCLICredential authentication failed: az did not finish within 200ms and was stopped"
			if !errors.Is(err, context.DeadlineExceeded) || err.Error() != want {
				t.Fatalf("without a deadline: %v, want %q", err, want)
			}
		})
	}
}

func TestAzureCLICredentialClaims(t *testing.T) {
	ft := newFakeAz(t)
	c := newAzCred(t, ft, &AzureCLICredentialOptions{TenantID: "contoso"}, nil)
	claims := `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	_, err := c.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{armScope}, Claims: claims})
	want := "AzureCLICredential authentication failed: the resource requires multifactor authentication or additional claims, which the Azure CLI can only satisfy by signing in again. Run this command, then retry: az login --tenant contoso --claims-challenge " +
		base64.StdEncoding.EncodeToString([]byte(claims)) + " --scope " + armScope
	if err == nil || err.Error() != want {
		t.Fatalf("error\n%v\nwant\n%s", err, want)
	}
	if isUnavailable(err) {
		t.Fatal("a claims challenge must stop a chain: the user has to act")
	}
	if n := len(ft.calls()); n != 0 {
		t.Fatalf("az ran %d times for a claims challenge it cannot take", n)
	}
}

func TestAzureCLICredentialValidation(t *testing.T) {
	ft := newFakeAz(t)
	for _, sub := range []string{"x; rm -rf /", "a'b", "$(id)", "--help"} {
		if _, err := NewAzureCLICredential(&AzureCLICredentialOptions{Subscription: sub, hooks: ft.hooks(nil)}); err == nil {
			t.Errorf("subscription %q accepted", sub)
		}
	}
	for _, tenant := range []string{"a b", "x;y", ".."} {
		if _, err := NewAzureCLICredential(&AzureCLICredentialOptions{TenantID: tenant, hooks: ft.hooks(nil)}); err == nil {
			t.Errorf("tenant %q accepted", tenant)
		}
	}
	c := newAzCred(t, ft, nil, nil)
	for _, opts := range []policy.TokenRequestOptions{
		{Scopes: []string{"https://x/.default; touch /tmp/pwned"}},
		{Scopes: []string{"$(id)"}},
		{Scopes: []string{"--debug"}},
		{Scopes: []string{armScope, "https://vault.azure.net/.default"}},
		{Scopes: nil},
		{Scopes: []string{armScope}, TenantID: "bad tenant"},
		{Scopes: []string{"a b"}},
		{Scopes: []string{armScope}, TenantID: "-debug"},
	} {
		if _, err := c.GetToken(context.Background(), opts); err == nil {
			t.Errorf("%+v accepted", opts)
		}
	}
	if n := len(ft.calls()); n != 0 {
		t.Fatalf("az ran %d times for invalid input", n)
	}
	// Tenants outside the allow list are refused when a tenant is set.
	tc := newAzCred(t, ft, &AzureCLICredentialOptions{TenantID: "home"}, nil)
	if _, err := tc.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{armScope}, TenantID: "elsewhere"}); err == nil || !strings.Contains(err.Error(), "AdditionallyAllowedTenants") {
		t.Fatalf("got %v", err)
	}
}

func BenchmarkAzureCLICredential(b *testing.B) {
	for _, bc := range []struct {
		name    string
		disable bool
	}{{"cached", false}, {"process-each-call", true}} {
		b.Run(bc.name, func(b *testing.B) {
			ft := newFakeTool(b, "az", "AZURE_CONFIG_DIR")
			ft.write("azureProfile.json", "alice\n")
			c, err := NewAzureCLICredential(&AzureCLICredentialOptions{DisableInMemoryCache: bc.disable, hooks: &toolHooks{env: ft.env}})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.GetToken(ctx, armOpts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The account changes while az is answering: its answer may belong to
// either account, so the credential asks again and never hands out the old
// account's token.
func TestAzureCLICredentialSignInChangeDuringRun(t *testing.T) {
	ft := newFakeAz(t)
	ft.setMode("switch")
	c := newAzCred(t, ft, nil, nil)
	if tok := mustToken(t, c, armOpts); tok.Token != "fake-bob-2" {
		t.Fatalf("got %q, want bob's token from a second run", tok.Token)
	}
	if tok := mustToken(t, c, armOpts); !strings.HasPrefix(tok.Token, "fake-bob-") {
		t.Fatalf("got %q", tok.Token)
	}
}

// Callers hammer the credential while the account changes: run with -race.
func TestAzureCLICredentialSignInChangeUnderLoad(t *testing.T) {
	ft := newFakeAz(t)
	c := newAzCred(t, ft, nil, func(h *toolHooks) { h.watch = devtool.WatchOptions{Interval: time.Millisecond} })
	mustToken(t, c, armOpts)
	var sawBob atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sawBob.Load() < 8 {
				tok, err := c.GetToken(context.Background(), armOpts)
				if err != nil {
					t.Error(err)
					return
				}
				if strings.HasPrefix(tok.Token, "fake-bob-") {
					sawBob.Add(1)
					return
				}
			}
		}()
	}
	ft.write("azureProfile.json", "bob\n")
	wg.Wait()
	// Once bob's token is out, alice's never comes back.
	for range 100 {
		if tok := mustToken(t, c, armOpts); !strings.HasPrefix(tok.Token, "fake-bob-") {
			t.Fatalf("alice's token %q served after the change", tok.Token)
		}
	}
}
