package azid

import (
	"context"
	"testing"
)

// BenchmarkDeviceCodeCredentialHit is a cached GetToken of a signed-in user
// credential: the engine's hit path plus the account lookup.
func BenchmarkDeviceCodeCredentialHit(b *testing.B) {
	srv := newEmulatorB(b)
	cred := newDeviceCredB(b, srv)
	if _, err := cred.Authenticate(context.Background(), &storageScope); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cred.GetToken(ctx, storageScope); err != nil {
			b.Fatal(err)
		}
	}
}
