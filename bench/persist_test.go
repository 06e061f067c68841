package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	azcache "github.com/Azure/azure-sdk-for-go/sdk/azidentity/cache"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/entratest"
	"github.com/azid-go/azid/internal/benchkit"
	"golang.org/x/sys/unix"
)

// A persistent-cache implementation: a credential factory given a cache
// name (the cache directory is the benchmark's).
type persistImpl struct {
	name string
	new  func(b *testing.B, srv *entratest.Server, cacheName string) azcore.TokenCredential
}

func persistImpls() []persistImpl {
	return []persistImpl{
		{"azidentity-persistent", func(b *testing.B, srv *entratest.Server, n string) azcore.TokenCredential {
			c, err := azcache.New(&azcache.Options{Name: n})
			if err != nil {
				b.Fatal(err)
			}
			cred, err := azidentity.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
				&azidentity.ClientSecretCredentialOptions{ClientOptions: benchkit.ClientOptions(srv), DisableInstanceDiscovery: true, Cache: c})
			if err != nil {
				b.Fatal(err)
			}
			return cred
		}},
		{"azid-persistent", func(b *testing.B, srv *entratest.Server, n string) azcore.TokenCredential {
			c, err := cache.New(&cache.Options{Name: n})
			if err != nil {
				b.Fatal(err)
			}
			cred, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
				&azid.ClientSecretCredentialOptions{ClientOptions: benchkit.ClientOptions(srv), DisableInstanceDiscovery: true, Cache: c})
			if err != nil {
				b.Fatal(err)
			}
			return cred
		}},
		{"azid-memory", func(b *testing.B, srv *entratest.Server, _ string) azcore.TokenCredential {
			return benchkit.Azid(srv, benchkit.Options{})
		}},
	}
}

// persistEnv gives a benchmark its own cache directory and cache name and
// removes the name's keyring keys afterwards.
func persistEnv(b *testing.B) (*entratest.Server, string) {
	b.Helper()
	dir := b.TempDir()
	old, had := os.LookupEnv("XDG_CACHE_HOME")
	os.Setenv("XDG_CACHE_HOME", dir)
	b.Cleanup(func() {
		if had {
			os.Setenv("XDG_CACHE_HOME", old)
		} else {
			os.Unsetenv("XDG_CACHE_HOME")
		}
	})
	r := make([]byte, 6)
	rand.Read(r)
	name := "azid-bench-" + hex.EncodeToString(r)
	b.Cleanup(func() { unlinkKeys(name, name+".cae") })
	srv, err := entratest.NewServer(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return srv, name
}

func unlinkKeys(names ...string) {
	ring, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_USER_KEYRING, false)
	if err != nil {
		return
	}
	if p, err := unix.KeyctlInt(unix.KEYCTL_GET_PERSISTENT, -1, ring, 0, 0); err == nil {
		ring = p
	}
	for _, n := range names {
		for {
			id, err := unix.KeyctlSearch(ring, "user", n, 0)
			if err != nil {
				break
			}
			if _, err := unix.KeyctlInt(unix.KEYCTL_UNLINK, id, ring, 0, 0); err != nil {
				unix.KeyctlInt(unix.KEYCTL_REVOKE, id, 0, 0, 0)
			}
		}
	}
}

func scopeReq(i int) policy.TokenRequestOptions {
	return policy.TokenRequestOptions{Scopes: []string{benchkit.EntryScope(i)}}
}

// BenchmarkPersistent measures the persistent cache:
//
//   - Hit/n=N: GetToken for a cached token with N tokens cached, from a
//     credential using the persistent cache (azid, azidentity) and, for
//     reference, azid's in-memory cache. Target: azid-persistent ≤ 1.5×
//     azid-memory.
//   - SecondProcessFirstGetToken: a new cache and a new credential (what
//     a second process starts with) getting a token another process
//     persisted: open, decrypt, parse, serve. One op is the whole start.
func BenchmarkPersistent(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("Hit/n=%d", n), func(b *testing.B) {
			for _, impl := range persistImpls() {
				b.Run("impl="+impl.name, func(b *testing.B) {
					srv, name := persistEnv(b)
					cred := impl.new(b, srv, name)
					for i := range n {
						if _, err := cred.GetToken(ctx, scopeReq(i)); err != nil {
							b.Fatal(err)
						}
					}
					req := scopeReq(n / 2)
					before := srv.Requests(entratest.EndpointToken)
					b.ReportAllocs()
					for b.Loop() {
						if _, err := cred.GetToken(ctx, req); err != nil {
							b.Fatal(err)
						}
					}
					if srv.Requests(entratest.EndpointToken) != before {
						b.Fatal("a hit benchmark reached the token endpoint")
					}
				})
			}
		})
	}
	b.Run("SecondProcessFirstGetToken", func(b *testing.B) {
		for _, impl := range persistImpls()[:2] {
			b.Run("impl="+impl.name, func(b *testing.B) {
				srv, name := persistEnv(b)
				// Another "process" persisted 100 tokens.
				first := impl.new(b, srv, name)
				for i := range 100 {
					if _, err := first.GetToken(ctx, scopeReq(i)); err != nil {
						b.Fatal(err)
					}
				}
				before := srv.Requests(entratest.EndpointToken)
				b.ReportAllocs()
				for b.Loop() {
					cred := impl.new(b, srv, name)
					if _, err := cred.GetToken(ctx, scopeReq(50)); err != nil {
						b.Fatal(err)
					}
				}
				if srv.Requests(entratest.EndpointToken) != before {
					b.Fatal("the second process asked the network")
				}
			})
		}
	})
}
