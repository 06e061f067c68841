package interop

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/azid-go/azid/entratest"
)

// newEmulator starts an emulator with its CONNECT proxy, closed when the
// test ends. It refuses replayed client assertions, as a conformant server
// may, so every client is held to one assertion per request.
func newEmulator(t testing.TB, opts *entratest.Options) *entratest.Server {
	t.Helper()
	var o entratest.Options
	if opts != nil {
		o = *opts
	}
	o.OneTimeClientAssertions = true
	if o.ProxyAddr == "" {
		o.ProxyAddr = "127.0.0.1:0"
	}
	srv, err := entratest.NewServer(&o)
	if err != nil {
		t.Fatalf("starting the emulator: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing the emulator: %v", err)
		}
	})
	return srv
}

// direct is the azcore client configuration for reaching the emulator at
// its own address, as a test points any azidentity credential at it.
func direct(srv *entratest.Server) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()},
		Transport: srv.Client(),
	}
}

// viaProxy is the configuration for reaching it as Entra's public cloud
// through its proxy: the authority is login.microsoftonline.com, as for an
// unconfigured client in production.
func viaProxy(srv *entratest.Server) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.AzurePublic,
		Transport: srv.ProxyClient(),
	}
}

// ctx is a context for one test's calls, bounded so a hang fails the test
// instead of the whole run.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// grants counts the token requests the emulator logged per grant type.
func grants(srv *entratest.Server) map[string]int {
	g := map[string]int{}
	for _, r := range srv.TokenRequests() {
		g[r.GrantType]++
	}
	return g
}
