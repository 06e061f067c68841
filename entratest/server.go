package entratest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The default app registered when [Options.Apps] is empty. The IDs are
// GUID-shaped because real clients (and azid) validate tenant and client IDs,
// and obviously fake so nobody mistakes them for a real tenant. The secret
// looks like a test value on purpose: secret scanners and reviewers should
// see at a glance that it protects nothing.
const (
	DefaultTenantID     = "e7a7e570-0000-4000-8000-00000000e57a"
	DefaultClientID     = "c11e2700-0000-4000-8000-00000000c11e"
	DefaultClientSecret = "entratest-not-a-real-secret"
)

// Options configures a [Server]. The zero value (or a nil *Options) gives a
// server on a random loopback port with one app (DefaultTenantID,
// DefaultClientID, DefaultClientSecret) issuing one-hour tokens.
type Options struct {
	// Addr is the TCP address to listen on. The default, "127.0.0.1:0",
	// picks a free port on loopback so parallel tests never collide. Use a
	// fixed port only for long-running emulators (a CLI, a dev container)
	// whose address must be known in advance.
	Addr string

	// Apps are the app registrations the emulator knows. When empty, one
	// default app is registered (see DefaultClientID). More can be added
	// later with [Server.AddApp].
	Apps []App

	// Users are the people who can sign in (user flows: browser, device
	// code, password, refresh tokens). When nil, one default user is
	// registered (see DefaultUsername); an empty non-nil slice means none.
	Users []User

	// Token sets the lifetimes of issued tokens; zero fields take defaults.
	// Change it on a running server with [Server.SetTokenPolicy].
	Token TokenPolicy

	// Now is the clock used for token timestamps (iat, nbf, exp), for
	// [Server.VerifyToken] and for the log. Tests of expiry and refresh
	// logic pass a controllable clock so they need not sleep; the TLS
	// certificates always use the real clock. Default: time.Now.
	Now func() time.Time

	// SigningKeyBits is the size of the RSA key that signs tokens. The
	// default, 2048, is what Entra uses. Signing costs about a millisecond
	// of CPU per token at 2048 bits and a third of that at 1024; load tests
	// that run the emulator on the same cores as the code under test can
	// choose 1024 so that the emulator's CPU does not dominate what they
	// measure. Tokens stay RS256 and verifiable through the JWKS endpoint.
	// Only 1024 and 2048 are accepted.
	SigningKeyBits int

	// ProxyAddr, when set, also starts the HTTPS CONNECT proxy on this
	// address ("127.0.0.1:0" for a free port): every tunnel through it
	// ends in the emulator, whatever host the client asked for, with a
	// certificate from the emulator's CA. It is for clients that insist
	// on Entra's real host names, like the Azure CLI; see
	// [Server.ProxyURL] and [Server.ProxyClient].
	ProxyAddr string

	// OneTimeClientAssertions makes the token endpoint refuse a
	// certificate-signed client assertion it has already accepted (the
	// same jti for the same client, within the assertion's lifetime), and
	// one without a jti, with invalid_client (AADSTS700027), as a server
	// that enforces OpenID Connect Core §9 and RFC 7523 §3 does. Entra
	// does not enforce this, so the default is off; turn it on in tests so
	// that a client reusing an assertion fails there rather than against
	// a stricter server. The jti is spent as soon as the request is read,
	// also when a fault ([Server.SetFault]) then answers 5xx, drops the
	// connection or holds the request: a client that retries the same
	// body is refused, one that signs a new assertion for every HTTP try
	// is not. (The outage switch answers before reading anything and
	// spends nothing.) Federated tokens (workload identity) are exempt:
	// their issuer hands the workload one token to present until it
	// rotates, and Entra accepts it each time.
	OneTimeClientAssertions bool

	// Tenants describes tenants beyond their IDs: display names, domains
	// and the subscriptions the minimal ARM lists. A tenant listed here
	// exists even when no app is registered in it (a user's home tenant,
	// say). Tenants that exist only through an app get defaults; see
	// [Tenant].
	Tenants []Tenant

	// DetectRefreshTokenReuse makes refresh tokens single-use with reuse
	// detection, as servers following RFC 9700 §4.14.2 and OAuth 2.1 do:
	// every redemption rotates the refresh token, and presenting one that
	// was already redeemed revokes every token issued from that sign-in
	// (invalid_grant, AADSTS70000), so the user must sign in again. Entra
	// tolerates reuse; a client that passes with this on never presents a
	// refresh token twice. [Server.RefreshTokenStats] counts reuses and
	// revoked sign-ins.
	DetectRefreshTokenReuse bool
}

