package serve

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

const armResource = "https://management.azure.com/"

// fixture is a handler backed by a real azid credential talking to the
// emulator, served over loopback HTTP.
type fixture struct {
	t      testing.TB
	emu    *entratest.Server
	cred   *azid.ClientSecretCredential
	secret string
	srv    *httptest.Server
	client *http.Client

	mu     sync.Mutex
	events []Event
}

func newFixture(t testing.TB, edit func(*Options)) *fixture {
	t.Helper()
	emu, err := entratest.NewServer(nil)
	if err != nil {
		t.Fatalf("starting the emulator: %v", err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	cred, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&azid.ClientSecretCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: emu.AuthorityHost()}, Transport: emu.Client()},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, emu: emu, cred: cred, secret: secret}
	o := Options{Credential: cred, Secret: secret, ClientID: entratest.DefaultClientID, Log: func(e Event) {
		f.mu.Lock()
		f.events = append(f.events, e)
		f.mu.Unlock()
	}}
	if edit != nil {
		edit(&o)
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	f.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2000}}
	return f
}

func (f *fixture) url(query string) string { return f.srv.URL + Path + "?" + query }

func q2019(resource string) string {
	return url.Values{"api-version": {APIVersion2019}, "resource": {resource}}.Encode()
}

// get sends a request with the 2019 header (unless hdr says otherwise)
// and returns the status and decoded body.
func (f *fixture) get(rawURL string, hdr map[string]string) (int, http.Header, map[string]any) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if hdr == nil {
		hdr = map[string]string{"X-IDENTITY-HEADER": f.secret}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		f.t.Fatalf("status %d, body not JSON: %q", resp.StatusCode, b)
	}
	return resp.StatusCode, resp.Header, m
}

func (f *fixture) lastEvent() Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.events) == 0 {
		f.t.Fatal("no event logged")
	}
	return f.events[len(f.events)-1]
}

func TestAppService2019Answer(t *testing.T) {
	f := newFixture(t, nil)
	status, hdr, body := f.get(f.url(q2019(armResource)), nil)
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, body)
	}
	if len(body) != 5 {
		t.Errorf("fields: %v, want access_token, expires_on, resource, token_type, client_id", keys(body))
	}
	exp, ok := body["expires_on"].(string)
	if !ok {
		t.Fatalf("expires_on is %T, want a string of Unix seconds", body["expires_on"])
	}
	sec, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || time.Until(time.Unix(sec, 0)) < 50*time.Minute {
		t.Errorf("expires_on = %q", exp)
	}
	if body["resource"] != armResource || body["token_type"] != "Bearer" || body["client_id"] != entratest.DefaultClientID {
		t.Errorf("answer: resource %v, token_type %v, client_id %v", body["resource"], body["token_type"], body["client_id"])
	}
	claims, err := f.emu.VerifyToken(body["access_token"].(string))
	if err != nil {
		t.Fatalf("the served token does not verify: %v", err)
	}
	// The trailing slash is kept: scope https://management.azure.com//.default.
	if claims["aud"] != armResource {
		t.Errorf("aud = %v, want %q", claims["aud"], armResource)
	}
	if hdr.Get("Access-Control-Allow-Origin") != "" || hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: %v", hdr)
	}
	if e := f.lastEvent(); e.Status != 200 || e.Resource != armResource || e.Source != "upstream" {
		t.Errorf("event %+v", e)
	}
	f.get(f.url(q2019(armResource)), nil)
	if e := f.lastEvent(); e.Source != "cache" {
		t.Errorf("second request's event %+v, want from cache", e)
	}
	if n := f.emu.Requests(entratest.EndpointToken); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

