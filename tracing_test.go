package azid

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
	"github.com/azid-go/azid/entratest"
)

// recordedSpan is one span as the recording tracer saw it.
type recordedSpan struct {
	name   string
	kind   tracing.SpanKind
	parent *recordedSpan
	attrs  map[string]any
	status tracing.SpanStatus
	desc   string
	ended  bool
}

// spanRecorder is an azcore tracing provider that keeps every span, the
// way an OpenTelemetry exporter would receive them.
type spanRecorder struct {
	mu    sync.Mutex
	spans []*recordedSpan
}

type spanKey struct{}

func (r *spanRecorder) provider() tracing.Provider {
	return tracing.NewProvider(func(name, version string) tracing.Tracer {
		return tracing.NewTracer(r.start, &tracing.TracerOptions{SpanFromContext: r.fromContext})
	}, nil)
}

func (r *spanRecorder) start(ctx context.Context, name string, o *tracing.SpanOptions) (context.Context, tracing.Span) {
	s := &recordedSpan{name: name, attrs: map[string]any{}}
	if o != nil {
		s.kind = o.Kind
		for _, a := range o.Attributes {
			s.attrs[a.Key] = a.Value
		}
	}
	s.parent, _ = ctx.Value(spanKey{}).(*recordedSpan)
	r.mu.Lock()
	r.spans = append(r.spans, s)
	r.mu.Unlock()
	return context.WithValue(ctx, spanKey{}, s), r.span(s)
}

func (r *spanRecorder) span(s *recordedSpan) tracing.Span {
	return tracing.NewSpan(tracing.SpanImpl{
		End: func() { r.mu.Lock(); s.ended = true; r.mu.Unlock() },
		SetAttributes: func(attrs ...tracing.Attribute) {
			r.mu.Lock()
			for _, a := range attrs {
				s.attrs[a.Key] = a.Value
			}
			r.mu.Unlock()
		},
		SetStatus: func(code tracing.SpanStatus, desc string) {
			r.mu.Lock()
			s.status, s.desc = code, desc
			r.mu.Unlock()
		},
	})
}

func (r *spanRecorder) fromContext(ctx context.Context) tracing.Span {
	if s, ok := ctx.Value(spanKey{}).(*recordedSpan); ok {
		return r.span(s)
	}
	return tracing.Span{}
}

// take returns the spans recorded so far and forgets them.
func (r *spanRecorder) take() []recordedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]recordedSpan, len(r.spans))
	for i, s := range r.spans {
		out[i] = *s
	}
	r.spans = nil
	return out
}

// checkGetTokenSpans checks that the spans of one GetToken are the
// credential's span, ended, with the cache attribute and the status
// expected, and (on a miss) the token request's HTTP span as its child.
func checkGetTokenSpans(t *testing.T, spans []recordedSpan, name string, fromCache, failed bool) {
	t.Helper()
	var own *recordedSpan
	httpSpans := 0
	for i := range spans {
		s := &spans[i]
		switch {
		case s.name == name:
			if own != nil {
				t.Fatalf("two %s spans", name)
			}
			own = s
		case s.kind == tracing.SpanKindClient:
			httpSpans++
			if s.parent == nil || s.parent.name != name {
				t.Errorf("HTTP span %q is not a child of %s", s.name, name)
			}
		default:
			t.Errorf("unexpected span %q", s.name)
		}
	}
	if own == nil {
		t.Fatalf("no %s span among %d", name, len(spans))
	}
	if !own.ended || own.kind != tracing.SpanKindInternal {
		t.Errorf("%s: ended %v, kind %v", name, own.ended, own.kind)
	}
	if got := own.attrs[AttributeTokenFromCache]; got != fromCache {
		t.Errorf("%s: %s = %v, want %v", name, AttributeTokenFromCache, got, fromCache)
	}
	if failed != (own.status == tracing.SpanStatusError) {
		t.Errorf("%s: status %v (%q), want error=%v", name, own.status, own.desc, failed)
	}
	if !fromCache && !failed && httpSpans == 0 {
		t.Errorf("%s: a miss recorded no HTTP span", name)
	}
	if fromCache && httpSpans != 0 {
		t.Errorf("%s: a hit recorded %d HTTP spans", name, httpSpans)
	}
}

// traceTwice calls GetToken twice (a miss, then a hit) and checks the spans.
func traceTwice(t *testing.T, rec *spanRecorder, cred azcore.TokenCredential, name string, opts policy.TokenRequestOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, fromCache := range []bool{false, true} {
		if _, err := cred.GetToken(ctx, opts); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		checkGetTokenSpans(t, rec.take(), name, fromCache, false)
	}
}

