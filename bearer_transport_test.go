package azid

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/azid-go/azid/entratest"
)

const resourceScope = "api://demo/.default"

// resource is an API protected by the emulator's tokens. It answers 200 with
// the request body echoed, or 401 when the token is invalid, rejected by
// the test (reject), or when a CAE challenge is pending.
type resource struct {
	t   *testing.T
	srv *entratest.Server
	*httptest.Server

	requests atomic.Int64
	mu       sync.Mutex
	rejected map[string]bool // tokens answered with 401
	// challenge, when set, is sent (once) to a token that does not carry
	// challengeNBF as its iat.
	challenge string
}

func newResource(t *testing.T, srv *entratest.Server) *resource {
	r := &resource{t: t, srv: srv, rejected: map[string]bool{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *resource) reject(tok string) {
	r.mu.Lock()
	r.rejected[tok] = true
	r.mu.Unlock()
}

func (r *resource) serve(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok {
		http.Error(w, "no bearer token", http.StatusUnauthorized)
		return
	}
	claims, err := r.srv.VerifyToken(tok)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	rejected := r.rejected[tok]
	ch := r.challenge
	if ch != "" {
		r.challenge = ""
	}
	r.mu.Unlock()
	if rejected {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", error="invalid_token"`)
		http.Error(w, "token revoked", http.StatusUnauthorized)
		return
	}
	if ch != "" {
		w.Header().Set("WWW-Authenticate", ch)
		http.Error(w, "claims challenge", http.StatusUnauthorized)
		return
	}
	if claims["aud"] != "api://demo" {
		http.Error(w, "wrong audience", http.StatusForbidden)
		return
	}
	w.Header().Set("X-Token-Uti", claims["uti"].(string))
	_, _ = io.Copy(w, req.Body)
}

func newTestTransport(t *testing.T, cred *ClientSecretCredential, o *BearerTokenTransportOptions) *BearerTokenTransport {
	t.Helper()
	if o == nil {
		o = &BearerTokenTransportOptions{InsecureAllowLoopbackHTTP: true}
	}
	tr, err := NewBearerTokenTransport(cred, []string{resourceScope}, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func post(t *testing.T, c *http.Client, url, body string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestBearerTransportAuthorizesAndCaches(t *testing.T) {
	srv := newEmulator(t, nil)
	res := newResource(t, srv)
	cred := newSecretCred(t, srv, nil)
	c := &http.Client{Transport: newTestTransport(t, cred, nil)}
	// 100 concurrent requests with an empty cache, then 50 more.
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			if resp, body := post(t, c, res.URL, "hello"); resp.StatusCode != http.StatusOK || body != "hello" {
				t.Errorf("request %d: %d %q", i, resp.StatusCode, body)
			}
		})
	}
	wg.Wait()
	for i := range 50 {
		resp, body := post(t, c, res.URL, "hello")
		if resp.StatusCode != http.StatusOK || body != "hello" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("150 requests made %d token requests, want 1", n)
	}
	// The transport shares the credential's cache with SDK clients, which
	// ask for CAE tokens.
	if reqs := srv.TokenRequests(); !strings.Contains(reqs[0].Claims, "CP1") {
		t.Fatalf("token request claims %q; the transport should ask for a CAE token", reqs[0].Claims)
	}
}

func TestBearerTransportRefusesPlainHTTP(t *testing.T) {
	srv := newEmulator(t, nil)
	res := newResource(t, srv)
	cred := newSecretCred(t, srv, nil)
	for _, tc := range []struct {
		name string
		opts *BearerTokenTransportOptions
		url  string
	}{
		{"loopback without the opt-in", &BearerTokenTransportOptions{}, res.URL},
		{"non-loopback host with the opt-in", &BearerTokenTransportOptions{InsecureAllowLoopbackHTTP: true}, "http://example.com/"},
		{"a name resolving to loopback is not trusted", &BearerTokenTransportOptions{InsecureAllowLoopbackHTTP: true}, "http://localtest.me/"},
		{"other schemes", &BearerTokenTransportOptions{InsecureAllowLoopbackHTTP: true}, "ftp://127.0.0.1/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &http.Client{Transport: newTestTransport(t, cred, tc.opts)}
			body := &closeRecorder{Reader: strings.NewReader("x")}
			req, _ := http.NewRequest(http.MethodPost, tc.url, body)
			_, err := c.Do(req)
			if err == nil || !strings.Contains(err.Error(), "only over https") {
				t.Fatalf("got %v, want a refusal that says tokens go only over https", err)
			}
			if !body.closed.Load() {
				t.Fatal("the request body was not closed")
			}
		})
	}
	if n := srv.Requests(entratest.EndpointToken); n != 0 {
		t.Fatalf("%d token requests for refused requests, want 0", n)
	}
	if n := res.requests.Load(); n != 0 {
		t.Fatalf("the resource got %d requests, want 0", n)
	}
}

type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

func TestBearerTransportHTTPS(t *testing.T) {
	srv := newEmulator(t, nil)
	cred := newSecretCred(t, srv, nil)
	res := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := srv.VerifyToken(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
		}
	}))
	defer res.Close()
	tr, err := NewBearerTokenTransport(cred, []string{resourceScope}, res.Client().Transport, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Get(res.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// A resource revokes the cached token: 50 concurrent requests fail with it,
// and between them the credential requests exactly one new token; every
// request is retried with it, body included.
func TestBearerTransportRejectedTokenBurst(t *testing.T) {
	srv := newEmulator(t, nil)
	res := newResource(t, srv)
	cred := newSecretCred(t, srv, nil)
	c := &http.Client{Transport: newTestTransport(t, cred, nil)}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{resourceScope}, EnableCAE: true})
	if err != nil {
		t.Fatal(err)
	}
	res.reject(tok.Token)

	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := strings.Repeat("b", i+1)
			resp, got := post(t, c, res.URL, body)
			if resp.StatusCode != http.StatusOK || got != body {
				t.Errorf("request %d: %d %q", i, resp.StatusCode, got)
			}
		})
	}
	wg.Wait()
	if got := srv.Requests(entratest.EndpointToken); got != 2 {
		t.Fatalf("%d token requests, want 2: the first token and one replacement for the whole burst", got)
	}
	if st := cred.CacheStats(); st.Invalidations != 1 {
		t.Fatalf("Invalidations = %d, want 1", st.Invalidations)
	}
}