func TestAppService2017Answer(t *testing.T) {
	f := newFixture(t, nil)
	q := url.Values{"api-version": {APIVersion2017}, "resource": {"https://vault.azure.net"}}.Encode()
	// The 2017 API takes its secret in "secret"; X-IDENTITY-HEADER is not it.
	if status, _, _ := f.get(f.url(q), map[string]string{"X-IDENTITY-HEADER": f.secret}); status != http.StatusUnauthorized {
		t.Errorf("2017 with X-IDENTITY-HEADER: status %d, want 401", status)
	}
	status, _, body := f.get(f.url(q), map[string]string{"secret": f.secret})
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, body)
	}
	// Unix seconds in a string, as the 2019 answer: what every client of
	// this version parses (azidentity rejects App Service's own date form).
	exp, ok := body["expires_on"].(string)
	if !ok {
		t.Fatalf("expires_on is %T, want a string of Unix seconds", body["expires_on"])
	}
	sec, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || time.Until(time.Unix(sec, 0)) < 50*time.Minute || time.Until(time.Unix(sec, 0)) > 3*time.Hour {
		t.Errorf("expires_on = %q (%v), want Unix seconds about an hour ahead", exp, err)
	}
	if _, ok := body["client_id"]; ok || body["resource"] != "https://vault.azure.net" || body["token_type"] != "Bearer" {
		t.Errorf("answer fields %v", body)
	}
}

// Every refusal is in App Service's error shape, says what to do, and is
// logged without the secret.
func TestRefusals(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.AllowResources = []string{"https://management.azure.com", "api://demo"} })
	good := q2019(armResource)
	cases := []struct {
		name   string
		method string
		query  string
		hdr    map[string]string
		status int
		want   string
	}{
		{"missing secret", "GET", good, map[string]string{}, 401, "X-IDENTITY-HEADER"},
		{"wrong secret", "GET", good, map[string]string{"X-IDENTITY-HEADER": strings.Repeat("0", 64)}, 401, "X-IDENTITY-HEADER"},
		{"secret prefix", "GET", good, map[string]string{"X-IDENTITY-HEADER": f.secret[:63]}, 401, "X-IDENTITY-HEADER"},
		{"bad query without secret", "GET", "resource=x", map[string]string{}, 401, "X-IDENTITY-HEADER"},
		{"no api-version", "GET", "resource=x", nil, 400, "api-version"},
		{"old api-version", "GET", "api-version=2018-02-01&resource=x", nil, 400, "api-version"},
		{"no resource", "GET", "api-version=2019-08-01", nil, 400, "resource"},
		{"two resources", "GET", good + "&resource=api://demo", nil, 400, "more than once"},
		{"user-assigned client_id", "GET", good + "&client_id=11111111-1111-1111-1111-111111111111", nil, 400, "Unable to load the proper Managed Identity"},
		{"user-assigned mi_res_id", "GET", good + "&mi_res_id=/subscriptions/x", nil, 400, "Unable to load the proper Managed Identity"},
		{"object_id", "GET", good + "&object_id=22222222-2222-2222-2222-222222222222", nil, 400, "Unable to load the proper Managed Identity"},
		{"principal_id", "GET", good + "&principal_id=22222222-2222-2222-2222-222222222222", nil, 400, "Unable to load the proper Managed Identity"},
		{"two selectors", "GET", good + "&client_id=a&object_id=b", nil, 400, "more than one identity"},
		{"refused resource", "GET", q2019("https://vault.azure.net"), nil, 403, "--allow-resource"},
		{"POST", "POST", good, nil, 405, "GET"},
		{"preflight", "OPTIONS", good, map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}, 403, "Browsers"},
		{"Origin", "GET", good, map[string]string{"X-IDENTITY-HEADER": f.secret, "Origin": "https://evil.example"}, 403, "Browsers"},
		{"Sec-Fetch", "GET", good, map[string]string{"X-IDENTITY-HEADER": f.secret, "Sec-Fetch-Mode": "cors"}, 403, "Browsers"},
		{"DNS rebinding", "GET", good, map[string]string{"X-IDENTITY-HEADER": f.secret, "Host": "evil.example:80"}, 403, "Host"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, f.url(c.query), nil)
			if err != nil {
				t.Fatal(err)
			}
			hdr := c.hdr
			if hdr == nil {
				hdr = map[string]string{"X-IDENTITY-HEADER": f.secret}
			}
			for k, v := range hdr {
				if k == "Host" {
					req.Host = v
					continue
				}
				req.Header.Set(k, v)
			}
			resp, err := f.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var body struct {
				StatusCode    int    `json:"statusCode"`
				Message       string `json:"message"`
				CorrelationID string `json:"correlationId"`
			}
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatalf("body %q", b)
			}
			if resp.StatusCode != c.status || body.StatusCode != c.status || !strings.Contains(body.Message, c.want) || len(body.CorrelationID) != 36 {
				t.Errorf("status %d, body %+v; want %d mentioning %q", resp.StatusCode, body, c.status, c.want)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Error("a CORS header was sent")
			}
			e := f.lastEvent()
			if e.Status != c.status || e.Reason == "" || strings.Contains(e.Reason, f.secret[:16]) {
				t.Errorf("event %+v", e)
			}
		})
	}
	if n := f.emu.Requests(entratest.EndpointToken); n != 0 {
		t.Errorf("refused requests caused %d token requests", n)
	}
	// The allowed resource is served, the list compared without the
	// trailing slash.
	if status, _, body := f.get(f.url(q2019(armResource)), nil); status != 200 {
		t.Errorf("allowed resource: %d %v", status, body)
	}
	// The served identity's own client ID may be named.
	if status, _, body := f.get(f.url(good+"&client_id="+strings.ToUpper(entratest.DefaultClientID)), nil); status != 200 {
		t.Errorf("own client_id: %d %v", status, body)
	}
}

