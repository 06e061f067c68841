// The fake tools are shell scripts.

//go:build unix

package azid

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/internal/devtool"
)

// newFakePwsh installs the fake pwsh; its state is ~/.Azure, where Azure
// PowerShell keeps its own.
func newFakePwsh(t testing.TB) *fakeTool {
	ft := newFakeTool(t, "pwsh", "FAKE_UNUSED")
	ft.state = filepath.Join(ft.home, ".Azure")
	if err := os.MkdirAll(ft.state, 0o700); err != nil {
		t.Fatal(err)
	}
	ft.write("AzureRmContext.json", "alice\n")
	return ft
}

func newPwshCred(t testing.TB, ft *fakeTool, o *AzurePowerShellCredentialOptions, mod func(*toolHooks)) *AzurePowerShellCredential {
	t.Helper()
	if o == nil {
		o = &AzurePowerShellCredentialOptions{}
	}
	o.hooks = ft.hooks(mod)
	c, err := NewAzurePowerShellCredential(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func decodeUTF16LE(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%2 != 0 {
		t.Fatalf("not base64 UTF-16LE: %v", err)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func TestAzurePowerShellCredentialGetToken(t *testing.T) {
	ft := newFakePwsh(t)
	c := newPwshCred(t, ft, &AzurePowerShellCredentialOptions{TenantID: "contoso"}, nil)
	tok := mustToken(t, c, armOpts)
	if tok.Token != "fake-alice-1" {
		t.Fatalf("token %q", tok.Token)
	}
	if d := time.Until(tok.ExpiresOn); d < 58*time.Minute || d > 61*time.Minute {
		t.Fatalf("expires in %s", d)
	}
	calls := ft.calls()
	if len(calls) != 1 {
		t.Fatalf("pwsh ran %d times", len(calls))
	}
	const prefix = "-NoProfile -NonInteractive -OutputFormat Text -EncodedCommand "
	if !strings.HasPrefix(calls[0], prefix) {
		t.Fatalf("pwsh ran with %q", calls[0])
	}
	script := decodeUTF16LE(t, strings.TrimPrefix(calls[0], prefix))
	for _, want := range []string{
		"ResourceUrl = 'https://management.azure.com'", // a v1 resource: /.default removed
		"$request['TenantId'] = 'contoso'",
		"-MinimumVersion 2.2.0",
		"[System.Security.SecureString]", // SecureString tokens (Az.Accounts 5+) are converted
		"ZeroFreeBSTR",
		"ToUnixTimeSeconds()",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the script lacks %q:\n%s", want, script)
		}
	}
	mustToken(t, c, armOpts)
	if n := len(ft.calls()); n != 1 {
		t.Fatalf("pwsh ran %d times, want 1 (cached)", n)
	}
}

func TestAzurePowerShellCredentialSignInChange(t *testing.T) {
	ft := newFakePwsh(t)
	c := newPwshCred(t, ft, nil, func(h *toolHooks) { h.watch = devtool.WatchOptions{Interval: 2 * time.Millisecond} })
	mustToken(t, c, armOpts)
	ft.write("AzureRmContext.json", "bob\n")
	eventually(t, "bob's token", func() bool { return mustToken(t, c, armOpts).Token == "fake-bob-2" })
}

func TestAzurePowerShellCredentialErrors(t *testing.T) {
	for _, tc := range []struct {
		mode        string
		unavailable bool
		want        string
	}{
		{"notloggedin", true, "AzurePowerShellCredential: Azure PowerShell is not signed in, or its sign-in expired; run Connect-AzAccount: pwsh failed with exit status 1: Get-AzAccessToken: Run Connect-AzAccount to login."},
		{"nomodule", true, "AzurePowerShellCredential: the Az.Accounts module (2.2.0 or later) is not installed; run Install-Module Az.Accounts: pwsh failed with exit status 1: Write-Error: Az.Accounts module not found"},
		{"fail", false, "AzurePowerShellCredential authentication failed: pwsh failed with exit status 1: Get-AzAccessToken: ManagedIdentityCredential authentication failed: the tenant was not found"},
		{"garbage", false, "AzurePowerShellCredential authentication failed: unexpected output from Azure PowerShell: 39 bytes that are not a JSON object"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			ft := newFakePwsh(t)
			ft.setMode(tc.mode)
			c := newPwshCred(t, ft, nil, nil)
			_, err := c.GetToken(context.Background(), armOpts)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error\n%v\nwant\n%s", err, tc.want)
			}
			if isUnavailable(err) != tc.unavailable {
				t.Errorf("isUnavailable = %v", isUnavailable(err))
			}
		})
	}
}

func TestAzurePowerShellCredentialNotInstalled(t *testing.T) {
	ft := newFakePwsh(t)
	c := newPwshCred(t, ft, nil, func(h *toolHooks) { h.env = []string{"PATH=" + t.TempDir(), "HOME=" + ft.home} })
	_, err := c.GetToken(context.Background(), armOpts)
	const want = "AzurePowerShellCredential: PowerShell (pwsh) is not installed or not on PATH; install PowerShell 7 and the Az.Accounts module, or use another credential"
	if err == nil || err.Error() != want || !isUnavailable(err) {
		t.Fatalf("error\n%v\nwant\n%s", err, want)
	}
}

func TestAzurePowerShellCredentialTimeout(t *testing.T) {
	ft := newFakePwsh(t)
	ft.setMode("hang")
	c := newPwshCred(t, ft, nil, func(h *toolHooks) { h.timeout = 2 * time.Second })
	_, err := c.GetToken(context.Background(), armOpts)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	for _, f := range []string{"hang.pid", "child.pid"} {
		p := filepath.Join(ft.state, f)
		eventually(t, f+" to end", func() bool { return pidGone(t, p) })
	}
}

func TestAzurePowerShellCredentialClaims(t *testing.T) {
	ft := newFakePwsh(t)
	c := newPwshCred(t, ft, &AzurePowerShellCredentialOptions{TenantID: "contoso"}, nil)
	claims := `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	_, err := c.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{armScope}, Claims: claims})
	want := "AzurePowerShellCredential authentication failed: the resource requires multifactor authentication or additional claims, which Azure PowerShell can only satisfy by signing in again. Run this command, then retry: Connect-AzAccount -TenantId 'contoso' -ClaimsChallenge '" +
		base64.StdEncoding.EncodeToString([]byte(claims)) + "'"
	if err == nil || err.Error() != want {
		t.Fatalf("error\n%v\nwant\n%s", err, want)
	}
	if n := len(ft.calls()); n != 0 {
		t.Fatalf("pwsh ran %d times", n)
	}
}

func TestAzurePowerShellCredentialValidation(t *testing.T) {
	ft := newFakePwsh(t)
	c := newPwshCred(t, ft, nil, nil)
	for _, s := range [][]string{{"https://x/.default'; Remove-Item -Recurse ~"}, {armScope, "https://vault.azure.net/.default"}} {
		if _, err := c.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: s}); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if _, err := c.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{armScope}, TenantID: "x'y"}); err == nil {
		t.Error("a tenant with a quote accepted")
	}
	if n := len(ft.calls()); n != 0 {
		t.Fatalf("pwsh ran %d times for invalid input", n)
	}
}