// App is an app registration (a service principal) the emulator accepts.
type App struct {
	// TenantID is the app's home tenant. Tenants exist in the emulator
	// exactly when some app is registered in them, so a token request for
	// any other tenant fails the way Entra fails for a mistyped tenant.
	TenantID string

	// ClientID is the application (client) ID.
	ClientID string

	// Secret is the client secret. An app with no secret cannot use the
	// client credentials grant with a secret, as in Entra.
	Secret string

	// AllowedTenants are other tenants the app is provisioned in, making
	// it a multi-tenant app: it can get tokens in those tenants too, with
	// that tenant's ID in the tid claim. "*" means every GUID-shaped
	// tenant ID, which makes every such tenant exist in the emulator; use
	// it to test code that serves arbitrary customer tenants.
	AllowedTenants []string

	// PublicClient marks a public client (a desktop or CLI app): user
	// flows need no client secret from it. A confidential app (one with a
	// Secret) must authenticate in user flows too, as in Entra.
	PublicClient bool

	// RedirectURIs are the registered redirect URIs of the authorization
	// code flow. An http://localhost or http://127.0.0.1 entry matches
	// any port, as Entra does for loopback redirects (RFC 8252).
	RedirectURIs []string

	// Certificates are the certificates uploaded to the app registration.
	// A client assertion signed with the private key of one of them, and
	// naming it by thumbprint (x5t#S256 or x5t), authenticates the app.
	// Only RSA keys are accepted, as in Entra.
	Certificates []*x509.Certificate

	// FederatedCredentials are the app's federated identity credentials:
	// tokens from the external issuers they name (see
	// [Server.IssueFederatedToken]) authenticate the app as client
	// assertions, as for workload identity.
	FederatedCredentials []FederatedCredential
}

// TokenPolicy sets the lifetimes the emulator puts in token responses and
// tokens. Zero fields take defaults, so a policy can override just one of
// them. Durations are sent in whole seconds, as Entra does; a positive
// duration under one second is sent as one second.
type TokenPolicy struct {
	// ExpiresIn is the access token lifetime (expires_in and the exp
	// claim). Default: one hour, Entra's usual lifetime for app tokens.
	ExpiresIn time.Duration

	// RefreshIn, when positive, is sent as refresh_in: Entra's hint for
	// when a client should refresh proactively. Zero leaves the field out,
	// as Entra does for ordinary one-hour tokens.
	RefreshIn time.Duration

	// ExtExpiresIn is sent as ext_expires_in, the extended lifetime Entra
	// grants for resilience during outages. Default: ExpiresIn.
	ExtExpiresIn time.Duration
}

// ErrInvalidTokenPolicy is wrapped by the error for a [TokenPolicy] the
// emulator refuses.
var ErrInvalidTokenPolicy = errors.New("invalid token policy")

// Validate reports a policy no server should send, with the defaults
// applied: a refresh hint at or after expiry (RefreshIn ≥ ExpiresIn) tells
// a client to refresh a token only once it is unusable, which Entra never
// does; a client tested against it would learn nothing about proactive
// refresh. [NewServer], [Server.SetTokenPolicy] and configuration files
// refuse such a policy with this error.
func (p TokenPolicy) Validate() error {
	d := p.withDefaults()
	if d.RefreshIn > 0 && d.RefreshIn >= d.ExpiresIn {
		return fmt.Errorf("%w: refreshIn (%v) must be shorter than expiresIn (%v): the refresh hint comes before the token expires", ErrInvalidTokenPolicy, d.RefreshIn, d.ExpiresIn)
	}
	return nil
}

// withDefaults fills zero (or negative) fields so every issued token sees
// a complete policy.
func (p TokenPolicy) withDefaults() TokenPolicy {
	if p.ExpiresIn <= 0 {
		p.ExpiresIn = time.Hour
	}
	if p.RefreshIn < 0 {
		p.RefreshIn = 0
	}
	if p.ExtExpiresIn <= 0 {
		p.ExtExpiresIn = p.ExpiresIn
	}
	return p
}

// Endpoint names one of the emulator's endpoints, for counting requests
// ([Server.Requests]) and injecting faults ([Server.SetFault]).
type Endpoint string

// The endpoints of the emulator. Each covers every path variant Entra
// serves for the same purpose (v1 and v2.0, tenant-specific and common).
const (
	// EndpointToken is the token endpoint:
	// POST /{tenant}/oauth2/v2.0/token (and the v1 /{tenant}/oauth2/token).
	EndpointToken Endpoint = "token"
	// EndpointOpenIDConfiguration is OIDC discovery:
	// GET /{tenant}/v2.0/.well-known/openid-configuration (and the v1
	// /{tenant}/.well-known/openid-configuration).
	EndpointOpenIDConfiguration Endpoint = "openid-configuration"
	// EndpointInstanceDiscovery is Entra's authority validation:
	// GET /common/discovery/instance.
	EndpointInstanceDiscovery Endpoint = "instance-discovery"
	// EndpointKeys is the JWKS document with the token signing keys:
	// GET /{tenant}/discovery/v2.0/keys (and /common/discovery/keys).
	EndpointKeys Endpoint = "keys"
)