// Host names given by a flag are accepted, with any port.
func TestAllowedHosts(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Hosts = []string{"host.docker.internal"} })
	for host, want := range map[string]int{"host.docker.internal:1234": 200, "HOST.docker.internal": 200, "localhost:9": 200, "[::1]:9": 200, "other.internal:1": 403, "127.0.0.1.evil.example": 403} {
		req, _ := http.NewRequest(http.MethodGet, f.url(q2019("api://demo")), nil)
		req.Host = host
		req.Header.Set("X-IDENTITY-HEADER", f.secret)
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %q: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// The 1,000-client cold herd: one upstream token request.
func TestColdHerdOneTokenRequest(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Rate = -1 })
	// A slow token endpoint, so every request arrives while the first
	// acquisition is in flight.
	f.emu.SetFault(entratest.EndpointToken, entratest.Fault{Latency: 200 * time.Millisecond})
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan string, n)
	tokens := make(chan string, n)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest(http.MethodGet, f.url(q2019("api://demo")), nil)
			req.Header.Set("X-IDENTITY-HEADER", f.secret)
			resp, err := f.client.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			var body struct {
				AccessToken string `json:"access_token"`
			}
			if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&body) != nil {
				errs <- "status " + resp.Status
				return
			}
			tokens <- body.AccessToken
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	close(tokens)
	for e := range errs {
		t.Fatalf("a client failed: %s", e)
	}
	distinct := map[string]bool{}
	for tok := range tokens {
		distinct[tok] = true
	}
	if got := f.emu.Requests(entratest.EndpointToken); got != 1 || len(distinct) != 1 {
		t.Fatalf("%d clients caused %d token requests and got %d distinct tokens, want 1 and 1", n, got, len(distinct))
	}
}

func TestRateLimitPerClient(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Rate, o.Burst = 0.001, 3 })
	for i := range 3 {
		if status, _, body := f.get(f.url(q2019("api://demo")), nil); status != 200 {
			t.Fatalf("request %d: %d %v", i, status, body)
		}
	}
	status, hdr, _ := f.get(f.url(q2019("api://demo")), nil)
	if status != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Fatalf("4th request: %d, Retry-After %q; want 429 with Retry-After", status, hdr.Get("Retry-After"))
	}
	if e := f.lastEvent(); e.Reason != "rate limited" {
		t.Errorf("event %+v", e)
	}
}

