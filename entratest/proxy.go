package entratest

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The proxy mode. Some unmodified clients cannot be pointed at a local
// authority: the Azure CLI's MSAL always asks login.microsoftonline.com to
// validate the authority, whatever cloud it is configured for. For them the
// emulator also runs an HTTPS CONNECT proxy. Every tunnel it is asked to
// open, whatever the host, ends in the emulator itself: the proxy terminates
// TLS with a certificate for the requested host issued by the emulator's CA
// and serves the emulator's endpoints inside the tunnel. Point such a client
// at it with HTTPS_PROXY=[Server.ProxyURL] and make it trust
// [Server.CACertPEM]; it then reaches "login.microsoftonline.com" (and ARM
// hosts) without leaving the machine.

// maxProxyCerts bounds the per-host certificate cache, so a client that
// CONNECTs to endless host names cannot grow the emulator without bound.
// Real sessions touch a handful of hosts.
const maxProxyCerts = 256

// proxyHandshakeTimeout bounds the CONNECT request and the TLS handshake:
// a client that opens a connection and says nothing must not hold a
// goroutine forever in a long-running emulator.
const proxyHandshakeTimeout = 10 * time.Second

// proxy is the CONNECT proxy's state. Its listener accepts tunnels; the
// TLS connections inside them are handed to inner, an http.Server with the
// emulator's routes, through tunnels (a listener fed by a channel).
type proxy struct {
	s       *Server
	ln      net.Listener
	url     string
	inner   *http.Server
	tunnels *chanListener

	mu       sync.Mutex
	certs    map[string]*tls.Certificate // by lower-case host name or IP
	connects map[string]int              // CONNECT targets (host:port) → count
	pending  map[net.Conn]struct{}       // connections not yet handed to inner
	closed   bool

	wg sync.WaitGroup // accept loop and per-connection goroutines
}

// startProxy starts the CONNECT proxy on addr and registers its shutdown
// with the server's closers. It is called by NewServer before the server is
// returned, so closers needs no lock.
func (s *Server) startProxy(addr string, handler http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s for the proxy: %w", addr, err)
	}
	p := &proxy{
		s:        s,
		ln:       ln,
		url:      "http://" + clientHost(ln.Addr()),
		tunnels:  newChanListener(ln.Addr()),
		certs:    make(map[string]*tls.Certificate),
		connects: make(map[string]int),
		pending:  make(map[net.Conn]struct{}),
	}
	p.inner = &http.Server{
		Handler:           markProxied(handler),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	s.proxy = p
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		_ = p.inner.Serve(p.tunnels) // returns when tunnels is closed
	}()
	go func() {
		defer p.wg.Done()
		p.acceptLoop()
	}()
	s.closers = append(s.closers, p.close)
	return nil
}

// ProxyURL is the address of the CONNECT proxy as a client's HTTPS_PROXY
// wants it, "http://127.0.0.1:PORT", or "" when the server was started
// without [Options.ProxyAddr].
func (s *Server) ProxyURL() string {
	if s.proxy == nil {
		return ""
	}
	return s.proxy.url
}

// ProxyConnects returns how many tunnels the proxy opened per target
// (host:port as the client asked, e.g. "login.microsoftonline.com:443")
// since the server started. A test uses it to prove that a client really
// went through the proxy to Entra's public host rather than straight to the
// emulator. Nil when there is no proxy.
func (s *Server) ProxyConnects() map[string]int {
	if s.proxy == nil {
		return nil
	}
	s.proxy.mu.Lock()
	defer s.proxy.mu.Unlock()
	m := make(map[string]int, len(s.proxy.connects))
	for k, v := range s.proxy.connects {
		m[k] = v
	}
	return m
}

func (p *proxy) acceptLoop() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient accept error (out of file descriptors) must
			// not spin; back off briefly as net/http does.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !p.track(c) {
			_ = c.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serveConn(c)
		}()
	}
}

// track remembers a connection until it is handed over, so close can cut
// it; it reports false once the proxy is closing.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.pending[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pending, c)
}

