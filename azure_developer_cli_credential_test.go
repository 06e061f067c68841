// The fake tools are shell scripts.

//go:build unix

package azid

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/internal/devtool"
)

func newFakeAzd(t testing.TB) *fakeTool {
	ft := newFakeTool(t, "azd", "AZD_CONFIG_DIR")
	ft.write("config.json", "alice\n")
	return ft
}

func newAzdCred(t testing.TB, ft *fakeTool, o *AzureDeveloperCLICredentialOptions, mod func(*toolHooks)) *AzureDeveloperCLICredential {
	t.Helper()
	if o == nil {
		o = &AzureDeveloperCLICredentialOptions{}
	}
	o.hooks = ft.hooks(mod)
	c, err := NewAzureDeveloperCLICredential(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAzureDeveloperCLICredentialGetToken(t *testing.T) {
	ft := newFakeAzd(t)
	c := newAzdCred(t, ft, &AzureDeveloperCLICredentialOptions{TenantID: "contoso"}, nil)
	tok := mustToken(t, c, policy.TokenRequestOptions{Scopes: []string{armScope, "https://vault.azure.net/.default"}})
	if tok.Token != "fake-alice-1" {
		t.Fatalf("token %q", tok.Token)
	}
	if d := time.Until(tok.ExpiresOn); d < 58*time.Minute || d > 61*time.Minute {
		t.Fatalf("expires in %s", d)
	}
	want := "auth token --output json --no-prompt --scope " + armScope + " --scope https://vault.azure.net/.default --tenant-id contoso"
	if got := ft.calls(); len(got) != 1 || got[0] != want {
		t.Fatalf("azd ran with %q, want %q", got, want)
	}
	for range 10 {
		mustToken(t, c, policy.TokenRequestOptions{Scopes: []string{armScope, "https://vault.azure.net/.default"}})
	}
	if n := len(ft.calls()); n != 1 {
		t.Fatalf("azd ran %d times, want 1", n)
	}
}

func TestAzureDeveloperCLICredentialOneProcessForConcurrentCallers(t *testing.T) {
	ft := newFakeAzd(t)
	ft.setMode("slow")
	c := newAzdCred(t, ft, nil, nil)
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.GetToken(context.Background(), armOpts); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := len(ft.calls()); n != 1 {
		t.Fatalf("30 concurrent callers started azd %d times, want 1", n)
	}
}

func TestAzureDeveloperCLICredentialSignInChange(t *testing.T) {
	ft := newFakeAzd(t)
	c := newAzdCred(t, ft, nil, func(h *toolHooks) { h.watch = devtool.WatchOptions{Interval: 2 * time.Millisecond} })
	mustToken(t, c, armOpts)
	ft.write("config.json", "bob\n")
	eventually(t, "bob's token", func() bool { return mustToken(t, c, armOpts).Token == "fake-bob-2" })
	// A new file under auth/ (azd auth login with another method) counts.
	if err := mkdirAll(filepath.Join(ft.state, "auth")); err != nil {
		t.Fatal(err)
	}
	ft.write(filepath.Join("auth", "auth.json"), "{}")
	eventually(t, "a token after the auth change", func() bool { return mustToken(t, c, armOpts).Token == "fake-bob-3" })
}

func TestAzureDeveloperCLICredentialErrors(t *testing.T) {
	for _, tc := range []struct {
		mode        string
		unavailable bool
		want        string
	}{
		{"notloggedin", true, "AzureDeveloperCLICredential: the Azure Developer CLI is not signed in, or its sign-in expired; run azd auth login: azd failed with exit status 1: not logged in, run `azd auth login` to login"},
		{"legacy", false, "AzureDeveloperCLICredential authentication failed: azd failed with exit status 1: ERROR: fetching token: AADSTS70043: The refresh token has expired due to inactivity."},
		{"fail", false, "AzureDeveloperCLICredential authentication failed: azd failed with exit status 1: AADSTS90002: Tenant not found."},
		{"garbage", false, "AzureDeveloperCLICredential authentication failed: unexpected output from azd: 32 bytes that are not a JSON object"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			ft := newFakeAzd(t)
			ft.setMode(tc.mode)
			c := newAzdCred(t, ft, nil, nil)
			_, err := c.GetToken(context.Background(), armOpts)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error\n%v\nwant\n%s", err, tc.want)
			}
			if isUnavailable(err) != tc.unavailable {
				t.Errorf("isUnavailable = %v", isUnavailable(err))
			}
			dc := newAzdCred(t, ft, &AzureDeveloperCLICredentialOptions{inDefaultChain: true}, nil)
			if _, err := dc.GetToken(context.Background(), armOpts); !isUnavailable(err) {
				t.Errorf("in the default chain: %v is not unavailable", err)
			}
		})
	}
}