func TestLimiterBuckets(t *testing.T) {
	l := newLimiter(2, 2)
	t0 := time.Unix(1000, 0)
	for i := range 2 {
		if _, ok := l.allow("a", t0); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	if wait, ok := l.allow("a", t0); ok || wait != 1 {
		t.Fatalf("third: ok %v wait %d", ok, wait)
	}
	if _, ok := l.allow("b", t0); !ok {
		t.Fatal("another client was limited by the first one's bucket")
	}
	if _, ok := l.allow("a", t0.Add(500*time.Millisecond)); !ok {
		t.Fatal("the bucket did not refill")
	}
	for i := range maxBuckets + 10 {
		l.allow(strconv.Itoa(i), t0)
	}
	if len(l.buckets) > maxBuckets {
		t.Fatalf("%d buckets, bound %d", len(l.buckets), maxBuckets)
	}
}

// A sign-in that needs the user again: the error names azid login, and
// the server keeps serving.
func TestSignInNeededNamesAzidLogin(t *testing.T) {
	emu, err := entratest.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	cred, err := azid.NewDeviceCodeCredential(&azid.DeviceCodeCredentialOptions{
		ClientOptions:                  azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: emu.AuthorityHost()}, Transport: emu.Client()},
		DisableInstanceDiscovery:       true,
		DisableAutomaticAuthentication: true,
		TenantID:                       entratest.DefaultTenantID,
	})
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := NewSecret()
	h, err := New(Options{Credential: cred, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for range 2 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+Path+"?"+q2019(armResource), nil)
		req.Header.Set("X-IDENTITY-HEADER", secret)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `run \"azid login\"`) {
			t.Fatalf("status %d body %s", resp.StatusCode, b)
		}
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Options{Secret: strings.Repeat("x", 64)}); err == nil {
		t.Error("no credential accepted")
	}
	f := newFixture(t, nil)
	if _, err := New(Options{Credential: f.cred, Secret: "short"}); err == nil {
		t.Error("a short secret accepted")
	}
	s, err := NewSecret()
	if err != nil || len(s) != 64 {
		t.Errorf("NewSecret = %d chars, %v", len(s), err)
	}
}

func TestScope(t *testing.T) {
	for in, want := range map[string]string{
		"https://management.azure.com":         "https://management.azure.com/.default",
		"https://management.core.windows.net/": "https://management.core.windows.net//.default",
		"api://demo/.default":                  "api://demo/.default",
	} {
		if got := Scope(in); got != want {
			t.Errorf("Scope(%q) = %q, want %q", in, got, want)
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// changingCredential returns a new token on every call.
type changingCredential struct{ n atomic.Int64 }

func (c *changingCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "t" + strconv.FormatInt(c.n.Add(1), 10), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// The encoded answers kept for hits follow the credential's token.
func TestAnswerFollowsToken(t *testing.T) {
	secret, _ := NewSecret()
	h, err := New(Options{Credential: &changingCredential{}, Secret: secret, Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		for _, v := range []string{APIVersion2019, APIVersion2017} {
			r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1"+Path+"?api-version="+v+"&resource=api://x", nil)
			r.Header.Set("X-IDENTITY-HEADER", secret)
			r.Header.Set("Secret", secret)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			var body struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Header().Get("Content-Length") != strconv.Itoa(w.Body.Len()) {
				t.Fatalf("answer %q, headers %v", w.Body.String(), w.Header())
			}
			if want := 2*(i-1) + map[string]int{APIVersion2019: 1, APIVersion2017: 2}[v]; body.AccessToken != "t"+strconv.Itoa(want) {
				t.Errorf("call %d (%s): token %q, want t%d", i, v, body.AccessToken, want)
			}
		}
	}
}

// recordingCredential remembers the options of its last call.
type recordingCredential struct {
	mu   sync.Mutex
	last policy.TokenRequestOptions
}

func (c *recordingCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	c.last = o
	c.mu.Unlock()
	return azcore.AccessToken{Token: "a.b.c", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// The request the credential sees: the resource's scope, with its
// trailing slash, and the configured tenant.
func TestCredentialRequest(t *testing.T) {
	secret, _ := NewSecret()
	cred := &recordingCredential{}
	h, err := New(Options{Credential: cred, Secret: secret, TenantID: "contoso.onmicrosoft.com"})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "http://localhost"+Path+"/?"+q2019("https://management.core.windows.net/"), nil)
	r.Header.Set("X-IDENTITY-HEADER", secret)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if got := cred.last; len(got.Scopes) != 1 || got.Scopes[0] != "https://management.core.windows.net//.default" || got.TenantID != "contoso.onmicrosoft.com" {
		t.Errorf("credential asked with %+v", got)
	}
}
