package authority

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// discoveryServer is a fake Entra instance discovery endpoint that records what
// it is asked and answers with handle.
type discoveryServer struct {
	*httptest.Server
	calls  atomic.Int32
	mu     sync.Mutex
	last   url.Values
	handle func(w http.ResponseWriter, r *http.Request)
}

func newDiscoveryServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *discoveryServer {
	s := &discoveryServer{handle: handle}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		if r.Method != http.MethodGet || r.URL.Path != "/common/discovery/instance" {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		}
		s.mu.Lock()
		s.last = r.URL.Query()
		s.mu.Unlock()
		s.handle(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func validAnswer(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"tenant_discovery_endpoint":"https://login.contoso.com/t/v2.0/.well-known/openid-configuration","api-version":"1.1","metadata":[]}`)
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestDiscoveryTrustedHostsNeedNoRequest(t *testing.T) {
	srv := newDiscoveryServer(t, validAnswer)
	d := NewDiscovery(srv.Client().Do, srv.URL)
	for _, h := range []string{"https://login.microsoftonline.com/", "https://LOGIN.chinacloudapi.cn/", "https://login.microsoftonline.us:443/"} {
		if err := d.Validate(context.Background(), mustURL(t, h), "tenant"); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	if err := d.Validate(context.Background(), mustURL(t, "https://adfs.contoso.com/"), "adfs"); err != nil {
		t.Errorf("adfs: %v", err)
	}
	if n := srv.calls.Load(); n != 0 {
		t.Fatalf("%d requests, want 0", n)
	}
}

func TestDiscoveryValidHostSingleFlightAndCached(t *testing.T) {
	release := make(chan struct{})
	srv := newDiscoveryServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		validAnswer(w, r)
	})
	d := NewDiscovery(srv.Client().Do, srv.URL+"/") // trailing slash or not, same endpoint
	host := mustURL(t, "https://login.contoso.com/")

	const n = 50
	var started, done sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			errs <- d.Validate(context.Background(), host, "contoso.onmicrosoft.com")
		}()
	}
	started.Wait()
	time.Sleep(50 * time.Millisecond) // let the callers reach the shared request
	close(release)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.calls.Load(); got != 1 {
		t.Fatalf("%d discovery requests for 50 concurrent validators, want 1", got)
	}
	q := srv.last
	if q.Get("api-version") != "1.1" || q.Get("authorization_endpoint") != "https://login.contoso.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize" {
		t.Fatalf("query %v", q)
	}
	// Cached: same host in other spellings and tenants costs nothing more.
	for _, h := range []string{"https://login.contoso.com/", "https://LOGIN.contoso.com/"} {
		if err := d.Validate(context.Background(), mustURL(t, h), "other"); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.calls.Load(); got != 1 {
		t.Fatalf("%d requests after caching, want 1", got)
	}
}

func TestDiscoveryMissDoesNotBlockOtherHosts(t *testing.T) {
	release := make(chan struct{})
	srv := newDiscoveryServer(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Query().Get("authorization_endpoint"), "slow.contoso.com") {
			<-release
		}
		validAnswer(w, r)
	})
	defer close(release)
	d := NewDiscovery(srv.Client().Do, srv.URL)
	go d.Validate(context.Background(), mustURL(t, "https://slow.contoso.com/"), "t")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Validate(ctx, mustURL(t, "https://fast.contoso.com/"), "t"); err != nil {
		t.Fatalf("fast host waited on the slow one: %v", err)
	}
}

func TestDiscoveryWaiterGivesUpAlone(t *testing.T) {
	release := make(chan struct{})
	srv := newDiscoveryServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		validAnswer(w, r)
	})
	d := NewDiscovery(srv.Client().Do, srv.URL)
	host := mustURL(t, "https://login.contoso.com/")

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- d.Validate(ctx, host, "t") }()
	for srv.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan error, 1)
	go func() { second <- d.Validate(context.Background(), host, "t") }()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v", err)
	}
	close(release)
	if err := <-second; err != nil {
		t.Fatalf("the other caller failed with the first one's cancellation: %v", err)
	}
	if srv.calls.Load() != 1 {
		t.Fatalf("%d requests, want 1", srv.calls.Load())
	}
}

func TestDiscoveryInvalidInstance(t *testing.T) {
	srv := newDiscoveryServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_instance","error_description":"AADSTS50049: Unknown or invalid instance.\r\nTrace ID: x\r\nCorrelation ID: y","error_codes":[50049]}`)
	})
	d := NewDiscovery(srv.Client().Do, srv.URL)
	host := mustURL(t, "https://login.evil.example/")
	for range 2 {
		err := d.Validate(context.Background(), host, "t")
		var ua *UnknownAuthorityError
		if !errors.As(err, &ua) {
			t.Fatalf("got %T %v, want *UnknownAuthorityError", err, err)
		}
		if ua.Host != "https://login.evil.example/" || ua.Description != "AADSTS50049: Unknown or invalid instance." {
			t.Fatalf("got %+v", ua)
		}
		for _, s := range []string{"login.evil.example", "not a known Microsoft Entra authority", "DisableInstanceDiscovery", "Azure Stack"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error lacks %q: %v", s, err)
			}
		}
	}
	if srv.calls.Load() != 2 {
		t.Fatalf("%d requests; a negative answer must not be cached", srv.calls.Load())
	}
}

