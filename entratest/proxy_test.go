package entratest

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func newProxyServer(t testing.TB, opts *Options) *Server {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	o.ProxyAddr = "127.0.0.1:0"
	srv := newTestServer(t, &o)
	if srv.ProxyURL() == "" || srv.ProxyClient() == nil {
		t.Fatal("no proxy with ProxyAddr set")
	}
	return srv
}

// proxyDo sends req through the proxy and decodes the answer.
func proxyDo(t testing.TB, srv *Server, req *http.Request) response {
	t.Helper()
	resp, err := srv.ProxyClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s through the proxy: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.json)
	return r
}

func TestProxyOff(t *testing.T) {
	srv := newTestServer(t, nil)
	if srv.ProxyURL() != "" || srv.ProxyClient() != nil || srv.ProxyConnects() != nil {
		t.Error("a server without ProxyAddr has a proxy")
	}
}

func TestProxyBadAddr(t *testing.T) {
	if _, err := NewServer(&Options{ProxyAddr: "256.0.0.1:x"}); err == nil {
		t.Error("NewServer accepted a bad proxy address")
	}
}

// Through the proxy, Entra's public host names land in the emulator: a
// client that insists on login.microsoftonline.com gets tokens from it.
func TestProxyAnswersForEntra(t *testing.T) {
	srv := newProxyServer(t, nil)
	form := ccForm()
	req, _ := http.NewRequest(http.MethodPost, "https://login.microsoftonline.com/"+DefaultTenantID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r := proxyDo(t, srv, req)
	if r.status != http.StatusOK {
		t.Fatalf("token through the proxy: %d %s", r.status, r.raw)
	}
	if _, err := srv.VerifyToken(r.str("access_token")); err != nil {
		t.Errorf("VerifyToken: %v", err)
	}
	if n := srv.ProxyConnects()["login.microsoftonline.com:443"]; n != 1 {
		t.Errorf("ProxyConnects = %v, want one tunnel to login.microsoftonline.com:443", srv.ProxyConnects())
	}
	log := srv.RequestLog()
	if len(log) != 1 || !log[0].Proxied || log[0].Host != "login.microsoftonline.com" || log[0].Endpoint != EndpointToken || log[0].Status != 200 {
		t.Errorf("RequestLog = %+v", log)
	}

	// Discovery names the host the client used.
	req, _ = http.NewRequest(http.MethodGet, "https://login.microsoftonline.com/"+DefaultTenantID+"/v2.0/.well-known/openid-configuration", nil)
	r = proxyDo(t, srv, req)
	if want := "https://login.microsoftonline.com/" + DefaultTenantID + "/oauth2/v2.0/token"; r.str("token_endpoint") != want {
		t.Errorf("token_endpoint = %q, want %q", r.str("token_endpoint"), want)
	}
}

// Instance discovery through the proxy: Entra's answer for its public
// cloud, and for the emulator's own address (the Azure CLI with a cloud
// registered at the emulator asks login.microsoftonline.com about it).
func TestProxyInstanceDiscovery(t *testing.T) {
	srv := newProxyServer(t, nil)
	ask := func(ae string) response {
		q := url.Values{"api-version": {"1.1"}, "authorization_endpoint": {ae}}
		req, _ := http.NewRequest(http.MethodGet, "https://login.microsoftonline.com/common/discovery/instance?"+q.Encode(), nil)
		return proxyDo(t, srv, req)
	}
	type metadata struct {
		TenantDiscoveryEndpoint string `json:"tenant_discovery_endpoint"`
		Metadata                []struct {
			PreferredNetwork string   `json:"preferred_network"`
			Aliases          []string `json:"aliases"`
		} `json:"metadata"`
	}
	decode := func(r response) metadata {
		t.Helper()
		var m metadata
		if r.status != 200 {
			t.Fatalf("instance discovery: %d %s", r.status, r.raw)
		}
		if err := json.Unmarshal(r.raw, &m); err != nil || len(m.Metadata) != 1 {
			t.Fatalf("instance discovery body %s: %v", r.raw, err)
		}
		return m
	}

	m := decode(ask("https://login.microsoftonline.com/" + DefaultTenantID + "/oauth2/v2.0/authorize"))
	if m.Metadata[0].PreferredNetwork != "login.microsoftonline.com" || len(m.Metadata[0].Aliases) != 4 ||
		m.TenantDiscoveryEndpoint != "https://login.microsoftonline.com/"+DefaultTenantID+"/v2.0/.well-known/openid-configuration" {
		t.Errorf("public cloud metadata = %+v", m)
	}

	host := strings.TrimPrefix(srv.URL(), "https://")
	m = decode(ask(srv.URL() + "/" + DefaultTenantID + "/oauth2/v2.0/authorize"))
	if m.Metadata[0].PreferredNetwork != host || len(m.Metadata[0].Aliases) != 1 || m.Metadata[0].Aliases[0] != host ||
		m.TenantDiscoveryEndpoint != srv.URL()+"/"+DefaultTenantID+"/v2.0/.well-known/openid-configuration" {
		t.Errorf("emulator metadata = %+v", m)
	}

	// MSAL Python asks without the port: the answer names the emulator.
	m = decode(ask("https://127.0.0.1/" + DefaultTenantID + "/oauth2/v2.0/authorize"))
	if m.Metadata[0].PreferredNetwork != host || m.TenantDiscoveryEndpoint != srv.URL()+"/"+DefaultTenantID+"/v2.0/.well-known/openid-configuration" {
		t.Errorf("portless loopback metadata = %+v", m)
	}

	wantEntraError(t, ask("http://login.microsoftonline.com/common/oauth2/v2.0/authorize"), 400, "invalid_instance", 50049)
}

// IP targets get a certificate with the IP, since clients send no SNI for
// them.
func TestProxyIPTarget(t *testing.T) {
	srv := newProxyServer(t, nil)
	req, _ := http.NewRequest(http.MethodGet, "https://127.0.0.9/common/discovery/keys", nil)
	if r := proxyDo(t, srv, req); r.status != 200 {
		t.Errorf("keys at an IP through the proxy: %d %s", r.status, r.raw)
	}
	if srv.ProxyConnects()["127.0.0.9:443"] != 1 {
		t.Errorf("ProxyConnects = %v", srv.ProxyConnects())
	}
}

// A client that does not trust the emulator's CA cannot be fooled by the
// proxy: it is a test tool, not an interception attack.
func TestProxyNeedsTrust(t *testing.T) {
	srv := newProxyServer(t, nil)
	u, _ := url.Parse(srv.ProxyURL())
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u), TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://login.microsoftonline.com/common/discovery/keys")
	if err == nil {
		resp.Body.Close()
		t.Fatal("a client with system roots trusted the proxy's certificate")
	}
	if n := srv.Requests(EndpointKeys); n != 0 {
		t.Errorf("Requests(keys) = %d, want 0", n)
	}
}