// A token the credential cannot replace is not sent again.
func TestBearerTransportNoRetryWithSameToken(t *testing.T) {
	srv := newEmulator(t, nil)
	res := newResource(t, srv)
	fixed := &fixedCred{}
	tr, err := NewBearerTokenTransport(fixed, []string{resourceScope}, nil, &BearerTokenTransportOptions{InsecureAllowLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := newSecretCred(t, srv, nil).GetToken(context.Background(), demoScope)
	if err != nil {
		t.Fatal(err)
	}
	fixed.tok = tok
	res.reject(tok.Token)
	resp, _ := post(t, &http.Client{Transport: tr}, res.URL, "x")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want the resource's 401", resp.StatusCode)
	}
	if got := res.requests.Load(); got != 1 {
		t.Fatalf("resource got %d requests, want 1 (no retry with the same token)", got)
	}
}

func TestBearerTransportBodyNotReplayable(t *testing.T) {
	srv := newEmulator(t, nil)
	res := newResource(t, srv)
	cred := newSecretCred(t, srv, nil)
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{resourceScope}, EnableCAE: true})
	if err != nil {
		t.Fatal(err)
	}
	res.reject(tok.Token)
	req, _ := http.NewRequest(http.MethodPost, res.URL, io.NopCloser(strings.NewReader("once")))
	if req.GetBody != nil {
		t.Fatal("test setup: the body should not be replayable")
	}
	resp, err := (&http.Client{Transport: newTestTransport(t, cred, nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || res.requests.Load() != 1 {
		t.Fatalf("status %d after %d requests; want the 401 returned without a retry", resp.StatusCode, res.requests.Load())
	}
}

func TestBearerTransportCAEChallenge(t *testing.T) {
	srv := newEmulator(t, nil)
	res := newResource(t, srv)
	cred := newSecretCred(t, srv, nil)
	c := &http.Client{Transport: newTestTransport(t, cred, nil)}
	if resp, _ := post(t, c, res.URL, "warm"); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	claims := `{"access_token":{"nbf":{"essential":true,"value":"1726077595"}}}`
	res.mu.Lock()
	res.challenge = `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="` +
		base64.StdEncoding.EncodeToString([]byte(claims)) + `"`
	res.mu.Unlock()

	resp, body := post(t, c, res.URL, "after the challenge")
	if resp.StatusCode != http.StatusOK || body != "after the challenge" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	reqs := srv.TokenRequests()
	if len(reqs) != 2 {
		t.Fatalf("%d token requests, want 2", len(reqs))
	}
	if got := reqs[1].Claims; !strings.Contains(got, `"1726077595"`) || !strings.Contains(got, "CP1") {
		t.Fatalf("the challenge's token request sent claims %q; want the challenge merged with CP1", got)
	}
	// The challenge's token replaced the cached one.
	if resp, _ := post(t, c, res.URL, "again"); resp.StatusCode != http.StatusOK || srv.Requests(entratest.EndpointToken) != 2 {
		t.Fatalf("status %d, %d token requests after the challenge", resp.StatusCode, srv.Requests(entratest.EndpointToken))
	}
}

func TestBearerTransportBadChallenge(t *testing.T) {
	srv := newEmulator(t, nil)
	res := newResource(t, srv)
	cred := newSecretCred(t, srv, nil)
	c := &http.Client{Transport: newTestTransport(t, cred, nil)}
	for _, ch := range []string{
		`Bearer error="insufficient_claims", claims="%%%not base64"`,
		`Bearer error="insufficient_claims", claims="` + base64.StdEncoding.EncodeToString([]byte("not json")) + `"`,
	} {
		res.mu.Lock()
		res.challenge = ch
		res.mu.Unlock()
		_, err := c.Get(res.URL)
		if err == nil || !strings.Contains(err.Error(), "claims challenge") {
			t.Fatalf("challenge %q: %v, want an error about the claims challenge", ch, err)
		}
	}
}

func TestCAEClaimsParsing(t *testing.T) {
	claims := `{"access_token":{"nbf":{"essential":true}}}`
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		got, ok, err := caeClaims([]string{`Bearer error="insufficient_claims", claims="` + enc.EncodeToString([]byte(claims)) + `"`})
		if err != nil || !ok || got != claims {
			t.Fatalf("got %q, %v, %v", got, ok, err)
		}
	}
	for _, h := range []string{"", `Bearer error="invalid_token"`, `Basic error="insufficient_claims", claims="e30="`, `Bearer error="insufficient_claims"`} {
		if _, ok, err := caeClaims([]string{h}); ok || err != nil {
			t.Fatalf("%q read as a CAE challenge (%v)", h, err)
		}
	}
	if _, _, err := caeClaims([]string{`Bearer error="insufficient_claims", claims="` + strings.Repeat("A", 64<<10) + `"`}); err == nil {
		t.Fatal("oversized claims accepted")
	}
}

// A credential outside azid is wrapped, so the transport still makes one
// token request for many HTTP requests.
func TestBearerTransportWrapsForeignCredential(t *testing.T) {
	srv := newEmulator(t, nil)
	res := newResource(t, srv)
	inner := &srvCred{cred: newSecretCred(t, srv, nil)}
	tr, err := NewBearerTokenTransport(inner, []string{resourceScope}, nil, &BearerTokenTransportOptions{InsecureAllowLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if resp, _ := post(t, &http.Client{Transport: tr}, res.URL, "x"); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if n := inner.calls.Load(); n != 1 {
		t.Fatalf("the foreign credential was called %d times for 20 requests, want 1", n)
	}
}

func TestNewBearerTokenTransportErrors(t *testing.T) {
	if _, err := NewBearerTokenTransport(nil, []string{resourceScope}, nil, nil); err == nil {
		t.Fatal("nil credential accepted")
	}
	if _, err := NewBearerTokenTransport(&fixedCred{}, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "scope") {
		t.Fatalf("no scopes: %v", err)
	}
}

// srvCred hides an azid credential's engine, as a credential written
// outside azid would, and counts calls.
type srvCred struct {
	cred  *ClientSecretCredential
	calls atomic.Int64
}

func (s *srvCred) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	s.calls.Add(1)
	return s.cred.GetToken(ctx, o)
}

// fixedCred always returns the same token, like a credential with a static
// token; it claims to be engine-backed so the transport uses it as is.
type fixedCred struct{ tok azcore.AccessToken }

func (f *fixedCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return f.tok, nil
}
func (f *fixedCred) invalidate(policy.TokenRequestOptions, string) bool { return false }

// nopTransport answers every request with a shared 200, for measuring the
// transport's own cost.
type nopTransport struct{ resp *http.Response }

func (n nopTransport) RoundTrip(*http.Request) (*http.Response, error) { return n.resp, nil }

func (n nopTransport) Do(*http.Request) (*http.Response, error) { return n.resp, nil }

func benchCred(b *testing.B) *ClientSecretCredential {
	srv, err := entratest.NewServer(&entratest.Options{SigningKeyBits: 1024})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	app, err := newAppClient(credNameSecret, entratest.DefaultTenantID, entratest.DefaultClientID,
		clientCredentialsGrant{secretAuth(entratest.DefaultClientSecret)}, appOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		b.Fatal(err)
	}
	return &ClientSecretCredential{app: app}
}

// BenchmarkBearerTransportHit is the transport's whole cost per request
// with a cached token: compare with BenchmarkAzcoreBearerPolicyHit minus
// BenchmarkAzcorePipelineNoAuth.
func BenchmarkBearerTransportHit(b *testing.B) {
	cred := benchCred(b)
	tr, err := NewBearerTokenTransport(cred, []string{resourceScope}, nopTransport{&http.Response{StatusCode: 200}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://api.example/", nil)
	if _, err := tr.RoundTrip(req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.RoundTrip(req); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAzcorePipeline(b *testing.B, policies ...policy.Policy) {
	pl := runtime.NewPipeline("bench", "v0.0.0", runtime.PipelineOptions{}, &policy.ClientOptions{
		Transport:       nopTransport{&http.Response{StatusCode: 200, Body: http.NoBody}},
		Retry:           policy.RetryOptions{MaxRetries: -1},
		Telemetry:       policy.TelemetryOptions{Disabled: true},
		Logging:         policy.LogOptions{},
		PerCallPolicies: policies,
	})
	req, err := runtime.NewRequest(context.Background(), http.MethodGet, "https://api.example/")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pl.Do(req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pl.Do(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAzcoreBearerPolicyHit is azcore's BearerTokenPolicy on the same
// credential, inside a minimal pipeline.
func BenchmarkAzcoreBearerPolicyHit(b *testing.B) {
	cred := benchCred(b)
	benchAzcorePipeline(b, runtime.NewBearerTokenPolicy(cred, []string{resourceScope}, nil))
}

// BenchmarkAzcorePipelineNoAuth is the same pipeline without the policy: the
// baseline to subtract.
func BenchmarkAzcorePipelineNoAuth(b *testing.B) { benchAzcorePipeline(b) }

// FuzzCAEClaims feeds arbitrary WWW-Authenticate values to the CAE challenge
// reader: no panic, and claims are only ever returned as a bounded JSON
// object.
func FuzzCAEClaims(f *testing.F) {
	f.Add(`Bearer realm="", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnt9fQ=="`)
	f.Add(`Bearer error="insufficient_claims", claims="%%%"`)
	f.Add(`Basic realm="x", Bearer error=insufficient_claims, claims=e30`)
	f.Fuzz(func(t *testing.T, h string) {
		claims, ok, err := caeClaims([]string{h})
		if err != nil && ok {
			t.Fatal("both claims and an error")
		}
		if ok && (!strings.HasPrefix(claims, "{") || len(claims) > maxDecodedClaims) {
			t.Fatalf("claims %q returned", claims)
		}
	})
}

// BenchmarkBearerTransportCredentialHit is the credential's GetToken alone,
// with the options the transport uses: BenchmarkBearerTransportHit minus
// this is the transport's own overhead.
func BenchmarkBearerTransportCredentialHit(b *testing.B) {
	cred := benchCred(b)
	opts := policy.TokenRequestOptions{Scopes: []string{resourceScope}, EnableCAE: true}
	ctx := context.Background()
	if _, err := cred.GetToken(ctx, opts); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cred.GetToken(ctx, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// passthrough records the requests the bearer transport hands to its base
// and sends them on with http.DefaultTransport.
type passthrough struct {
	mu   sync.Mutex
	seen []*http.Request
}

func (p *passthrough) RoundTrip(r *http.Request) (*http.Response, error) {
	p.mu.Lock()
	p.seen = append(p.seen, r)
	p.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// One request template sent through the transport from 50 goroutines at
// once, while the resource rejects the cached token (so the 401 retry path
// runs too): every request is authorized, the template's headers are as
// the caller left them, and the base transport never gets the caller's
// request. Run under -race, a write to the shared request is a failure.
func TestBearerTransportLeavesRequestUntouched(t *testing.T) {
	srv := newEmulator(t, nil)
	res := newResource(t, srv)
	cred := newSecretCred(t, srv, nil)
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{resourceScope}, EnableCAE: true})
	if err != nil {
		t.Fatal(err)
	}
	res.reject(tok.Token)
	base := &passthrough{}
	tr, err := NewBearerTokenTransport(cred, []string{resourceScope}, base, &BearerTokenTransportOptions{InsecureAllowLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	template, err := http.NewRequestWithContext(ctx, http.MethodGet, res.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	template.Header.Set("X-Caller", "mine")
	template.Header["X-Multi"] = append(make([]string, 0, 4), "a", "b") // room to append into
	want := template.Header.Clone()

	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := tr.RoundTrip(template)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			drain(resp)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("request %d: status %d", i, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if !reflect.DeepEqual(template.Header, want) {
		t.Fatalf("the caller's headers changed:\n%v\nwant\n%v", template.Header, want)
	}
	if got := res.requests.Load(); got <= n {
		t.Fatalf("the resource got %d requests for %d round trips: the 401 retry path did not run", got, n)
	}
	base.mu.Lock()
	defer base.mu.Unlock()
	for _, r := range base.seen {
		if r == template {
			t.Fatal("the base transport got the caller's request itself")
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") || r.Header.Get("X-Caller") != "mine" || len(r.Header["X-Multi"]) != 2 {
			t.Fatalf("a sent request's headers: %v", r.Header)
		}
	}
}

// After a 401 the retry sends the whole body again, from GetBody, and the
// caller's request keeps its headers and its own body.
func TestBearerTransportRetryBodyAndCallerRequest(t *testing.T) {
	srv := newEmulator(t, nil)
	res := newResource(t, srv)
	cred := newSecretCred(t, srv, nil)
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{resourceScope}, EnableCAE: true})
	if err != nil {
		t.Fatal(err)
	}
	res.reject(tok.Token)
	tr := newTestTransport(t, cred, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const body = "the whole body, sent twice"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, res.URL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain")
	callerBody := req.Body
	want := req.Header.Clone()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(got) != body {
		t.Fatalf("status %d, body %q; want the retry to send %q", resp.StatusCode, got, body)
	}
	if res.requests.Load() != 2 {
		t.Fatalf("%d requests, want 2 (the 401 and the retry)", res.requests.Load())
	}
	if !reflect.DeepEqual(req.Header, want) || req.Body != callerBody {
		t.Fatalf("the caller's request changed: headers %v, body replaced %v", req.Header, req.Body != callerBody)
	}
}
