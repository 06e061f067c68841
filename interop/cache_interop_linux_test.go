package interop

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	azcache "github.com/Azure/azure-sdk-for-go/sdk/azidentity/cache"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/entratest"
	"golang.org/x/sys/unix"
)

var scope = policy.TokenRequestOptions{Scopes: []string{"api://demo/.default"}}

// setup starts the emulator and gives the test its own cache directory
// and name; the name's keyring keys are removed afterwards.
func setup(t *testing.T) (*entratest.Server, string) {
	t.Helper()
	srv, err := entratest.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	b := make([]byte, 6)
	rand.Read(b)
	name := "azid-interop-" + hex.EncodeToString(b)
	t.Cleanup(func() { unlinkKeys(name, name+".cae") })
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

func clientOptions(srv *entratest.Server) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()},
		Transport: srv.Client(),
	}
}

func azidentityCred(t *testing.T, srv *entratest.Server, name string) *azidentity.ClientSecretCredential {
	t.Helper()
	c, err := azcache.New(&azcache.Options{Name: name})
	if err != nil {
		t.Fatalf("azidentity/cache: %v", err)
	}
	cred, err := azidentity.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOptions(srv), DisableInstanceDiscovery: true, Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func azidCred(t *testing.T, srv *entratest.Server, name string) *azid.ClientSecretCredential {
	t.Helper()
	c, err := cache.New(&cache.Options{Name: name})
	if err != nil {
		t.Fatalf("azid cache: %v", err)
	}
	cred, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&azid.ClientSecretCredentialOptions{ClientOptions: clientOptions(srv), DisableInstanceDiscovery: true, Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// azidentity persists a token; azid reads it with no token request.
func TestCacheInteropAzidentityWritesAzidReads(t *testing.T) {
	srv, name := setup(t)
	want, err := azidentityCred(t, srv, name).GetToken(context.Background(), scope)
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("azidentity made %d token requests", n)
	}
	got, err := azidCred(t, srv, name).GetToken(context.Background(), scope)
	if err != nil {
		t.Fatal(err)
	}
	if got.Token != want.Token {
		t.Fatal("azid did not read azidentity's token")
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("azid made %d token requests, want 0", n-1)
	}
}

// azid persists a token; azidentity reads it with no token request.
func TestCacheInteropAzidWritesAzidentityReads(t *testing.T) {
	srv, name := setup(t)
	want, err := azidCred(t, srv, name).GetToken(context.Background(), scope)
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("azid made %d token requests", n)
	}
	got, err := azidentityCred(t, srv, name).GetToken(context.Background(), scope)
	if err != nil {
		t.Fatal(err)
	}
	if got.Token != want.Token {
		t.Fatal("azidentity did not read azid's token")
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("azidentity made %d token requests, want 0", n-1)
	}
}

// Both write to one cache: azidentity adds a token to the file azid wrote
// and azid keeps it (and its own) on its next write.
func TestCacheInteropBothWrite(t *testing.T) {
	srv, name := setup(t)
	other := policy.TokenRequestOptions{Scopes: []string{"api://other/.default"}}
	third := policy.TokenRequestOptions{Scopes: []string{"api://third/.default"}}
	ctx := context.Background()
	if _, err := azidCred(t, srv, name).GetToken(ctx, scope); err != nil {
		t.Fatal(err)
	}
	if _, err := azidentityCred(t, srv, name).GetToken(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := azidCred(t, srv, name).GetToken(ctx, third); err != nil {
		t.Fatal(err)
	}
	before := srv.Requests(entratest.EndpointToken)
	fresh := azidentityCred(t, srv, name)
	for _, s := range []policy.TokenRequestOptions{scope, other, third} {
		if _, err := fresh.GetToken(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Requests(entratest.EndpointToken) - before; n != 0 {
		t.Fatalf("a fresh azidentity made %d token requests; a write lost someone's token", n)
	}
}
