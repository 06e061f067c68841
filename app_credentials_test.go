package azid

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// refusingTransport records token requests and fails them, for tests of
// what a credential sends where.
type refusingTransport struct {
	rec formRecorder
	mu  sync.Mutex
	url []string
}

var errRefused = errors.New("refused by the test transport")

func (r *refusingTransport) Do(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.url = append(r.url, req.URL.String())
	r.mu.Unlock()
	r.rec.next = appTestTransportFunc(func(*http.Request) (*http.Response, error) { return nil, errRefused })
	return r.rec.Do(req)
}

type appTestTransportFunc func(*http.Request) (*http.Response, error)

func (f appTestTransportFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// TestAppCredentialsCommonOptions checks, for every credential built here,
// the options all of them share: the cloud (sovereign clouds by
// cloud.Configuration), a per-request tenant within
// AdditionallyAllowedTenants, CAE client capabilities and claims challenges.
func TestAppCredentialsCommonOptions(t *testing.T) {
	a, _ := sharedCerts(t)
	const tenant = "11111111-0000-4000-8000-000000000001"
	const extra = "22222222-0000-4000-8000-000000000002"
	tokenFile := t.TempDir() + "/token"
	if err := writeTestFile(tokenFile, "eyJ.eyJ.sig"); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []struct {
		cloud cloud.Configuration
		host  string
	}{
		{cloud.AzurePublic, "login.microsoftonline.com"},
		{cloud.AzureChina, "login.chinacloudapi.cn"},
		{cloud.AzureGovernment, "login.microsoftonline.us"},
		{cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.contoso.example/"}, "login.contoso.example"},
	} {
		build := map[string]func(co azcore.ClientOptions) (azcore.TokenCredential, error){
			credNameCert: func(co azcore.ClientOptions) (azcore.TokenCredential, error) {
				return NewClientCertificateCredential(tenant, "client", []*x509.Certificate{a.cert}, a.key, &ClientCertificateCredentialOptions{
					ClientOptions: co, DisableInstanceDiscovery: true, AdditionallyAllowedTenants: []string{extra}})
			},
			credNameAssertion: func(co azcore.ClientOptions) (azcore.TokenCredential, error) {
				return NewClientAssertionCredential(tenant, "client", func(context.Context) (string, error) { return "eyJ.eyJ.sig", nil },
					&ClientAssertionCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, AdditionallyAllowedTenants: []string{"*"}})
			},
			credNameWorkloadIdentity: func(co azcore.ClientOptions) (azcore.TokenCredential, error) {
				return NewWorkloadIdentityCredential(&WorkloadIdentityCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true,
					ClientID: "client", TenantID: tenant, TokenFilePath: tokenFile, AdditionallyAllowedTenants: []string{extra}})
			},
			credNameOBO: func(co azcore.ClientOptions) (azcore.TokenCredential, error) {
				return NewOnBehalfOfCredentialWithSecret(tenant, "client", "eyJ.user.sig", "secret",
					&OnBehalfOfCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, AdditionallyAllowedTenants: []string{extra}})
			},
		}
		for name, mk := range build {
			t.Run(cl.host+"/"+name, func(t *testing.T) {
				tr := &refusingTransport{}
				cred, err := mk(azcore.ClientOptions{Cloud: cl.cloud, Transport: tr, Retry: policy.RetryOptions{MaxRetries: -1}})
				if err != nil {
					t.Fatal(err)
				}
				challenge := `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`
				_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{
					Scopes: []string{"https://vault.azure.net/.default"}, TenantID: extra, EnableCAE: true, Claims: challenge})
				if !errors.Is(err, errRefused) {
					t.Fatalf("err = %v, want the transport's refusal", err)
				}
				want := "https://" + cl.host + "/" + extra + "/oauth2/v2.0/token"
				if len(tr.url) != 1 || tr.url[0] != want {
					t.Fatalf("requests = %v, want one to %s", tr.url, want)
				}
				f := tr.rec.all()[0]
				if c := f.Get("claims"); !strings.Contains(c, "CP1") || !strings.Contains(c, "1700000000") {
					t.Fatalf("claims = %q, want CAE capabilities merged with the challenge", c)
				}
				if f.Get("scope") != "https://vault.azure.net/.default" || f.Get("client_id") != "client" {
					t.Fatalf("form = %v", f)
				}
				// A tenant not allowed is refused before any request.
				_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{
					Scopes: []string{"https://vault.azure.net/.default"}, TenantID: "33333333-0000-4000-8000-000000000003"})
				if name != credNameAssertion && (err == nil || !strings.Contains(err.Error(), "AdditionallyAllowedTenants") || len(tr.url) != 1) {
					t.Fatalf("a tenant not allowed: %v after %d requests", err, len(tr.url))
				}
			})
		}
	}
}

func writeTestFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