// rawProxy sends a raw request line to the proxy and returns its status
// line.
func rawProxy(t *testing.T, srv *Server, request string) string {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.ProxyURL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the proxy's answer: %v", err)
	}
	return strings.TrimSpace(line)
}

func TestProxyRejects(t *testing.T) {
	srv := newProxyServer(t, nil)
	for req, want := range map[string]string{
		// Plain-HTTP proxying would carry tokens in clear text.
		"GET http://login.microsoftonline.com/common/discovery/keys HTTP/1.1\r\nHost: login.microsoftonline.com\r\n\r\n": "HTTP/1.1 405 Method Not Allowed",
		"CONNECT login.microsoftonline.com HTTP/1.1\r\nHost: login.microsoftonline.com\r\n\r\n":                          "HTTP/1.1 400 Bad Request",
		"CONNECT a\"b:443 HTTP/1.1\r\nHost: a\"b:443\r\n\r\n":                                                            "HTTP/1.1 400 Bad Request",
	} {
		if got := rawProxy(t, srv, req); got != want {
			t.Errorf("%q: answer %q, want %q", req, got, want)
		}
	}
	if got := rawProxy(t, srv, "CONNECT login.microsoftonline.com:443 HTTP/1.1\r\nHost: login.microsoftonline.com:443\r\n\r\n"); got != "HTTP/1.1 200 Connection established" {
		t.Errorf("CONNECT answer %q", got)
	}
}

// Close cuts idle proxy connections and tunnels and stops the listener.
func TestProxyClose(t *testing.T) {
	srv, err := NewServer(&Options{ProxyAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(srv.ProxyURL(), "http://")
	idle, err := net.Dial("tcp", addr) // says nothing
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	// An open tunnel with a kept-alive connection.
	req, _ := http.NewRequest(http.MethodGet, "https://login.microsoftonline.com/common/discovery/keys", nil)
	if r := proxyDo(t, srv, req); r.status != 200 {
		t.Fatalf("keys: %d", r.status)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_ = idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil {
		t.Error("an idle proxy connection survived Close")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("an idle proxy connection was not closed by Close")
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("the proxy still accepts connections after Close")
	}
}

// Many callers through the proxy at once: every request is served and
// counted, under the race detector.
func TestProxyConcurrent(t *testing.T) {
	srv := newProxyServer(t, nil)
	const callers = 50
	var wg sync.WaitGroup
	errs := make(chan string, callers)
	for range callers {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, "https://login.microsoftonline.com/"+DefaultTenantID+"/oauth2/v2.0/token", strings.NewReader(ccForm().Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := srv.ProxyClient().Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- resp.Status
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := srv.Requests(EndpointToken); n != callers {
		t.Errorf("Requests(token) = %d, want %d", n, callers)
	}
}

// newFormRequest builds a form POST to an absolute URL.
func newFormRequest(u string, form url.Values) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}
