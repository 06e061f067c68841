package azid

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/azid-go/azid/entratest"
)

const pipelinesClientID = "a21e0000-0000-4000-8000-0000000a21e0"

// pipelinesSetup starts an emulator with one service connection and an app
// federated with it, and points SYSTEM_OIDCREQUESTURI at the emulator.
func pipelinesSetup(t *testing.T) (*entratest.Server, entratest.PipelineServiceConnection) {
	t.Helper()
	srv := newEmulator(t, nil)
	conn, err := srv.AddPipelineServiceConnection(entratest.PipelineServiceConnection{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddApp(entratest.App{TenantID: entratest.DefaultTenantID, ClientID: pipelinesClientID,
		FederatedCredentials: []entratest.FederatedCredential{conn.FederatedCredential()}}); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envSystemOIDCRequestURI, srv.PipelineOIDCRequestURI())
	return srv, conn
}

func newPipelinesCred(t *testing.T, srv *entratest.Server, connID, systemToken string) *AzurePipelinesCredential {
	t.Helper()
	c, err := NewAzurePipelinesCredential(entratest.DefaultTenantID, pipelinesClientID, connID, systemToken,
		&AzurePipelinesCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAzurePipelinesCredentialEndToEnd(t *testing.T) {
	srv, conn := pipelinesSetup(t)
	cred := newPipelinesCred(t, srv, conn.ID, conn.SystemAccessToken)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// 50 concurrent callers, then 50 more: one OIDC request, one token
	// request.
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 2 {
		for range 50 {
			wg.Go(func() {
				tok, err := cred.GetToken(ctx, demoScope)
				if err == nil && tok.Token == "" {
					err = errors.New("empty token")
				}
				errs <- err
			})
		}
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Requests(entratest.EndpointPipelinesOIDC); n != 1 {
		t.Fatalf("%d OIDC requests, want 1", n)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	reqs := srv.TokenRequests()
	if len(reqs) != 1 || reqs[0].ClientID != pipelinesClientID || reqs[0].GrantType != "client_credentials" || reqs[0].Status != 200 {
		t.Fatalf("token request log %+v", reqs)
	}
}

func TestAzurePipelinesCredentialOIDCFailures(t *testing.T) {
	srv, conn := pipelinesSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const wrongToken = "not-the-system-token-0123456789"
	for _, tc := range []struct {
		name, connID, token, want string
	}{
		{"wrong system token", conn.ID, wrongToken, "401 Unauthorized"},
		{"unknown service connection", "0badc0de-0000-4000-8000-000000000000", conn.SystemAccessToken, "404 Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cred := newPipelinesCred(t, srv, tc.connID, tc.token)
			_, err := cred.GetToken(ctx, demoScope)
			var afe *AuthenticationFailedError
			if !errors.As(err, &afe) || afe.CredentialType != credNameAzurePipelines {
				t.Fatalf("got %v, want an AuthenticationFailedError of %s", err, credNameAzurePipelines)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "x-vss-e2eid: ") || !strings.HasPrefix(msg, credNameAzurePipelines+" authentication failed: ") {
				t.Fatalf("error %q does not say %q and quote x-vss-e2eid", msg, tc.want)
			}
			if strings.Contains(msg, tc.token) {
				t.Fatal("the error holds the system access token")
			}
			if isUnavailable(err) {
				t.Fatal("a configured pipeline credential that fails is not 'unavailable'")
			}
		})
	}
	if n := srv.Requests(entratest.EndpointToken); n != 0 {
		t.Fatalf("%d token requests after failed OIDC requests, want 0", n)
	}
}

func TestAzurePipelinesCredentialUnfederatedApp(t *testing.T) {
	srv, _ := pipelinesSetup(t)
	// A connection whose identity the app does not trust.
	other, err := srv.AddPipelineServiceConnection(entratest.PipelineServiceConnection{})
	if err != nil {
		t.Fatal(err)
	}
	cred := newPipelinesCred(t, srv, other.ID, other.SystemAccessToken)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = cred.GetToken(ctx, demoScope)
	var afe *AuthenticationFailedError
	if !errors.As(err, &afe) || len(afe.ErrorCodes) == 0 || afe.ErrorCodes[0] != 70021 {
		t.Fatalf("got %v, want Entra's AADSTS70021 (no matching federated credential)", err)
	}
}

func TestNewAzurePipelinesCredentialErrors(t *testing.T) {
	t.Setenv(envSystemOIDCRequestURI, "https://dev.azure.example/org/proj/_apis/oidctoken")
	good := func(tenant, client, conn, token string) error {
		_, err := NewAzurePipelinesCredential(tenant, client, conn, token, nil)
		return err
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"bad tenant", good("not a tenant/", "c", "s", "t"), "tenant"},
		{"no client", good(entratest.DefaultTenantID, "", "s", "t"), "client ID"},
		{"no connection", good(entratest.DefaultTenantID, "c", "", "t"), "service connection ID"},
		{"no token", good(entratest.DefaultTenantID, "c", "s", ""), "System.AccessToken"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error about %s", tc.name, tc.err, tc.want)
		}
	}
	t.Setenv(envSystemOIDCRequestURI, "")
	if err := good(entratest.DefaultTenantID, "c", "s", "t"); err == nil || !strings.Contains(err.Error(), envSystemOIDCRequestURI) {
		t.Errorf("no %s: got %v", envSystemOIDCRequestURI, err)
	}
	t.Setenv(envSystemOIDCRequestURI, "/relative")
	if err := good(entratest.DefaultTenantID, "c", "s", "t"); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("relative %s: got %v", envSystemOIDCRequestURI, err)
	}
}

func TestPipelinesOIDCEndpointKeepsQuery(t *testing.T) {
	got, err := pipelinesOIDCEndpoint("https://dev.azure.example/o/p/oidctoken?x=1", "a b&c")
	if err != nil {
		t.Fatal(err)
	}
	const want = "https://dev.azure.example/o/p/oidctoken?api-version=7.1&serviceConnectionId=a+b%26c&x=1"
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

var _ azcore.TokenCredential = (*AzurePipelinesCredential)(nil)

func FuzzParseOIDCResponse(f *testing.F) {
	for _, s := range []string{`{"oidcToken":"a.b.c"}`, `{"oidcToken":""}`, `{}`, `[]`, `null`, "", `{"oidcToken":1}`, " {\"oidcToken\":\"x\"} \n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, ok := parseOIDCResponse(body)
		if ok != (tok != "") {
			t.Fatalf("ok=%v with token %q", ok, tok)
		}
	})
}
