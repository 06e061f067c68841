package azid

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// stubCred is a chain source with a fixed answer.
type stubCred struct {
	tok   string
	err   error
	gate  chan struct{} // when set, GetToken waits for it
	calls atomic.Int32
}

func (s *stubCred) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	s.calls.Add(1)
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return azcore.AccessToken{}, ctx.Err()
		}
	}
	if s.err != nil {
		return azcore.AccessToken{}, s.err
	}
	return azcore.AccessToken{Token: s.tok, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func unavailable(name, msg string) *stubCred {
	return &stubCred{err: newCredentialUnavailableError(name, msg, nil)}
}

func newTestChain(t *testing.T, o *ChainedTokenCredentialOptions, sources ...azcore.TokenCredential) *ChainedTokenCredential {
	t.Helper()
	c, err := NewChainedTokenCredential(sources, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChainedTokenCredentialRemembersTheSourceThatWorked(t *testing.T) {
	a := unavailable("EnvironmentCredential", "missing environment variable AZURE_TENANT_ID")
	b := &stubCred{tok: "b"}
	z := &stubCred{tok: "z"}
	c := newTestChain(t, nil, a, b, z)
	for range 3 {
		if tok := mustToken(t, c, demoScope); tok.Token != "b" {
			t.Fatalf("token %q", tok.Token)
		}
	}
	if a.calls.Load() != 1 || b.calls.Load() != 3 || z.calls.Load() != 0 {
		t.Fatalf("calls a=%d b=%d z=%d, want 1, 3, 0", a.calls.Load(), b.calls.Load(), z.calls.Load())
	}
	// Once chosen, the source's own failures are returned as they are.
	b.err = errors.New("b broke")
	if _, err := c.GetToken(context.Background(), demoScope); err == nil || err.Error() != "b broke" {
		t.Fatalf("got %v", err)
	}
	if a.calls.Load() != 1 {
		t.Fatal("the chain went back to a source it had passed over")
	}
}

func TestChainedTokenCredentialRetrySources(t *testing.T) {
	a := unavailable("A", "not here")
	b := &stubCred{tok: "b"}
	c := newTestChain(t, &ChainedTokenCredentialOptions{RetrySources: true}, a, b)
	for range 3 {
		mustToken(t, c, demoScope)
	}
	if a.calls.Load() != 3 || b.calls.Load() != 3 {
		t.Fatalf("calls a=%d b=%d, want 3 and 3", a.calls.Load(), b.calls.Load())
	}
	// A source that becomes available is used from the next call on.
	a.err, a.tok = nil, "a"
	if tok := mustToken(t, c, demoScope); tok.Token != "a" {
		t.Fatalf("token %q", tok.Token)
	}
}

func TestChainedTokenCredentialAuthenticationRequiredMeansNext(t *testing.T) {
	a := &stubCred{err: &AuthenticationRequiredError{credType: "InteractiveBrowserCredential"}}
	b := &stubCred{tok: "b"}
	if tok := mustToken(t, newTestChain(t, nil, a, b), demoScope); tok.Token != "b" {
		t.Fatalf("token %q", tok.Token)
	}
}

func TestChainedTokenCredentialStopsAtRealFailure(t *testing.T) {
	a := unavailable("EnvironmentCredential", "missing environment variable AZURE_TENANT_ID")
	b := &stubCred{err: newAuthenticationFailedError("ClientSecretCredential", errors.New("invalid_client: AADSTS7000215: Invalid client secret provided"))}
	z := &stubCred{tok: "z"}
	c := newTestChain(t, nil, a, b, z)
	_, err := c.GetToken(context.Background(), demoScope)
	const want = "ChainedTokenCredential: failed to acquire a token.\n" +
		"Attempted credentials:\n" +
		"\tEnvironmentCredential: missing environment variable AZURE_TENANT_ID\n" +
		"\tClientSecretCredential authentication failed: invalid_client: AADSTS7000215: Invalid client secret provided"
	if err == nil || err.Error() != want {
		t.Fatalf("error\n%v\nwant\n%s", err, want)
	}
	if z.calls.Load() != 0 {
		t.Fatal("the chain went past a real failure")
	}
	if isUnavailable(err) {
		t.Fatal("a real failure made the chain unavailable")
	}
	var afe *AuthenticationFailedError
	if !errors.As(err, &afe) || afe.CredentialType != "ClientSecretCredential" {
		t.Fatalf("errors.As did not find the failing source's error: %v", afe)
	}
	// Nothing was chosen: the next call tries again from the top.
	c.GetToken(context.Background(), demoScope)
	if a.calls.Load() != 2 {
		t.Fatalf("a called %d times, want 2", a.calls.Load())
	}
}

func TestChainedTokenCredentialAllUnavailable(t *testing.T) {
	c := newTestChain(t, nil,
		unavailable("EnvironmentCredential", "missing environment variable AZURE_TENANT_ID"),
		unavailable("ManagedIdentityCredential", "no managed identity endpoint responded"),
		&stubCred{err: newCredentialUnavailableError("AzureCLICredential", "", errors.New("az failed:\nline two"))},
	)
	_, err := c.GetToken(context.Background(), demoScope)
	const want = "ChainedTokenCredential: failed to acquire a token.\n" +
		"Attempted credentials:\n" +
		"\tEnvironmentCredential: missing environment variable AZURE_TENANT_ID\n" +
		"\tManagedIdentityCredential: no managed identity endpoint responded\n" +
		"\tAzureCLICredential: az failed:\n" +
		"\t\tline two"
	if err == nil || err.Error() != want {
		t.Fatalf("error\n%v\nwant\n%s", err, want)
	}
	if !isUnavailable(err) {
		t.Fatal("a chain of unavailable sources must itself be unavailable")
	}
	// So an outer chain moves past it...
	outer := newTestChain(t, nil, c, &stubCred{tok: "outer"})
	if tok := mustToken(t, outer, demoScope); tok.Token != "outer" {
		t.Fatalf("token %q", tok.Token)
	}
	// ...but not past an inner chain that failed for real.
	failing := newTestChain(t, nil, &stubCred{err: errors.New("boom")})
	outer2 := newTestChain(t, nil, failing, &stubCred{tok: "outer"})
	if _, err := outer2.GetToken(context.Background(), demoScope); err == nil {
		t.Fatal("the outer chain went past a real failure")
	}
}

func TestChainedTokenCredentialConstructor(t *testing.T) {
	if _, err := NewChainedTokenCredential(nil, nil); err == nil {
		t.Error("empty chain accepted")
	}
	if _, err := NewChainedTokenCredential([]azcore.TokenCredential{&stubCred{}, nil}, nil); err == nil {
		t.Error("nil source accepted")
	}
	// The chain keeps its own copy of the sources.
	src := []azcore.TokenCredential{&stubCred{tok: "a"}}
	c := newTestChain(t, nil, src...)
	src[0] = &stubCred{tok: "changed"}
	if tok := mustToken(t, c, demoScope); tok.Token != "a" {
		t.Fatalf("token %q", tok.Token)
	}
}

// While no source is chosen, one goroutine tries the sources for everyone.
func TestChainedTokenCredentialConcurrentFirstCalls(t *testing.T) {
	a := unavailable("A", "not here")
	b := &stubCred{tok: "b", gate: make(chan struct{})}
	c := newTestChain(t, nil, a, b)
	const callers = 100
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := c.GetToken(context.Background(), demoScope)
			if err == nil && tok.Token != "b" {
				err = fmt.Errorf("token %q", tok.Token)
			}
			errs <- err
		}()
	}
	eventually(t, "the first caller to reach b", func() bool { return b.calls.Load() == 1 })
	close(b.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if a.calls.Load() != 1 {
		t.Fatalf("%d callers tried the unavailable source %d times, want 1", callers, a.calls.Load())
	}
	if b.calls.Load() != callers {
		t.Fatalf("b called %d times, want %d (once by the searcher, then by each waiter)", b.calls.Load(), callers)
	}
}

func TestChainedTokenCredentialWaiterContext(t *testing.T) {
	b := &stubCred{tok: "b", gate: make(chan struct{})}
	c := newTestChain(t, nil, b)
	go c.GetToken(context.Background(), demoScope)
	eventually(t, "the searcher to start", func() bool { return b.calls.Load() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.GetToken(ctx, demoScope); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	close(b.gate)
}

func mustToken(t *testing.T, c azcore.TokenCredential, opts policy.TokenRequestOptions) azcore.AccessToken {
	t.Helper()
	tok, err := c.GetToken(context.Background(), opts)
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	return tok
}

// The chain's own cost once a source is chosen: one atomic load before the
// source's GetToken.
func BenchmarkChainedTokenCredentialChosen(b *testing.B) {
	c, err := NewChainedTokenCredential([]azcore.TokenCredential{
		&stubCred{err: newCredentialUnavailableError("A", "not here", nil)},
		&stubCred{tok: "b"},
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.GetToken(ctx, demoScope); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
