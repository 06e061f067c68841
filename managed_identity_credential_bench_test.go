package azid_test

import (
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

// BenchmarkManagedIdentityWarmHit measures GetToken for a cached token from
// many goroutines: the path every Azure SDK call takes on a VM.
func BenchmarkManagedIdentityWarmHit(b *testing.B) {
	srv, err := entratest.NewServer(&entratest.Options{SigningKeyBits: 1024})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	host, err := srv.ManagedIdentity()
	if err != nil {
		b.Fatal(err)
	}
	cred, err := azid.NewManagedIdentityCredential(&azid.ManagedIdentityCredentialOptions{IMDSEndpoint: host.IMDSHost()})
	if err != nil {
		b.Fatal(err)
	}
	opts := policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}}
	if _, err := cred.GetToken(context.Background(), opts); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := cred.GetToken(ctx, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	if n := srv.Requests(entratest.EndpointIMDS); n != 1 {
		b.Fatalf("%d IMDS requests", n)
	}
}