// serveConn reads one CONNECT request, opens the tunnel and hands the TLS
// connection inside it to the inner server. Anything but CONNECT is
// refused: plain-HTTP proxying would carry tokens in clear text.
func (p *proxy) serveConn(c net.Conn) {
	handedOver := false
	defer func() {
		p.untrack(c)
		if !handedOver {
			_ = c.Close()
		}
	}()
	_ = c.SetDeadline(time.Now().Add(proxyHandshakeTimeout))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return // not HTTP, or the client left: nothing useful to answer
	}
	if req.Method != http.MethodConnect {
		writeProxyStatus(c, http.StatusMethodNotAllowed,
			"entratest proxy: only CONNECT (HTTPS) is proxied; plain http would send tokens in clear text")
		return
	}
	target := req.Host
	host, _, err := net.SplitHostPort(target)
	if err != nil || host == "" || !validHost(host) {
		writeProxyStatus(c, http.StatusBadRequest, "entratest proxy: CONNECT needs a host:port target")
		return
	}
	p.mu.Lock()
	p.connects[strings.ToLower(target)]++
	p.mu.Unlock()
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	// A client may send its ClientHello before reading the 200; those
	// bytes are already in br.
	tc := tls.Server(&bufferedConn{Conn: c, r: br}, &tls.Config{
		MinVersion: tls.VersionTLS12,
		// HTTP/1.1 only: what the clients that need the proxy (Python
		// requests) speak, and it keeps the inner server simple.
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			name := hello.ServerName
			if name == "" { // clients send no SNI for IP addresses
				name = host
			}
			return p.certFor(name)
		},
	})
	if err := tc.Handshake(); err != nil {
		return // the client distrusts the CA or hung up; it sees the error
	}
	_ = c.SetDeadline(time.Time{})
	if !p.tunnels.push(tc) {
		return
	}
	handedOver = true
}

// certFor returns a certificate for name issued by the emulator's CA,
// creating it on first use. Issuing happens outside the lock; two racing
// first uses both issue, and one wins, which is harmless.
func (p *proxy) certFor(name string) (*tls.Certificate, error) {
	name = strings.ToLower(strings.Trim(name, "[]"))
	if !validHost(name) || strings.Contains(name, ":") && net.ParseIP(name) == nil {
		return nil, fmt.Errorf("entratest proxy: %q is not a host name", name)
	}
	p.mu.Lock()
	c, ok := p.certs[name]
	p.mu.Unlock()
	if ok {
		return c, nil
	}
	leaf, err := p.s.ca.issue([]string{name})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.certs[name]; ok {
		return old, nil
	}
	if len(p.certs) >= maxProxyCerts {
		clear(p.certs)
	}
	p.certs[name] = &leaf
	return &leaf, nil
}

// close stops the proxy: no new tunnels, open ones cut, and waits for its
// goroutines, so nothing of it outlives Server.Close.
func (p *proxy) close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.pending {
		_ = c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.tunnels.Close()
	_ = p.inner.Close() // closes the tunnels it is serving
	p.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("closing the proxy: %w", err)
	}
	return nil
}

// writeProxyStatus answers a proxy request with a short plain-text error.
func writeProxyStatus(w io.Writer, status int, msg string) {
	_, _ = fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(msg), msg)
}

// bufferedConn reads first what the CONNECT parser buffered.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// chanListener is a net.Listener whose connections are pushed to it, so an
// http.Server can serve connections that arrived through the proxy.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to the server; false when the listener is closed.
func (l *chanListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// newProxyClient is newClient whose requests all go through the proxy at
// proxyURL, whatever the environment says.
func newProxyClient(pool *x509.CertPool, proxyURL string) *http.Client {
	c := newClient(pool)
	u, err := url.Parse(proxyURL)
	if err == nil {
		c.Transport.(*http.Transport).Proxy = http.ProxyURL(u)
	}
	return c
}

// ProxyClient returns an HTTP client that sends every request through the
// proxy and trusts only the emulator's CA, so Go code can reach Entra's
// public host names ("https://login.microsoftonline.com/...") and land in
// the emulator, as the Azure CLI does with HTTPS_PROXY. It is nil when the
// server has no proxy. Every call returns the same client.
func (s *Server) ProxyClient() *http.Client {
	if s.proxy == nil {
		return nil
	}
	return s.proxyClient
}