func TestTracingAppCredentials(t *testing.T) {
	srv, conn := pipelinesSetup(t)
	rec := &spanRecorder{}
	copts := emulatorOptions(srv)
	copts.TracingProvider = rec.provider()

	secret, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&ClientSecretCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	traceTwice(t, rec, secret, "ClientSecretCredential.GetToken", demoScope)

	pipelines, err := NewAzurePipelinesCredential(entratest.DefaultTenantID, pipelinesClientID, conn.ID, conn.SystemAccessToken,
		&AzurePipelinesCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	traceTwice(t, rec, pipelines, "AzurePipelinesCredential.GetToken", demoScope)

	// A failure ends the span with an error status.
	wrong, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, "wrong-secret-0123456789",
		&ClientSecretCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.GetToken(context.Background(), demoScope); err == nil {
		t.Fatal("a wrong secret got a token")
	}
	checkGetTokenSpans(t, rec.take(), "ClientSecretCredential.GetToken", false, true)
}

func TestTracingOnBehalfOf(t *testing.T) {
	srv := newEmulator(t, nil)
	rec := &spanRecorder{}
	copts := emulatorOptions(srv)
	copts.TracingProvider = rec.provider()
	cred, err := NewOnBehalfOfCredentialWithSecret(entratest.DefaultTenantID, entratest.DefaultClientID, issueUserToken(t, srv, "ada"), entratest.DefaultClientSecret,
		&OnBehalfOfCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	traceTwice(t, rec, cred, "OnBehalfOfCredential.GetToken", graphScope)
}

func TestTracingUserCredential(t *testing.T) {
	srv := newUserEmulator(t)
	rec := &spanRecorder{}
	copts := emulatorOptions(srv)
	copts.TracingProvider = rec.provider()
	cred, err := NewUsernamePasswordCredential(entratest.DefaultTenantID, entratest.AzureCLIClientID, entratest.DefaultUsername, entratest.DefaultPassword,
		&UsernamePasswordCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	traceTwice(t, rec, cred, "UsernamePasswordCredential.GetToken", storageScope)

	// Authenticate has its span too, with the sign-in's HTTP span in it.
	if _, err := cred.Authenticate(context.Background(), &graphScope); err != nil {
		t.Fatal(err)
	}
	spans := rec.take()
	var auth *recordedSpan
	for i := range spans {
		if spans[i].name == "UsernamePasswordCredential.Authenticate" {
			auth = &spans[i]
		}
	}
	if auth == nil || !auth.ended || auth.status == tracing.SpanStatusError {
		t.Fatalf("Authenticate span %+v among %d", auth, len(spans))
	}
}

func TestTracingManagedIdentity(t *testing.T) {
	srv := newMIEmulator(t, nil)
	host := newMIHost(t, srv)
	rec := &spanRecorder{}
	cred := newMICred(t, host, entratest.EndpointAppService, func(mt *miTest) { mt.opts.TracingProvider = rec.provider() })
	traceTwice(t, rec, cred, "ManagedIdentityCredential.GetToken", policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
}

// TestTracingInsideAnOperation: within an SDK client's operation span, a
// credential adds no span of its own (azcore suppresses nested spans, as
// for azidentity), and its cache attribute never lands on the caller's
// span.
func TestTracingInsideAnOperation(t *testing.T) {
	srv := newEmulator(t, nil)
	rec := &spanRecorder{}
	copts := emulatorOptions(srv)
	copts.TracingProvider = rec.provider()
	cred, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&ClientSecretCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tracer := rec.provider().NewTracer("client", "v1")
	ctx, end := runtime.StartSpan(context.Background(), "Client.Operation", tracer, nil)
	_, err = cred.GetToken(ctx, demoScope)
	end(err)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rec.take() {
		if s.name == "ClientSecretCredential.GetToken" {
			t.Error("a credential span inside an operation span")
		}
		if _, ok := s.attrs[AttributeTokenFromCache]; ok {
			t.Errorf("span %q got the credential's cache attribute", s.name)
		}
	}
}

// TestTracingDisabled: traceGetToken given a disabled tracer (credentials
// call it only with an enabled one) still hands back the getter's token and
// error unchanged.
func TestTracingDisabled(t *testing.T) {
	calls := 0
	tok, err := traceGetToken(context.Background(), &tracing.Tracer{}, "X.GetToken", demoScope,
		func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, bool, error) {
			calls++
			return azcore.AccessToken{Token: "t"}, true, nil
		})
	if err != nil || tok.Token != "t" || calls != 1 {
		t.Fatalf("got %v, %v after %d calls", tok, err, calls)
	}
	boom := errors.New("boom")
	if _, err := traceGetToken(context.Background(), &tracing.Tracer{}, "X.GetToken", demoScope,
		func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, bool, error) {
			return azcore.AccessToken{}, false, boom
		}); err != boom {
		t.Fatalf("error %v, want the getter's", err)
	}
}

// TestHitAllocatesNothingWithoutTracing: with no TracingProvider, the
// tracing helper in front of every GetToken keeps a cache hit free of
// allocations, for each credential family.
func TestHitAllocatesNothingWithoutTracing(t *testing.T) {
	srv := newMIEmulator(t, nil)
	ctx := context.Background()
	secret, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&ClientSecretCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	mi := newMICred(t, newMIHost(t, srv), entratest.EndpointAppService, nil)
	miScope := policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}}
	for name, call := range map[string]func() error{
		"ClientSecretCredential": func() error { _, err := secret.GetToken(ctx, demoScope); return err },
		"ManagedIdentityCredential": func() error {
			_, err := mi.GetToken(ctx, miScope)
			return err
		},
	} {
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if allocs := testing.AllocsPerRun(200, func() {
			if err := call(); err != nil {
				t.Fatal(err)
			}
		}); allocs != 0 {
			t.Errorf("%s: a hit allocates %.1f times", name, allocs)
		}
	}
}
