package azid

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
)

// newEmulator starts an emulator for one test, stricter than Entra where
// a conformant server may be: a replayed client assertion is refused, and
// a refresh token presented twice revokes its sign-in and fails the test.
func newEmulator(t *testing.T, o *entratest.Options) *entratest.Server {
	t.Helper()
	var opts entratest.Options
	if o != nil {
		opts = *o
	}
	opts.OneTimeClientAssertions = true
	opts.DetectRefreshTokenReuse = true
	srv, err := entratest.NewServer(&opts)
	if err != nil {
		t.Fatalf("starting the emulator: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	checkNoRefreshTokenReuse(t, srv)
	return srv
}

// emulatorOptions points a credential at srv. Retries are fast so that
// fault tests do not sleep through azcore's default backoff.
func emulatorOptions(srv *entratest.Server) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()},
		Transport: srv.Client(),
		Retry:     policy.RetryOptions{MaxRetries: 1, RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond},
	}
}

// newSecretCred builds the default app's ClientSecretCredential against srv
// through the same path as the constructor, with test seams open.
func newSecretCred(t *testing.T, srv *entratest.Server, mod func(*appOptions)) *ClientSecretCredential {
	t.Helper()
	o := appOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true}
	if mod != nil {
		mod(&o)
	}
	app, err := newAppClient(credNameSecret, entratest.DefaultTenantID, entratest.DefaultClientID,
		clientCredentialsGrant{secretAuth(entratest.DefaultClientSecret)}, o)
	if err != nil {
		t.Fatal(err)
	}
	return &ClientSecretCredential{app: app}
}

// fakeClock is a settable clock for refresh and outage tests.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// eventually polls cond until it holds; it waits for background work and
// never asserts speed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var demoScope = policy.TokenRequestOptions{Scopes: []string{"api://demo/.default"}}
