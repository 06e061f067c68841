package azid

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
)

const fedClientID = "fede0000-0000-4000-8000-00000000fede"

// federatedApp registers an app trusting tokens for subject from the test
// issuer.
func federatedApp(t *testing.T, srv *entratest.Server, subject string) {
	t.Helper()
	if err := srv.AddApp(entratest.App{TenantID: entratest.DefaultTenantID, ClientID: fedClientID,
		AllowedTenants:       []string{secondTenantID},
		FederatedCredentials: []entratest.FederatedCredential{{Issuer: "https://issuer.example", Subject: subject}}}); err != nil {
		t.Fatal(err)
	}
}

func TestClientAssertionCredentialCallsBackOnlyForTheNetwork(t *testing.T) {
	srv := newEmulator(t, nil)
	federatedApp(t, srv, "workload")
	var calls atomic.Int32
	type ctxKey struct{}
	cb := func(ctx context.Context) (string, error) {
		calls.Add(1)
		if ctx.Value(ctxKey{}) != "caller" {
			t.Error("the callback did not get the caller's context values")
		}
		return srv.IssueFederatedToken(entratest.FederatedToken{Issuer: "https://issuer.example", Subject: "workload"})
	}
	cred, err := NewClientAssertionCredential(entratest.DefaultTenantID, fedClientID, cb,
		&ClientAssertionCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, AdditionallyAllowedTenants: []string{secondTenantID}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), ctxKey{}, "caller")
	for range 10 {
		tok, err := cred.GetToken(ctx, demoScope)
		if err != nil {
			t.Fatal(err)
		}
		if claims, err := srv.VerifyToken(tok.Token); err != nil || claims["appid"] != fedClientID {
			t.Fatalf("claims %v, %v", claims, err)
		}
	}
	if calls.Load() != 1 || srv.Requests(entratest.EndpointToken) != 1 {
		t.Fatalf("10 calls: %d callbacks and %d requests, want 1 and 1", calls.Load(), srv.Requests(entratest.EndpointToken))
	}
	// Another tenant and CAE are other keys: one more callback each.
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: demoScope.Scopes, TenantID: secondTenantID, EnableCAE: true})
	if err != nil {
		t.Fatal(err)
	}
	if claims, _ := srv.VerifyToken(tok.Token); claims["tid"] != secondTenantID || claims["xms_cc"] == nil {
		t.Fatalf("claims = %v", claims)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d callbacks, want 2", calls.Load())
	}
}

func TestClientAssertionCredentialCallbackError(t *testing.T) {
	srv := newEmulator(t, nil)
	federatedApp(t, srv, "workload")
	boom := errors.New("key vault unreachable")
	var calls atomic.Int32
	cred, err := NewClientAssertionCredential(entratest.DefaultTenantID, fedClientID, func(context.Context) (string, error) {
		calls.Add(1)
		return "", boom
	}, &ClientAssertionCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		_, err = cred.GetToken(context.Background(), demoScope)
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), credNameAssertion) {
			t.Fatalf("call %d: %v, want the callback's error wrapped", i, err)
		}
		// Nothing is cached: the next call asks again.
		if calls.Load() != int32(i) {
			t.Fatalf("call %d: %d callbacks", i, calls.Load())
		}
	}
	if n := srv.Requests(entratest.EndpointToken); n != 0 {
		t.Fatalf("%d token requests without an assertion", n)
	}
	if _, err := NewClientAssertionCredential("t", "c", nil, nil); err == nil {
		t.Fatal("a nil callback was accepted")
	}
}

func TestClientAssertionCredentialFederatedRejections(t *testing.T) {
	srv := newEmulator(t, nil)
	federatedApp(t, srv, "workload")
	a, _ := sharedCerts(t)
	other, err := entratest.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	foreign, _ := other.IssueFederatedToken(entratest.FederatedToken{Issuer: "https://issuer.example", Subject: "workload"})
	wrongSubject, _ := srv.IssueFederatedToken(entratest.FederatedToken{Issuer: "https://issuer.example", Subject: "intruder"})
	wrongAudience, _ := srv.IssueFederatedToken(entratest.FederatedToken{Issuer: "https://issuer.example", Subject: "workload", Audience: "api://other"})
	expired, _ := srv.IssueFederatedToken(entratest.FederatedToken{Issuer: "https://issuer.example", Subject: "workload", ExpiresIn: -10 * time.Minute})
	cc, _ := newCertCredential([]*x509.Certificate{a.cert}, a.key, false)
	certSigned, _ := newCertAuth(fedClientID, cc, nil).sign(srv.URL()+"/"+entratest.DefaultTenantID+"/oauth2/v2.0/token", time.Now())
	for name, tc := range map[string]struct {
		assertion string
		code      int
	}{
		"signed by another issuer key": {foreign, 700027},
		"subject not federated":        {wrongSubject, 70021},
		"audience not federated":       {wrongAudience, 70021},
		"expired":                      {expired, 700024},
		"malformed":                    {"not-a-jwt", 50027},
		"certificate not registered":   {certSigned, 700027},
	} {
		t.Run(name, func(t *testing.T) {
			cred, err := NewClientAssertionCredential(entratest.DefaultTenantID, fedClientID,
				func(context.Context) (string, error) { return tc.assertion, nil },
				&ClientAssertionCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
			if err != nil {
				t.Fatal(err)
			}
			_, err = cred.GetToken(context.Background(), demoScope)
			var afe *AuthenticationFailedError
			if !errors.As(err, &afe) || len(afe.ErrorCodes) == 0 || afe.ErrorCodes[0] != tc.code {
				t.Fatalf("err = %v, want AADSTS%d", err, tc.code)
			}
			if tc.assertion != "not-a-jwt" && strings.Contains(err.Error(), tc.assertion) {
				t.Fatal("the error quotes the assertion")
			}
		})
	}
}
