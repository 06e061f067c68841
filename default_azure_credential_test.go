// The fake tools are shell scripts.

//go:build unix

package azid

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// fakeDevTools puts fake az, azd and pwsh on one PATH, each with its state.
type fakeDevTools struct {
	env            []string
	az, azd, pwsh  *fakeTool
	vars           map[string]string
	installedTools []string
}

func newFakeDevTools(t *testing.T, tools ...string) *fakeDevTools {
	t.Helper()
	root := t.TempDir()
	bin, home := filepath.Join(root, "bin"), filepath.Join(root, "home")
	azCfg, azdCfg, pwshState := filepath.Join(root, "az"), filepath.Join(root, "azd"), filepath.Join(home, ".Azure")
	for _, d := range []string{bin, home, azCfg, azdCfg, pwshState} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range tools {
		src, _ := filepath.Abs(filepath.Join("testdata", "fakebin", name))
		if err := os.Symlink(src, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	f := &fakeDevTools{env: []string{"PATH=" + bin, "HOME=" + home, "AZURE_CONFIG_DIR=" + azCfg, "AZD_CONFIG_DIR=" + azdCfg}}
	if tz, ok := os.LookupEnv("TZ"); ok {
		f.env = append(f.env, "TZ="+tz)
	}
	f.az = &fakeTool{t: t, home: home, bin: bin, state: azCfg, env: f.env}
	f.azd = &fakeTool{t: t, home: home, bin: bin, state: azdCfg, env: f.env}
	f.pwsh = &fakeTool{t: t, home: home, bin: bin, state: pwshState, env: f.env}
	f.az.write("azureProfile.json", "alice\n")
	f.azd.write("config.json", "alice\n")
	f.pwsh.write("AzureRmContext.json", "alice\n")
	f.vars = map[string]string{}
	return f
}

func (f *fakeDevTools) getenv(k string) string { return f.vars[k] }

func (f *fakeDevTools) newDAC(t *testing.T, o *DefaultAzureCredentialOptions) (*DefaultAzureCredential, error) {
	t.Helper()
	if o == nil {
		o = &DefaultAzureCredentialOptions{}
	}
	o.getenv = f.getenv
	o.hooks = f.az.hooks(nil)
	return NewDefaultAzureCredential(o)
}

// memberNames names the chain's members in order.
func memberNames(c *DefaultAzureCredential) []string {
	var names []string
	for _, s := range c.chain.sources {
		if e, ok := s.(*defaultMemberError); ok {
			names = append(names, e.credType)
			continue
		}
		names = append(names, strings.TrimPrefix(fmt.Sprintf("%T", s), "*azid."))
	}
	return names
}

func TestDefaultAzureCredentialMembers(t *testing.T) {
	all := []string{"EnvironmentCredential", "WorkloadIdentityCredential", "ManagedIdentityCredential", "AzureCLICredential", "AzureDeveloperCLICredential", "AzurePowerShellCredential"}
	for _, tc := range []struct {
		value string
		want  []string
	}{
		{"", all},
		{"dev", all[3:]},
		{"prod", all[:3]},
		{"Dev", all[3:]},
		{"EnvironmentCredential", all[0:1]},
		{"workloadidentitycredential", all[1:2]},
		{"ManagedIdentityCredential", all[2:3]},
		{"AzureCLICredential", all[3:4]},
		{" AzureDeveloperCLICredential ", all[4:5]},
		{"azurepowershellcredential", all[5:6]},
	} {
		f := newFakeDevTools(t)
		if tc.value != "" {
			f.vars[envTokenCredentials] = tc.value
		}
		c, err := f.newDAC(t, nil)
		if err != nil {
			t.Fatalf("%q: %v", tc.value, err)
		}
		if got := memberNames(c); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("AZURE_TOKEN_CREDENTIALS=%q: members %v, want %v", tc.value, got, tc.want)
		}
	}
}

func TestDefaultAzureCredentialTokenCredentialsErrors(t *testing.T) {
	f := newFakeDevTools(t)
	f.vars[envTokenCredentials] = "ClientSecretCredential"
	_, err := f.newDAC(t, nil)
	const want = `DefaultAzureCredential: invalid AZURE_TOKEN_CREDENTIALS value "ClientSecretCredential". Valid values are "dev", "prod", or one of EnvironmentCredential, WorkloadIdentityCredential, ManagedIdentityCredential, AzureCLICredential, AzureDeveloperCLICredential, AzurePowerShellCredential`
	if err == nil || err.Error() != want {
		t.Fatalf("error\n%v\nwant\n%s", err, want)
	}

	f = newFakeDevTools(t)
	_, err = f.newDAC(t, &DefaultAzureCredentialOptions{RequireAzureTokenCredentials: true})
	const wantReq = `DefaultAzureCredential: AZURE_TOKEN_CREDENTIALS must be set because RequireAzureTokenCredentials is true. Set it to "dev", "prod" or the name of one credential type of the chain, such as "AzureCLICredential"`
	if err == nil || err.Error() != wantReq {
		t.Fatalf("error\n%v\nwant\n%s", err, wantReq)
	}
	f.vars[envTokenCredentials] = "dev"
	if _, err := f.newDAC(t, &DefaultAzureCredentialOptions{RequireAzureTokenCredentials: true}); err != nil {
		t.Fatal(err)
	}
}

// The aggregated error when no developer tool can give a token.
func TestDefaultAzureCredentialAllFail(t *testing.T) {
	f := newFakeDevTools(t, "az")
	f.az.setMode("fail") // a real az failure is "unavailable" inside the chain
	f.vars[envTokenCredentials] = "dev"
	c, err := f.newDAC(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetToken(context.Background(), armOpts)
	const want = "DefaultAzureCredential: failed to acquire a token.\n" +
		"Attempted credentials:\n" +
		"\tAzureCLICredential: az failed with exit status 1: ERROR: (SubscriptionNotFound) Subscription 'nope' could not be found.\n" +
		"\tAzureDeveloperCLICredential: the Azure Developer CLI (azd) is not installed or not on PATH; install it (https://aka.ms/azd) or use another credential\n" +
		"\tAzurePowerShellCredential: PowerShell (pwsh) is not installed or not on PATH; install PowerShell 7 and the Az.Accounts module, or use another credential"
	if err == nil || err.Error() != want {
		t.Fatalf("error\n%v\nwant\n%s", err, want)
	}
	if !isUnavailable(err) {
		t.Fatal("DefaultAzureCredential with only unavailable members must be unavailable")
	}
}

// The first developer tool that is signed in wins, and stays chosen.
func TestDefaultAzureCredentialFallsThroughToAzd(t *testing.T) {
	f := newFakeDevTools(t, "az", "azd", "pwsh")
	f.az.setMode("notloggedin")
	c, err := f.newDAC(t, &DefaultAzureCredentialOptions{TenantID: "home"})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if tok := mustToken(t, c, armOpts); tok.Token != "fake-alice-1" {
			t.Fatalf("token %q", tok.Token)
		}
	}
	if n := len(f.az.calls()); n != 1 {
		t.Fatalf("az ran %d times, want 1", n)
	}
	if got := f.azd.calls(); len(got) != 1 || !strings.HasSuffix(got[0], "--tenant-id home") {
		t.Fatalf("azd ran with %q", got)
	}
	if n := len(f.pwsh.calls()); n != 0 {
		t.Fatalf("pwsh ran %d times", n)
	}
}

func TestDefaultAzureCredentialTenants(t *testing.T) {
	f := newFakeDevTools(t, "az")
	f.vars[envTokenCredentials] = "AzureCLICredential"
	f.vars[envAdditionallyAllowedTenants] = "one;other"
	c, err := f.newDAC(t, &DefaultAzureCredentialOptions{TenantID: "home"})
	if err != nil {
		t.Fatal(err)
	}
	mustToken(t, c, armOpts)
	mustToken(t, c, policy.TokenRequestOptions{Scopes: []string{armScope}, TenantID: "other"})
	_, err = c.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{armScope}, TenantID: "third"})
	if err == nil || !strings.Contains(err.Error(), `isn't configured to acquire tokens for tenant "third"`) {
		t.Fatalf("got %v", err)
	}
	got := f.az.calls()
	if len(got) != 2 || !strings.HasSuffix(got[0], "--tenant home") || !strings.HasSuffix(got[1], "--tenant other") {
		t.Fatalf("az ran with %q", got)
	}
}

// A member that cannot be built keeps its place and reports why.
func TestDefaultAzureCredentialMemberConstructionError(t *testing.T) {
	f := newFakeDevTools(t)
	f.vars[envTokenCredentials] = "AzureCLICredential"
	c, err := f.newDAC(t, &DefaultAzureCredentialOptions{TenantID: "not a tenant"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetToken(context.Background(), armOpts)
	if err == nil || !isUnavailable(err) || !strings.Contains(err.Error(), "\tAzureCLICredential: authority: invalid tenant ID \"not a tenant\"") {
		t.Fatalf("got %v", err)
	}
}

var _ azcore.TokenCredential = (*DefaultAzureCredential)(nil)
