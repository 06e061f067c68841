package authority

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// An authority on this machine (an emulator) needs no instance discovery:
// no request is sent, whatever the tenant.
func TestDiscoveryLocalHostsNeedNoRequest(t *testing.T) {
	srv := newDiscoveryServer(t, validAnswer)
	d := NewDiscovery(srv.Client().Do, srv.URL)
	for _, h := range []string{"https://127.0.0.1:8443/", "https://[::1]:443/", "https://localhost:9/", "https://LocalHost/", "https://entra.localhost:8443/", "https://a.b.localhost./"} {
		if err := d.Validate(context.Background(), mustURL(t, h), "contoso.onmicrosoft.com"); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	if n := srv.calls.Load(); n != 0 {
		t.Errorf("%d discovery requests for local hosts", n)
	}
	// Names that only look local are still checked.
	for _, h := range []string{"localhost.contoso.com", "127.0.0.1.nip.io", "notlocalhost"} {
		if LocalHost(h) {
			t.Errorf("LocalHost(%q) = true", h)
		}
	}
}

// A discovery endpoint whose name does not resolve: one attempt (no
// retries through azcore's pipeline), and an error that names the host the
// user asked about and the option that skips the check.
func TestDiscoveryUnknownHostFailsFast(t *testing.T) {
	var attempts atomic.Int32
	counter := policyFunc(func(req *policy.Request) (*http.Response, error) {
		attempts.Add(1)
		return req.Next()
	})
	pl := runtime.NewPipeline("test", "v0", runtime.PipelineOptions{PerRetry: []policy.Policy{counter}}, &policy.ClientOptions{
		Transport: FailFastOnUnknownHost(nil),
		Retry:     policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Second},
	})
	do := func(r *http.Request) (*http.Response, error) {
		req, err := runtime.NewRequest(r.Context(), r.Method, r.URL.String())
		if err != nil {
			return nil, err
		}
		return pl.Do(req)
	}
	// .invalid never resolves (RFC 2606).
	d := NewDiscovery(do, "https://login.azid-test.invalid/")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := d.Validate(ctx, mustURL(t, "https://login.contoso.example/"), "t")
	var dns *net.DNSError
	var unknown *UnknownHostError
	if !errors.As(err, &unknown) || !errors.As(err, &dns) || !dns.IsNotFound {
		t.Fatalf("Validate = %v, want an UnknownHostError wrapping a DNS not-found error", err)
	}
	for _, want := range []string{"login.contoso.example", "DisableInstanceDiscovery", "login.azid-test.invalid"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not mention %q: %v", want, err)
		}
	}
	if n := attempts.Load(); n != 1 {
		t.Errorf("%d attempts, want 1 (no retries of a name that does not exist)", n)
	}
}

type policyFunc func(*policy.Request) (*http.Response, error)

func (f policyFunc) Do(r *policy.Request) (*http.Response, error) { return f(r) }