// allEndpoints lists the endpoints that get a request counter. A later
// endpoint (device code, managed identity...) is added here and routed in
// routes.
func allEndpoints() []Endpoint {
	eps := []Endpoint{EndpointToken, EndpointOpenIDConfiguration, EndpointInstanceDiscovery, EndpointKeys, EndpointUserRealm}
	eps = append(eps, userEndpoints()...)
	eps = append(eps, managedIdentityEndpoints()...)
	eps = append(eps, armEndpoints()...)
	eps = append(eps, pipelinesEndpoints()...)
	return eps
}

// Server is a running Entra ID emulator serving HTTPS on loopback. Create
// one with [NewServer] and stop it with [Server.Close]. All methods are safe
// for concurrent use, including while requests are being served.
type Server struct {
	now    func() time.Time
	ln     net.Listener
	http   *http.Server
	host   string // host:port clients connect to, as in URL
	url    string
	ca     *certAuthority
	pool   *x509.CertPool
	client *http.Client
	signer *signer
	dir    *directory
	grants map[string]grantFunc // read-only after NewServer

	policy atomic.Pointer[TokenPolicy]
	outage atomic.Bool
	// caeEvent is the Unix second of the last RevokeSessions, 0 for none.
	caeEvent atomic.Int64
	counts   map[Endpoint]*atomic.Int64 // keys fixed at NewServer, so no lock
	faults   faultTable
	log      boundedLog[TokenRequest]
	users    *userState // user flows (userflows.go)
	// usedAssertions is the one-time assertion register, nil unless
	// Options.OneTimeClientAssertions (onetime.go).
	usedAssertions *usedAssertions

	proxy       *proxy       // nil without Options.ProxyAddr
	proxyClient *http.Client // set with proxy
	window      atomic.Pointer[outageWindow]
	reqlog      boundedLog[Request]

	// closers stop what the server started besides its main listener
	// (the proxy, managed identity listeners), in Close.
	closers []func() error

	// mi is the managed identity host (managedidentity.go), set in routes.
	mi *ManagedIdentityHost
	// pipelines are Azure Pipelines' service connections (pipelines.go).
	pipelines pipelineConnections

	closeOnce sync.Once
	closeErr  error
	served    chan struct{} // closed when Serve returns
}

// NewServer starts an emulator and returns once it accepts connections, so
// a test can use it immediately. It generates a fresh CA, TLS certificate
// and token signing key each time: servers never share trust, and a token
// from one server does not verify on another. A nil opts means defaults.
func NewServer(opts *Options) (*Server, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	apps := o.Apps
	if len(apps) == 0 {
		apps = []App{{TenantID: DefaultTenantID, ClientID: DefaultClientID, Secret: DefaultClientSecret}}
	}

	s := &Server{
		now:    o.Now,
		dir:    newDirectory(),
		counts: make(map[Endpoint]*atomic.Int64),
		served: make(chan struct{}),
	}
	for _, ep := range allEndpoints() {
		s.counts[ep] = new(atomic.Int64)
	}
	for _, a := range apps {
		if err := s.dir.add(a); err != nil {
			return nil, fmt.Errorf("entratest: %w", err)
		}
	}
	for _, t := range o.Tenants {
		if err := s.dir.addTenant(t); err != nil {
			return nil, fmt.Errorf("entratest: %w", err)
		}
	}
	if err := s.SetTokenPolicy(o.Token); err != nil {
		return nil, err
	}
	if o.OneTimeClientAssertions {
		s.usedAssertions = newUsedAssertions()
	}
	users, err := newUserState(s, o.Users, apps)
	if err != nil {
		return nil, fmt.Errorf("entratest: %w", err)
	}
	s.users = users
	users.detectReuse = o.DetectRefreshTokenReuse
	s.grants = map[string]grantFunc{
		grantClientCredentials: s.clientCredentialsGrant,
	}
	s.addAppGrants(s.grants)
	s.addUserGrants(s.grants)

	if s.signer, err = newSigner(o.SigningKeyBits); err != nil {
		return nil, fmt.Errorf("entratest: creating the token signing key: %w", err)
	}

	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("entratest: listening on %s: %w", o.Addr, err)
	}
	s.ln = ln
	s.host = clientHost(ln.Addr())
	s.url = "https://" + s.host

	if s.ca, err = newCertAuthority(); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("entratest: creating the CA: %w", err)
	}
	leaf, err := s.ca.issue(serverNames(ln.Addr()))
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("entratest: creating the TLS certificate: %w", err)
	}
	s.pool = x509.NewCertPool()
	s.pool.AddCert(s.ca.cert)
	s.client = newClient(s.pool)

	s.http = &http.Server{
		Handler: s.routes(),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{leaf},
			MinVersion:   tls.VersionTLS12,
		},
		// Slow-header clients must not pin goroutines forever in a
		// long-running emulator (azid token --emulator).
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// Clients that probe with plain HTTP or distrust the CA cause
		// handshake errors that are expected in tests; logging them
		// would only bury real failures in noise.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(s.served)
		// ServeTLS returns ErrServerClosed on Close; anything else means
		// the listener died, which requests will surface on their own.
		_ = s.http.ServeTLS(ln, "", "")
	}()
	if o.ProxyAddr != "" {
		if err := s.startProxy(o.ProxyAddr, s.http.Handler); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("entratest: %w", err)
		}
		s.proxyClient = newProxyClient(s.pool, s.proxy.url)
	}
	return s, nil
}

