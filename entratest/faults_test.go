package entratest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFaultLatency(t *testing.T) {
	srv := newTestServer(t, nil)
	const latency = 200 * time.Millisecond
	srv.SetFault(EndpointToken, Fault{Latency: latency})
	start := time.Now()
	r := postForm(t, srv, tokenPath(DefaultTenantID), ccForm())
	// A lower bound only: the request cannot have been answered earlier.
	if elapsed := time.Since(start); elapsed < latency {
		t.Errorf("answered after %v, want at least %v", elapsed, latency)
	}
	if r.status != 200 {
		t.Errorf("latency-only fault must still succeed: %d %s", r.status, r.raw)
	}
	// Other endpoints are unaffected.
	if r := get(t, srv, "/common/discovery/keys"); r.status != 200 {
		t.Errorf("keys: %d", r.status)
	}
}

// A client that gives up ends the wait: the handler does not sleep on, and
// no lock is held meanwhile, so other requests and SetFault go through.
func TestFaultLatencyCancellable(t *testing.T) {
	srv := newTestServer(t, nil)
	srv.SetFault(EndpointToken, Fault{Latency: time.Hour})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+tokenPath(DefaultTenantID), strings.NewReader(ccForm().Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	// Wait until the request is sleeping in the fault.
	for srv.Requests(EndpointToken) == 0 {
		time.Sleep(time.Millisecond)
	}
	// Meanwhile the server is fully responsive.
	srv.SetFault(EndpointKeys, Fault{Status: 500, Times: 1})
	if r := get(t, srv, "/common/discovery/keys"); r.status != 500 {
		t.Errorf("keys during a latency fault: %d", r.status)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	// The handler saw the cancellation and logged the client as gone.
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.TokenRequests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if log := srv.TokenRequests(); len(log) != 1 || log[0].Status != statusClientGone {
		t.Errorf("log = %+v, want one entry with status %d", log, statusClientGone)
	}
}

// Close ends requests sleeping in a latency fault.
func TestFaultLatencyEndsOnClose(t *testing.T) {
	srv, err := NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetFault(EndpointKeys, Fault{Latency: time.Hour})
	done := make(chan error, 1)
	go func() {
		resp, err := srv.Client().Get(srv.URL() + "/common/discovery/keys")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for srv.Requests(EndpointKeys) == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Error("request sleeping in a fault succeeded after Close")
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestFaultStatus(t *testing.T) {
	srv := newTestServer(t, nil)
	tests := []struct {
		status     int
		retryAfter time.Duration
		wantRA     string
		oauthErr   string
		code       int
	}{
		{429, 3 * time.Second, "3", "temporarily_unavailable", 90055},
		{503, 1500 * time.Millisecond, "2", "temporarily_unavailable", 90033}, // rounded up
		{504, 0, "", "temporarily_unavailable", 90033},
		{500, 0, "", "server_error", 50000},
		{401, 0, "", "invalid_client", 7000222},
		{400, 0, "", "invalid_request", 90100},
	}
	for _, tt := range tests {
		srv.SetFault(EndpointToken, Fault{Status: tt.status, RetryAfter: tt.retryAfter})
		r := postForm(t, srv, tokenPath(DefaultTenantID), ccForm())
		wantEntraError(t, r, tt.status, tt.oauthErr, tt.code)
		if got := r.header.Get("Retry-After"); got != tt.wantRA {
			t.Errorf("status %d: Retry-After = %q, want %q", tt.status, got, tt.wantRA)
		}
	}
	// Faults apply to discovery endpoints alike.
	srv.SetFault(EndpointOpenIDConfiguration, Fault{Status: 503})
	wantEntraError(t, get(t, srv, "/"+DefaultTenantID+"/v2.0/.well-known/openid-configuration"), 503, "temporarily_unavailable", 90033)
	if n := srv.Requests(EndpointToken); n != len(tests) {
		t.Errorf("faulted requests counted %d, want %d", n, len(tests))
	}
}

func TestFaultDrop(t *testing.T) {
	srv := newTestServer(t, nil)
	srv.SetFault(EndpointToken, Fault{Drop: true, Times: 1})
	req, _ := http.NewRequestWithContext(ctxTimeout(t, 30*time.Second), http.MethodPost, srv.URL()+tokenPath(DefaultTenantID), strings.NewReader(ccForm().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("dropped request got an answer: %d", resp.StatusCode)
	}
	if log := srv.TokenRequests(); len(log) != 1 || log[0].Status != statusDropped || log[0].GrantType != "client_credentials" {
		t.Errorf("log = %+v", log)
	}
	// The connection pool recovers and the next request succeeds.
	if r := postForm(t, srv, tokenPath(DefaultTenantID), ccForm()); r.status != 200 {
		t.Errorf("after drop: %d", r.status)
	}

	// Over HTTP/1.1 too.
	h1 := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()},
		TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{}, // no HTTP/2
	}}
	defer h1.CloseIdleConnections()
	srv.SetFault(EndpointKeys, Fault{Drop: true, Times: 1})
	resp, err = h1.Get(srv.URL() + "/common/discovery/keys")
	if err == nil {
		resp.Body.Close()
		if resp.ProtoMajor != 1 {
			t.Fatalf("client spoke %s", resp.Proto)
		}
		t.Errorf("HTTP/1.1 dropped request got %d", resp.StatusCode)
	}
}

func TestFaultBody(t *testing.T) {
	srv := newTestServer(t, nil)
	html := []byte("<html><body>502 Bad Gateway</body></html>")
	srv.SetFault(EndpointToken, Fault{Body: html, ContentType: "text/html"})
	r := postForm(t, srv, tokenPath(DefaultTenantID), ccForm())
	if r.status != 200 || string(r.raw) != string(html) || r.header.Get("Content-Type") != "text/html" {
		t.Errorf("got %d %q %q", r.status, r.header.Get("Content-Type"), r.raw)
	}

	srv.SetFault(EndpointToken, Fault{Body: []byte(`{"access_token":`), Status: 502, RetryAfter: time.Second})
	r = postForm(t, srv, tokenPath(DefaultTenantID), ccForm())
	if r.status != 502 || string(r.raw) != `{"access_token":` || r.header.Get("Retry-After") != "1" ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("got %d %v %q", r.status, r.header, r.raw)
	}

	// SetFault copies Body: the caller may reuse its buffer.
	buf := []byte("first")
	srv.SetFault(EndpointKeys, Fault{Body: buf})
	copy(buf, "XXXXX")
	if r := get(t, srv, "/common/discovery/keys"); string(r.raw) != "first" {
		t.Errorf("body = %q", r.raw)
	}

	big := make([]byte, 8<<20)
	srv.SetFault(EndpointKeys, Fault{Body: big, ContentType: "application/octet-stream"})
	if r := get(t, srv, "/common/discovery/keys"); len(r.raw) != len(big) {
		t.Errorf("huge body: got %d bytes", len(r.raw))
	}
}

func TestFaultTimes(t *testing.T) {
	srv := newTestServer(t, nil)
	srv.SetFault(EndpointToken, Fault{Status: 503, Times: 2})
	var got []int
	for range 4 {
		got = append(got, postForm(t, srv, tokenPath(DefaultTenantID), ccForm()).status)
	}
	if want := []int{503, 503, 200, 200}; !equalInts(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if n := srv.Requests(EndpointToken); n != 4 {
		t.Errorf("Requests = %d, want 4", n)
	}

	// Concurrent requests consume a counted fault exactly Times times.
	srv.SetFault(EndpointToken, Fault{Status: 429, Times: 25})
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			r := postForm(t, srv, tokenPath(DefaultTenantID), ccForm())
			mu.Lock()
			counts[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[429] != 25 || counts[200] != 75 {
		t.Errorf("statuses = %v, want 25×429 and 75×200", counts)
	}
}

func TestClearFaults(t *testing.T) {
	srv := newTestServer(t, nil)
	srv.SetFault(EndpointToken, Fault{Status: 500})
	srv.SetFault(EndpointKeys, Fault{Status: 500})
	srv.ClearFaults()
	if r := postForm(t, srv, tokenPath(DefaultTenantID), ccForm()); r.status != 200 {
		t.Errorf("token after ClearFaults: %d", r.status)
	}
	srv.SetFault(EndpointKeys, Fault{Status: 500})
	srv.SetFault(EndpointKeys, Fault{}) // the zero Fault clears one endpoint
	if r := get(t, srv, "/common/discovery/keys"); r.status != 200 {
		t.Errorf("keys after clearing: %d", r.status)
	}
}

func TestOutage(t *testing.T) {
	srv := newTestServer(t, nil)
	srv.SetFault(EndpointToken, Fault{Status: 400}) // the outage overrides faults
	srv.SetOutage(true)
	q := url.Values{"api-version": {"1.1"}, "authorization_endpoint": {srv.URL() + "/common/oauth2/v2.0/authorize"}}
	responses := []response{
		postForm(t, srv, tokenPath(DefaultTenantID), ccForm()),
		get(t, srv, "/"+DefaultTenantID+"/v2.0/.well-known/openid-configuration"),
		get(t, srv, "/common/discovery/instance?"+q.Encode()),
		get(t, srv, "/common/discovery/v2.0/keys"),
	}
	for _, r := range responses {
		wantEntraError(t, r, 503, "temporarily_unavailable", 90033)
	}
	// The endpoints requested above; others (user flows, ARM...) have
	// their own outage tests.
	for _, ep := range []Endpoint{EndpointToken, EndpointOpenIDConfiguration, EndpointInstanceDiscovery, EndpointKeys} {
		if n := srv.Requests(ep); n != 1 {
			t.Errorf("Requests(%s) = %d during outage, want 1", ep, n)
		}
	}
	if log := srv.TokenRequests(); len(log) != 1 || log[0].Status != 503 || log[0].ErrorCode != 90033 {
		t.Errorf("log = %+v", log)
	}
	srv.SetOutage(false)
	srv.ClearFaults()
	if r := postForm(t, srv, tokenPath(DefaultTenantID), ccForm()); r.status != 200 {
		t.Errorf("after outage: %d %s", r.status, r.raw)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A hang holds a request until its client gives up; clearing the fault
// heals the endpoint for new requests while the held one stays held.
func TestFaultHang(t *testing.T) {
	srv := newTestServer(t, nil)
	// Times 2, so the test can see when the held request has taken the
	// fault: it is counted before it takes one, and clearing the fault
	// between the two would let it through.
	srv.SetFault(EndpointToken, Fault{Hang: true, Times: 2})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+tokenPath(DefaultTenantID), strings.NewReader(ccForm().Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for faultUsesLeft(srv, EndpointToken) != 1 {
		time.Sleep(time.Millisecond)
	}
	srv.SetFault(EndpointToken, Fault{})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+tokenPath(DefaultTenantID), strings.NewReader(ccForm().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the hang was cleared: status %d, want 200", resp.StatusCode)
	}
	select {
	case err := <-done:
		t.Fatalf("the held request ended (%v) before its client gave up", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("held request: err = %v, want context.Canceled", err)
	}
}

// An Echo fault quotes the request back, form and headers, in an Entra
// error, and counts as the endpoint's fault like any other.
func TestFaultEcho(t *testing.T) {
	srv := newTestServer(t, nil)
	srv.SetFault(EndpointToken, Fault{Echo: true, Times: 1})
	form := ccForm()
	r := postForm(t, srv, tokenPath(DefaultTenantID)+"?x=1", form)
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", r.status, r.raw)
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Codes       []int  `json:"error_codes"`
	}
	if err := json.Unmarshal(r.raw, &body); err != nil {
		t.Fatalf("%v: %s", err, r.raw)
	}
	for _, want := range []string{"POST /" + DefaultTenantID + "/oauth2/v2.0/token?x=1", "Content-Type: application/x-www-form-urlencoded", form.Encode()} {
		if !strings.Contains(body.Description, want) {
			t.Errorf("the echo lacks %q:\n%s", want, body.Description)
		}
	}
	if body.Error != "invalid_request" || len(body.Codes) != 1 || body.Codes[0] != 900144 {
		t.Errorf("error %q codes %v", body.Error, body.Codes)
	}
	// Times 1: the endpoint healed.
	if r := postForm(t, srv, tokenPath(DefaultTenantID), form); r.status != http.StatusOK {
		t.Fatalf("after the echo: %d %s", r.status, r.raw)
	}

	// On another endpoint the body is read as it came, headers included.
	srv.SetFault(EndpointKeys, Fault{Echo: true, Status: http.StatusUnauthorized})
	req, err := http.NewRequest(http.MethodGet, srv.URL()+"/common/discovery/keys", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Identity-Header", "identity-secret-value")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "X-Identity-Header: identity-secret-value") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

// faultUsesLeft reports how many more requests of ep a counted fault will
// apply to, 0 when none is set.
func faultUsesLeft(s *Server, ep Endpoint) int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if af, ok := s.faults.faults[ep]; ok {
		return af.remaining
	}
	return 0
}