func TestDiscoveryTransportErrorNotCached(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	srv := newDiscoveryServer(t, validAnswer)
	errBoom := errors.New("boom")
	do := func(r *http.Request) (*http.Response, error) {
		if fail.Load() {
			return nil, errBoom
		}
		return srv.Client().Do(r)
	}
	d := NewDiscovery(do, srv.URL)
	host := mustURL(t, "https://login.contoso.com/")
	err := d.Validate(context.Background(), host, "t")
	if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "login.contoso.com") {
		t.Fatalf("got %v", err)
	}
	fail.Store(false)
	if err := d.Validate(context.Background(), host, "t"); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if srv.calls.Load() != 1 {
		t.Fatalf("%d requests", srv.calls.Load())
	}
}

func TestDiscoveryOtherAnswers(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"200 without endpoint", 200, `{"metadata":[]}`, "without a tenant_discovery_endpoint"},
		{"200 not JSON", 200, `<html>`, "without a tenant_discovery_endpoint"},
		{"other Entra error", 400, `{"error":"invalid_request","error_description":"bad\nmore"}`, "answered 400 Bad Request: invalid_request: bad"},
		{"HTML 502", 502, `<html><title>Bad Gateway</title></html>`, "a proxy or gateway may be in the way"},
		{"too large", 200, `{"tenant_discovery_endpoint":"` + strings.Repeat("x", maxDiscoveryBytes) + `"}`, "exceeds 1 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newDiscoveryServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			err := NewDiscovery(srv.Client().Do, srv.URL).Validate(context.Background(), mustURL(t, "https://login.contoso.com/"), "t")
			var ua *UnknownAuthorityError
			if err == nil || errors.As(err, &ua) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestDiscoveryContextAlreadyDone(t *testing.T) {
	srv := newDiscoveryServer(t, validAnswer)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := NewDiscovery(srv.Client().Do, srv.URL).Validate(ctx, mustURL(t, "https://login.contoso.com/"), "t")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if srv.calls.Load() != 0 {
		t.Fatal("a request was sent for a cancelled caller")
	}
	if err := NewDiscovery(nil, "").Validate(context.Background(), nil, "t"); err == nil {
		t.Fatal("nil host must be an error")
	}
}

// Whatever the discovery endpoint answers, the verdict is an error or a
// confirmation (never a panic), a confirmation only for a 200 naming a tenant
// discovery endpoint, and error text stays on one line.
func FuzzDiscoveryAnswer(f *testing.F) {
	f.Add(200, []byte(`{"tenant_discovery_endpoint":"https://x/t/v2.0/.well-known/openid-configuration","api-version":"1.1","metadata":[]}`))
	f.Add(400, []byte(`{"error":"invalid_instance","error_description":"AADSTS50049: Unknown or invalid instance.\r\nTrace ID: x"}`))
	f.Add(200, []byte(`{"tenant_discovery_endpoint":""}`))
	f.Add(502, []byte(`<html>bad gateway</html>`))
	f.Add(200, []byte(`{"error":"\u0000\n\r"}`))
	host, _ := url.Parse("https://authority.example/")
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		err := discoveryVerdict(host, status, body)
		var ok struct {
			TenantDiscoveryEndpoint string `json:"tenant_discovery_endpoint"`
		}
		valid := status == 200 && json.Unmarshal(body, &ok) == nil && ok.TenantDiscoveryEndpoint != ""
		if (err == nil) != valid {
			t.Fatalf("status %d body %q: err = %v, want valid=%v", status, body, err, valid)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\r\n\x00") {
			t.Fatalf("the error carries control characters: %q", err)
		}
	})
}