// clientHost is the host:port clients should dial for a listener: a
// wildcard listen address is reached through loopback.
func clientHost(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}

// Close stops the server at once: listeners and connections are closed and
// in-flight requests (including ones sleeping in a latency fault) end.
// Calling it again returns the first result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if err := s.http.Close(); err != nil {
			s.closeErr = fmt.Errorf("entratest: closing server: %w", err)
		}
		<-s.served
		for _, c := range s.closers {
			if err := c(); err != nil && s.closeErr == nil {
				s.closeErr = fmt.Errorf("entratest: closing: %w", err)
			}
		}
		s.client.CloseIdleConnections()
		if s.proxyClient != nil {
			s.proxyClient.CloseIdleConnections()
		}
	})
	return s.closeErr
}

// URL is the base URL of the emulator, "https://127.0.0.1:PORT", without a
// trailing slash, for building endpoint URLs by hand.
func (s *Server) URL() string { return s.url }

// AuthorityHost is the URL to configure as the authority host of a
// credential, "https://127.0.0.1:PORT/". It ends with a slash because
// azcore's cloud.Configuration.ActiveDirectoryAuthorityHost (and the
// AZURE_AUTHORITY_HOST variable) expect one.
func (s *Server) AuthorityHost() string { return s.url + "/" }

// Client returns an HTTP client that trusts only the emulator's CA, not the
// system roots, so a test cannot accidentally reach a real Entra endpoint
// through it. It speaks HTTP/2 and keeps many idle connections, so hundreds
// of concurrent callers reuse connections instead of exhausting ports. It
// satisfies azcore's policy.Transporter: set it as ClientOptions.Transport.
// Every call returns the same client.
func (s *Server) Client() *http.Client { return s.client }

// CACertPEM returns the emulator's CA certificate in PEM form, for clients
// that take a CA bundle file (the Azure CLI's REQUESTS_CA_BUNDLE, curl
// --cacert, SSL_CERT_FILE).
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.ca.pem...) }

// CertPool returns a new pool holding only the emulator's CA, for building
// a custom tls.Config or transport.
func (s *Server) CertPool() *x509.CertPool { return s.pool.Clone() }

// AddApp registers another app while the server runs, for tests that set up
// apps per case. Its tenants come into existence with it. It fails when the
// tenant or client ID is empty or malformed, or when an app with the same
// client ID is already registered in that home tenant.
func (s *Server) AddApp(a App) error {
	if err := s.dir.add(a); err != nil {
		return fmt.Errorf("entratest: %w", err)
	}
	return nil
}

// SetTokenPolicy changes token lifetimes. It takes effect for the next token
// issued; tokens already issued keep theirs. Zero fields take defaults, as
// in [Options.Token]. A policy whose RefreshIn is not shorter than its
// ExpiresIn is refused (see [TokenPolicy.Validate]) and the current one
// kept.
func (s *Server) SetTokenPolicy(p TokenPolicy) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("entratest: %w", err)
	}
	p = p.withDefaults()
	s.policy.Store(&p)
	return nil
}

// Requests returns how many requests an endpoint received since the server
// started or since [Server.ResetCounts], including requests answered by a
// fault or the outage switch. This is what lets a test assert "exactly one
// token request": a cache hit makes no request. Unknown endpoints count 0.
func (s *Server) Requests(ep Endpoint) int {
	c, ok := s.counts[ep]
	if !ok {
		return 0
	}
	return int(c.Load())
}

// ResetCounts sets every endpoint's request count to zero and empties the
// token request log and the request log, so a test can measure one phase
// (say, after warming a cache) on its own.
func (s *Server) ResetCounts() {
	for _, c := range s.counts {
		c.Store(0)
	}
	s.log.reset()
	s.reqlog.reset()
}
