package entratest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// newTestServer starts a server closed at the end of the test, refusing
// replayed client assertions (Options.OneTimeClientAssertions) so every
// test is held to the stricter rule.
func newTestServer(t testing.TB, opts *Options) *Server {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	o.OneTimeClientAssertions = true
	srv, err := NewServer(&o)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
}

func (r response) str(key string) string {
	s, _ := r.json[key].(string)
	return s
}

// do sends req with the server's client and decodes a JSON answer.
func do(t testing.TB, srv *Server, req *http.Request) response {
	t.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(raw, &r.json) // raw-body faults may not be JSON
	}
	return r
}

func get(t testing.TB, srv *Server, path string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, srv, req)
}

// postForm posts a form to path with optional extra headers (name, value
// pairs).
func postForm(t testing.TB, srv *Server, path string, form url.Values, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL()+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, srv, req)
}

// tokenPath is the v2.0 token endpoint of a tenant.
func tokenPath(tenant string) string { return "/" + tenant + "/oauth2/v2.0/token" }

// ccForm is a valid client credentials request for the default app, as
// MSAL sends it (with the OIDC scopes it appends).
func ccForm() url.Values {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {DefaultClientID},
		"client_secret": {DefaultClientSecret},
		"scope":         {"api://demo/.default openid offline_access profile"},
	}
}

// with returns a copy of v with key set (or deleted when value is "").
func with(v url.Values, key, value string) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	if value == "" {
		c.Del(key)
	} else {
		c.Set(key, value)
	}
	return c
}

var descriptionRE = regexp.MustCompile(`^AADSTS(\d+): .+\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`)

// wantEntraError checks that r is an Entra error with the given status,
// OAuth error and AADSTS code, with every field Entra sends well-formed.
func wantEntraError(t testing.TB, r response, status int, oauthErr string, code int) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d; body %s", r.status, status, r.raw)
	}
	if got := r.str("error"); got != oauthErr {
		t.Errorf("error = %q, want %q", got, oauthErr)
	}
	codes, _ := r.json["error_codes"].([]any)
	if len(codes) != 1 || codes[0] != float64(code) {
		t.Errorf("error_codes = %v, want [%d]", r.json["error_codes"], code)
	}
	desc := r.str("error_description")
	m := descriptionRE.FindStringSubmatch(desc)
	if m == nil || m[1] != itoa(code) {
		t.Errorf("error_description = %q, want Entra's AADSTS%d format", desc, code)
	}
	if _, err := time.Parse(entraTimestamp, r.str("timestamp")); err != nil {
		t.Errorf("timestamp %q: %v", r.str("timestamp"), err)
	}
	if !isGUID(r.str("trace_id")) || !isGUID(r.str("correlation_id")) {
		t.Errorf("trace_id %q / correlation_id %q are not GUIDs", r.str("trace_id"), r.str("correlation_id"))
	}
	if r.str("trace_id") != r.header.Get("x-ms-request-id") {
		t.Errorf("trace_id %q != x-ms-request-id %q", r.str("trace_id"), r.header.Get("x-ms-request-id"))
	}
	if want := "https://login.microsoftonline.com/error?code=" + itoa(code); r.str("error_uri") != want {
		t.Errorf("error_uri = %q, want %q", r.str("error_uri"), want)
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("Content-Type = %q", r.header.Get("Content-Type"))
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// getToken gets a token for the default app and fails the test otherwise.
func getToken(t testing.TB, srv *Server, form url.Values) string {
	t.Helper()
	r := postForm(t, srv, tokenPath(DefaultTenantID), form)
	if r.status != http.StatusOK {
		t.Fatalf("token request: %d %s", r.status, r.raw)
	}
	return r.str("access_token")
}

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock(t time.Time) *testClock { return &testClock{now: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// ctxTimeout is a context for requests that must not hang a broken test.
func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
