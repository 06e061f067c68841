package azid

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
)

// firstTokenRejecter is a resource that answers 401 to the first bearer
// token it sees and 200 to any other.
type firstTokenRejecter struct {
	*httptest.Server
	mu       sync.Mutex
	rejected string
	seen     []string
}

func newFirstTokenRejecter(t *testing.T) *firstTokenRejecter {
	r := &firstTokenRejecter{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		tok, _ := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		r.mu.Lock()
		defer r.mu.Unlock()
		r.seen = append(r.seen, tok)
		if r.rejected == "" {
			r.rejected = tok
		}
		if tok == "" || tok == r.rejected {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.Close)
	return r
}

type statser interface{ CacheStats() CacheStats }

// statsOf returns what counts cred's cache: cred, for an
// EnvironmentCredential the credential it built, and for a
// DefaultAzureCredential narrowed to one member that member's.
func statsOf(t *testing.T, cred azcore.TokenCredential) statser {
	if d, ok := cred.(*DefaultAzureCredential); ok {
		if n := len(d.chain.sources); n != 1 {
			t.Fatalf("a DefaultAzureCredential of %d members: narrow it to one (AZURE_TOKEN_CREDENTIALS) to count its cache", n)
		}
		cred = d.chain.sources[0]
	}
	if e, ok := cred.(*EnvironmentCredential); ok {
		cred = e.cred
	}
	s, ok := cred.(statser)
	if !ok {
		t.Fatalf("%T has no CacheStats", cred)
	}
	return s
}

// Every azid credential is used by NewBearerTokenTransport as it is (no
// second cache), and a 401 drops the rejected token from the credential's
// own cache, so the retry carries a new token from the credential.
func TestBearerTransportUsesEveryCredentialsOwnCache(t *testing.T) {
	for _, tc := range credentialLogCases {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.serial {
				t.Parallel()
			}
			srv := newEmulator(t, nil)
			cred, _ := tc.new(t, srv, emulatorOptions(srv), nil)
			checkTransportInvalidates(t, cred, statsOf(t, cred))
		})
	}
}

// checkTransportInvalidates sends one request through a transport over cred
// to a resource that rejects the first token, and checks that the transport
// did not wrap cred and that stats (the credential that caches) dropped
// the token.
func checkTransportInvalidates(t *testing.T, cred azcore.TokenCredential, stats statser) {
	t.Helper()
	tr, err := NewBearerTokenTransport(cred, demoScope.Scopes, nil, &BearerTokenTransportOptions{InsecureAllowLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if tr.cred != cred {
		t.Fatalf("the transport wrapped the credential in a %T: a second cache", tr.cred)
	}
	res := newFirstTokenRejecter(t)
	before := stats.CacheStats()
	resp, err := (&http.Client{Transport: tr}).Get(res.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d after the retry; the resource saw %d requests", resp.StatusCode, len(res.seen))
	}
	after := stats.CacheStats()
	if got := after.Invalidations - before.Invalidations; got != 1 {
		t.Fatalf("%d invalidations in the credential's cache, want 1", got)
	}
	if got := after.TokenRequests - before.TokenRequests; got != 2 {
		t.Fatalf("%d token requests, want 2: the rejected token and its replacement", got)
	}
}

// A chain (and DefaultAzureCredential) passes the rejected token to the
// source that served it; a chain with a source azid does not cache is
// wrapped, as any foreign credential is.
func TestBearerTransportChains(t *testing.T) {
	srv := newEmulator(t, nil)
	secret := newSecretCred(t, srv, nil)
	chain, err := NewChainedTokenCredential([]azcore.TokenCredential{secret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkTransportInvalidates(t, chain, secret)

	foreign := &foreignCred{}
	mixed, err := NewChainedTokenCredential([]azcore.TokenCredential{foreign, secret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewBearerTokenTransport(mixed, demoScope.Scopes, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tr.cred.(*CachingCredential); !ok {
		t.Fatalf("a chain with an uncached source was used as %T, not cached", tr.cred)
	}
}

func TestBearerTransportDefaultAzureCredential(t *testing.T) {
	srv := newEmulator(t, nil)
	t.Setenv("AZURE_TENANT_ID", entratest.DefaultTenantID)
	t.Setenv("AZURE_CLIENT_ID", entratest.DefaultClientID)
	t.Setenv("AZURE_CLIENT_SECRET", entratest.DefaultClientSecret)
	d, err := NewDefaultAzureCredential(&DefaultAzureCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	// The environment member serves; its stats are the chain's first
	// source's.
	env, ok := d.chain.sources[0].(*EnvironmentCredential)
	if !ok {
		t.Fatalf("the first member is a %T", d.chain.sources[0])
	}
	checkTransportInvalidates(t, d, env)
}

// foreignCred is a credential azid does not cache.
type foreignCred struct{}

func (foreignCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("not used")
}

var (
	_ invalidator = (*ClientCertificateCredential)(nil)
	_ invalidator = (*ClientAssertionCredential)(nil)
	_ invalidator = (*WorkloadIdentityCredential)(nil)
	_ invalidator = (*OnBehalfOfCredential)(nil)
	_ invalidator = (*EnvironmentCredential)(nil)
	_ invalidator = (*ManagedIdentityCredential)(nil)
	_ invalidator = (*DeviceCodeCredential)(nil)
	_ invalidator = (*InteractiveBrowserCredential)(nil)
	_ invalidator = (*UsernamePasswordCredential)(nil)
	_ invalidator = (*AuthorizationCodeCredential)(nil)
	_ invalidator = (*AzureCLICredential)(nil)
	_ invalidator = (*AzureDeveloperCLICredential)(nil)
	_ invalidator = (*AzurePowerShellCredential)(nil)
	_ invalidator = (*ChainedTokenCredential)(nil)
	_ invalidator = (*DefaultAzureCredential)(nil)
)
