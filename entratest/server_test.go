package entratest

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestServerAddresses(t *testing.T) {
	srv := newTestServer(t, nil)
	u, err := url.Parse(srv.URL())
	if err != nil || u.Scheme != "https" || u.Hostname() != "127.0.0.1" || u.Port() == "" || u.Path != "" {
		t.Errorf("URL() = %q", srv.URL())
	}
	if srv.AuthorityHost() != srv.URL()+"/" {
		t.Errorf("AuthorityHost() = %q", srv.AuthorityHost())
	}
}

func TestServerIPv6(t *testing.T) {
	srv, err := NewServer(&Options{Addr: "[::1]:0"})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.URL(), "https://[::1]:") {
		t.Errorf("URL() = %q", srv.URL())
	}
	if r := postForm(t, srv, tokenPath(DefaultTenantID), ccForm()); r.status != 200 {
		t.Errorf("token over IPv6: %d", r.status)
	}
}

func TestServerBadAddr(t *testing.T) {
	if _, err := NewServer(&Options{Addr: "256.0.0.1:http"}); err == nil {
		t.Error("NewServer accepted a bad address")
	}
}

// Client trusts the emulator and nothing else; other clients do not trust
// the emulator.
func TestClientTrust(t *testing.T) {
	srv := newTestServer(t, nil)
	other := httptest.NewTLSServer(http.NotFoundHandler())
	defer other.Close()
	if resp, err := srv.Client().Get(other.URL); err == nil {
		resp.Body.Close()
		t.Error("the emulator's client trusted another server")
	}
	if resp, err := other.Client().Get(srv.URL() + "/common/discovery/keys"); err == nil {
		resp.Body.Close()
		t.Error("a client without the emulator's CA trusted it")
	}

	// CACertPEM and CertPool are enough to build a trusting client, for
	// localhost as well as the IP.
	block, _ := pem.Decode(srv.CACertPEM())
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !ca.IsCA {
		t.Fatalf("CACertPEM: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CACertPEM())
	if !pool.Equal(srv.CertPool()) {
		t.Error("CertPool differs from CACertPEM")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: newClient(pool).Transport.(*http.Transport).TLSClientConfig}}
	port := srv.URL()[strings.LastIndex(srv.URL(), ":")+1:]
	resp, err := c.Get("https://localhost:" + port + "/common/discovery/keys")
	if err != nil {
		t.Fatalf("localhost: %v", err)
	}
	resp.Body.Close()
	c.CloseIdleConnections()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
}

func TestClientSpeaksHTTP2(t *testing.T) {
	srv := newTestServer(t, nil)
	resp, err := srv.Client().Get(srv.URL() + "/common/discovery/keys")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("proto = %s, want HTTP/2", resp.Proto)
	}
}

func TestRequestsUnknownEndpoint(t *testing.T) {
	srv := newTestServer(t, nil)
	if n := srv.Requests("nope"); n != 0 {
		t.Errorf("Requests(nope) = %d", n)
	}
}

// Hundreds of concurrent clients get distinct tokens and are counted
// exactly, while other goroutines reconfigure the server.
func TestConcurrentTokenRequests(t *testing.T) {
	srv := newTestServer(t, nil)
	const n = 200
	tokens := make([]string, n)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var churn sync.WaitGroup
	churn.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			srv.SetTokenPolicy(TokenPolicy{ExpiresIn: time.Duration(1+i%3) * time.Hour})
			srv.SetFault(EndpointKeys, Fault{Status: 503, Times: 1})
			srv.ClearFaults()
			_ = srv.AddApp(App{TenantID: DefaultTenantID, ClientID: fmt.Sprintf("churn-%d", i), Secret: "s"})
			_ = srv.TokenRequests()
			_ = srv.Requests(EndpointToken)
			time.Sleep(time.Millisecond)
		}
	})
	for i := range n {
		wg.Go(func() {
			r := postForm(t, srv, tokenPath(DefaultTenantID), ccForm())
			if r.status != 200 {
				t.Errorf("request %d: %d %s", i, r.status, r.raw)
				return
			}
			tokens[i] = r.str("access_token")
		})
	}
	wg.Wait()
	close(stop)
	churn.Wait()

	if got := srv.Requests(EndpointToken); got != n {
		t.Errorf("Requests(token) = %d, want %d", got, n)
	}
	if got := len(srv.TokenRequests()); got != n {
		t.Errorf("len(TokenRequests) = %d, want %d", got, n)
	}
	seen := map[string]bool{}
	for _, tok := range tokens {
		if seen[tok] {
			t.Fatal("two clients got the same token")
		}
		seen[tok] = true
		if _, err := srv.VerifyToken(tok); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTokenLogIsBounded(t *testing.T) {
	srv := newTestServer(t, nil)
	for i := range maxTokenLog + 5 {
		srv.log.add(TokenRequest{Status: i})
	}
	log := srv.TokenRequests()
	if len(log) != maxTokenLog || log[0].Status != 5 || log[len(log)-1].Status != maxTokenLog+4 {
		t.Errorf("log has %d entries from %d to %d", len(log), log[0].Status, log[len(log)-1].Status)
	}
	for i := 1; i < len(log); i++ {
		if log[i].Status != log[i-1].Status+1 {
			t.Fatalf("entry %d is %d after %d: the log is out of order", i, log[i].Status, log[i-1].Status)
		}
	}
	srv.ResetCounts()
	srv.log.add(TokenRequest{Status: 1})
	if log := srv.TokenRequests(); len(log) != 1 || log[0].Status != 1 {
		t.Errorf("after a reset: %+v", log)
	}
}

func BenchmarkTokenRequest(b *testing.B) {
	srv := newTestServer(b, nil)
	body := ccForm().Encode()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, srv.URL()+tokenPath(DefaultTenantID), strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := srv.Client().Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
	})
}