func TestAzureDeveloperCLICredentialNotInstalled(t *testing.T) {
	ft := newFakeAzd(t)
	c := newAzdCred(t, ft, nil, func(h *toolHooks) { h.env = []string{"PATH=" + t.TempDir()} })
	_, err := c.GetToken(context.Background(), armOpts)
	const want = "AzureDeveloperCLICredential: the Azure Developer CLI (azd) is not installed or not on PATH; install it (https://aka.ms/azd) or use another credential"
	if err == nil || err.Error() != want || !isUnavailable(err) {
		t.Fatalf("error\n%v\nwant\n%s", err, want)
	}
}

func TestAzureDeveloperCLICredentialTimeout(t *testing.T) {
	ft := newFakeAzd(t)
	ft.setMode("hang")
	c := newAzdCred(t, ft, nil, func(h *toolHooks) { h.timeout = 2 * time.Second })
	_, err := c.GetToken(context.Background(), armOpts)
	if !errors.Is(err, context.DeadlineExceeded) || err.Error() != "AzureDeveloperCLICredential authentication failed: azd did not finish within 2s and was stopped" {
		t.Fatalf("got %v", err)
	}
	for _, f := range []string{"hang.pid", "child.pid"} {
		p := filepath.Join(ft.state, f)
		eventually(t, f+" to end", func() bool { return pidGone(t, p) })
	}
}

func TestAzureDeveloperCLICredentialClaims(t *testing.T) {
	claims := `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	enc := base64.StdEncoding.EncodeToString([]byte(claims))
	opts := policy.TokenRequestOptions{Scopes: []string{armScope}, Claims: claims}

	// azd satisfies the claims: the token replaces the cached one.
	ft := newFakeAzd(t)
	c := newAzdCred(t, ft, nil, nil)
	mustToken(t, c, armOpts)
	if tok := mustToken(t, c, opts); tok.Token != "fake-alice-2" {
		t.Fatalf("claims token %q", tok.Token)
	}
	if tok := mustToken(t, c, armOpts); tok.Token != "fake-alice-2" {
		t.Fatalf("after claims, cached token %q", tok.Token)
	}
	if got := ft.calls(); len(got) != 2 || !strings.HasSuffix(got[1], "--claims "+enc) {
		t.Fatalf("azd ran with %q", got)
	}

	ft.setMode("claimsfail")
	_, err := newAzdCred(t, ft, &AzureDeveloperCLICredentialOptions{TenantID: "contoso"}, nil).GetToken(context.Background(), opts)
	const want = "AzureDeveloperCLICredential authentication failed: the resource requires multifactor authentication or additional claims. Run this command, then retry: azd auth login --tenant-id contoso: azd failed with exit status 1: AADSTS50076: you must use multi-factor authentication"
	if err == nil || err.Error() != want {
		t.Fatalf("error\n%v\nwant\n%s", err, want)
	}

	ft.setMode("noclaims")
	_, err = newAzdCred(t, ft, nil, nil).GetToken(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "upgrade azd to 1.18.1 or later") {
		t.Fatalf("got %v", err)
	}
}

func TestAzureDeveloperCLICredentialValidation(t *testing.T) {
	ft := newFakeAzd(t)
	if _, err := NewAzureDeveloperCLICredential(&AzureDeveloperCLICredentialOptions{TenantID: "a;b"}); err == nil {
		t.Error("bad tenant accepted")
	}
	c := newAzdCred(t, ft, nil, nil)
	for _, s := range [][]string{{"ok/.default", "$(id)"}, {"--help"}, {}} {
		if _, err := c.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: s}); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if n := len(ft.calls()); n != 0 {
		t.Fatalf("azd ran %d times for invalid input", n)
	}
}

func TestAzdMessage(t *testing.T) {
	for in, want := range map[string]string{
		`{"error":"boom","message":"x"}`: "boom",
		`{"type":"consoleMessage","data":{"message":"\n"}}` + "\n" + `{"error":"second"}`: "second",
		`{"type":"consoleMessage","data":{"message":"\nERROR: legacy\n"}}`:                "ERROR: legacy",
		"plain text":                "plain text",
		`{"error":"eyJabcdef.ghi"}`: "[REDACTED]",
	} {
		if got := azdMessage(in); got != want {
			t.Errorf("azdMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzAzdMessage(f *testing.F) {
	f.Add(`{"error":"boom"}`)
	f.Add(`{"type":"consoleMessage","data":{"message":"m"}}`)
	f.Add("{\n{\"error\":1}")
	f.Fuzz(func(t *testing.T, s string) {
		_ = azdMessage(s)
	})
}
