package bench

import (
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
	"github.com/azid-go/azid/internal/benchkit"
)

// These tests are the comparison's smoke test, fast enough for CI: if either
// credential cannot get a token from the emulator, every benchmark of it
// would measure an error path.

// otherTenant is a second tenant the multi-tenant app is provisioned in.
const otherTenant = "0b7e4a31-0000-4000-8000-0000000000aa"

func newServer(t *testing.T, o *entratest.Options) *entratest.Server {
	t.Helper()
	srv, err := entratest.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// allImpls is every implementation any workload runs against.
func allImpls() []Impl {
	impls := Impls()
	for _, w := range benchkit.Workloads() {
		impls = append(impls, BaselineImpls(w.Name)...)
	}
	return impls
}

func TestEveryImplGetsAValidToken(t *testing.T) {
	for _, impl := range allImpls() {
		t.Run(impl.Name, func(t *testing.T) {
			srv := newServer(t, nil)
			cred := impl.New(srv, benchkit.Options{})
			tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"api://smoke/.default"}})
			if err != nil {
				t.Fatal(err)
			}
			claims, err := srv.VerifyToken(tok.Token)
			if err != nil {
				t.Fatalf("the emulator rejects the token %s returned: %v", impl.Name, err)
			}
			if claims["aud"] != "api://smoke" || claims["tid"] != entratest.DefaultTenantID || claims["appid"] != entratest.DefaultClientID {
				t.Errorf("claims aud=%v tid=%v appid=%v; want api://smoke, %s, %s",
					claims["aud"], claims["tid"], claims["appid"], entratest.DefaultTenantID, entratest.DefaultClientID)
			}
		})
	}
}

// TestCredentialsCache checks that both credentials under comparison cache:
// the hit benchmarks fail on a token request, but this says why sooner.
func TestCredentialsCache(t *testing.T) {
	for _, impl := range Impls() {
		t.Run(impl.Name, func(t *testing.T) {
			srv := newServer(t, nil)
			cred := impl.New(srv, benchkit.Options{})
			req := policy.TokenRequestOptions{Scopes: []string{"api://smoke/.default"}}
			for range 3 {
				if _, err := cred.GetToken(context.Background(), req); err != nil {
					t.Fatal(err)
				}
			}
			if n := srv.Requests(entratest.EndpointToken); n != 1 {
				t.Errorf("3 calls made %d token requests, want 1", n)
			}
		})
	}
}

// TestOptionsReachTheCredential checks that both factories honour
// benchkit.Options: a multi-tenant app gets a token in another tenant only
// when that tenant is allowed.
func TestOptionsReachTheCredential(t *testing.T) {
	for _, impl := range Impls() {
		t.Run(impl.Name, func(t *testing.T) {
			srv := newServer(t, &entratest.Options{Apps: []entratest.App{{
				TenantID:       entratest.DefaultTenantID,
				ClientID:       entratest.DefaultClientID,
				Secret:         entratest.DefaultClientSecret,
				AllowedTenants: []string{otherTenant},
			}}})
			req := policy.TokenRequestOptions{Scopes: []string{"api://smoke/.default"}, TenantID: otherTenant}

			if _, err := impl.New(srv, benchkit.Options{}).GetToken(context.Background(), req); err == nil {
				t.Error("got a token for a tenant the options did not allow")
			}
			cred := impl.New(srv, benchkit.Options{AdditionallyAllowedTenants: []string{otherTenant}})
			tok, err := cred.GetToken(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			claims, err := srv.VerifyToken(tok.Token)
			if err != nil {
				t.Fatal(err)
			}
			if claims["tid"] != otherTenant {
				t.Errorf("tid = %v, want %s", claims["tid"], otherTenant)
			}
		})
	}
}
