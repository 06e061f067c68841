package azid

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
)

// BenchmarkClientAssertionSign is what every certificate token request now
// pays before it goes out: one client assertion signed with a 2048-bit RSA
// key, for Entra (PS256) and for ADFS (RS256). Compare it with
// BenchmarkColdTokenRequest, the request it precedes.
func BenchmarkClientAssertionSign(b *testing.B) {
	a, _ := sharedCerts(b)
	cc, err := newCertCredential([]*x509.Certificate{a.cert}, a.key, false)
	if err != nil {
		b.Fatal(err)
	}
	auth := newCertAuth(certClientID, cc, nil)
	for name, ep := range map[string]string{
		"Entra": "https://login.microsoftonline.com/" + entratest.DefaultTenantID + "/oauth2/v2.0/token",
		"ADFS":  "https://adfs.contoso.com/adfs/oauth2/token",
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := auth.authenticateClient(context.Background(), url.Values{}, ep); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkColdTokenRequest is one token request that the cache cannot
// answer (a new scope each time) against the emulator on this machine,
// with a client secret and with a certificate (a fresh assertion each).
// The emulator signs tokens with a 2048-bit key, as Entra does, and its
// CPU is included: against Entra a request also costs a network round
// trip of tens of milliseconds, which only makes signing a smaller share.
func BenchmarkColdTokenRequest(b *testing.B) {
	a, _ := sharedCerts(b)
	srv, err := entratest.NewServer(&entratest.Options{OneTimeClientAssertions: true})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	if err := srv.AddApp(entratest.App{TenantID: entratest.DefaultTenantID, ClientID: certClientID, Certificates: []*x509.Certificate{a.cert}}); err != nil {
		b.Fatal(err)
	}
	co := emulatorOptions(srv)
	secret, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
	if err != nil {
		b.Fatal(err)
	}
	cert, err := NewClientCertificateCredential(entratest.DefaultTenantID, certClientID, []*x509.Certificate{a.cert}, a.key,
		&ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
	if err != nil {
		b.Fatal(err)
	}
	// Scopes are numbered across runs: -count repeats a sub-benchmark on
	// the same credentials, whose caches hold every earlier scope.
	i := 0
	for _, c := range []struct {
		name string
		get  func(context.Context, policy.TokenRequestOptions) error
	}{
		{"Secret", func(ctx context.Context, o policy.TokenRequestOptions) error {
			_, err := secret.GetToken(ctx, o)
			return err
		}},
		{"Certificate", func(ctx context.Context, o policy.TokenRequestOptions) error {
			_, err := cert.GetToken(ctx, o)
			return err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			// Warm the connection so every iteration is one request.
			if err := c.get(ctx, policy.TokenRequestOptions{Scopes: []string{"api://warm/.default"}}); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				i++
				if err := c.get(ctx, policy.TokenRequestOptions{Scopes: []string{fmt.Sprintf("api://cold%d/.default", i)}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
