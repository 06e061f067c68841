package entratest

// Managed identity endpoints: IMDS, App Service, Azure Arc, Cloud Shell,
// Service Fabric and Azure ML.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // Service Fabric identifies its certificate by SHA-1 thumbprint
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// The managed identity endpoints. Each is also the name of the hosting
// environment it emulates, for [ManagedIdentityHost.Env].
const (
	// EndpointIMDS is the Azure Instance Metadata Service of virtual
	// machines: GET /metadata/identity/oauth2/token with "Metadata: true".
	EndpointIMDS Endpoint = "imds"
	// EndpointAppService is App Service's identity endpoint (API version
	// 2019-08-01): GET /msi/token with X-IDENTITY-HEADER.
	EndpointAppService Endpoint = "app-service"
	// EndpointServiceFabric is Service Fabric's identity endpoint, on a
	// listener of its own behind a self-signed certificate: GET
	// /metadata/identity/oauth2/token with a Secret header.
	EndpointServiceFabric Endpoint = "service-fabric"
	// EndpointAzureML is Azure ML compute's MSI endpoint: GET /azureml/token
	// with a secret header.
	EndpointAzureML Endpoint = "azure-ml"
	// EndpointCloudShell is Cloud Shell's MSI endpoint: POST
	// /cloudshell/token.
	EndpointCloudShell Endpoint = "cloud-shell"
	// EndpointAzureArc is the Azure Arc agent's endpoint: GET
	// /arc/metadata/identity/oauth2/token, a 401 challenge naming a key
	// file, then the same request with the key.
	EndpointAzureArc Endpoint = "azure-arc"
)

// managedIdentityEndpoints lists the managed identity endpoints that get
// request counters.
func managedIdentityEndpoints() []Endpoint {
	return []Endpoint{EndpointIMDS, EndpointAppService, EndpointServiceFabric, EndpointAzureML, EndpointCloudShell, EndpointAzureArc}
}

// routeManagedIdentity prepares the managed identity host. Its endpoints
// are not on the main listener: real clients reach them over plain http on
// the host (and Service Fabric over its own TLS), so they get listeners of
// their own, started by [Server.ManagedIdentity] and stopped by Close.
func (s *Server) routeManagedIdentity(handle func(pattern string, ep Endpoint, h handlerFunc)) {
	s.mi = &ManagedIdentityHost{s: s}
	s.closers = append(s.closers, s.mi.close)
}

// ManagedIdentity is an identity an emulated Azure host can authenticate
// as. Empty fields are filled with generated values when the identity is
// added.
type ManagedIdentity struct {
	// ClientID is the identity's application (client) ID: the appid claim.
	ClientID string
	// ObjectID is its service principal's object ID: the oid claim.
	ObjectID string
	// ResourceID is its Azure resource ID: the xms_mirid claim.
	ResourceID string
}

// ExpiresOnFormat chooses how managed identity answers state the token's
// expiry, to test clients against every form the real endpoints use.
type ExpiresOnFormat int

const (
	// ExpiresOnDefault answers as each real endpoint does: IMDS, Arc,
	// Azure ML and Cloud Shell send expires_in and expires_on as numeric
	// strings; App Service sends only expires_on as a numeric string;
	// Service Fabric only expires_on as a JSON number.
	ExpiresOnDefault ExpiresOnFormat = iota
	// ExpiresOnNumber sends only expires_on, Unix seconds as a JSON number.
	ExpiresOnNumber
	// ExpiresOnString sends only expires_on, Unix seconds as a string.
	ExpiresOnString
	// ExpiresOnDate sends only expires_on as App Service's 2017 API did,
	// "11/28/2026 8:15:00 PM +00:00".
	ExpiresOnDate
	// ExpiresOnDate24h sends only expires_on as "11/28/2026 20:15:00
	// +00:00".
	ExpiresOnDate24h
	// ExpiresOnRFC3339 sends only expires_on as "2026-11-28T20:15:00Z".
	ExpiresOnRFC3339
)

// ManagedIdentityHost emulates the Azure host a program runs on: a virtual
// machine, an App Service app, a Service Fabric node, Azure ML compute, a
// Cloud Shell session or an Arc-enabled server. It serves each one's
// identity endpoint and issues tokens, signed by the server's key under its
// token policy ([Server.SetTokenPolicy]), for the host's identities.
//
// A new host has a system-assigned identity and no user-assigned ones. Its
// tokens are in [DefaultTenantID]. All methods are safe for concurrent use.
type ManagedIdentityHost struct {
	s *Server

	mu        sync.Mutex
	started   bool
	closed    bool
	startErr  error
	httpSrv   *http.Server
	tlsSrv    *http.Server
	baseURL   string // http://127.0.0.1:PORT
	sfURL     string // https://127.0.0.1:PORT
	sfThumb   string // upper-case hex SHA-1 of the Service Fabric certificate
	secret    string // IDENTITY_HEADER / MSI_SECRET
	arcDir    string
	arcKeys   map[string]bool // keys issued in challenges
	arcRealm  string          // overrides the challenge's key file
	arcLegacy bool
	system    *ManagedIdentity
	users     []ManagedIdentity
	format    ExpiresOnFormat
}

// ManagedIdentity returns the server's managed identity host, starting its
// listeners on the first call: plain http on loopback for every source but
// Service Fabric, which gets a TLS listener with a self-signed certificate
// (its thumbprint is in Env). Later calls return the same host. Close stops
// them.
func (s *Server) ManagedIdentity() (*ManagedIdentityHost, error) {
	m := s.mi
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("entratest: the server is closed")
	}
	if !m.started {
		m.started = true
		m.startErr = m.startLocked()
	}
	if m.startErr != nil {
		return nil, m.startErr
	}
	return m, nil
}

func (m *ManagedIdentityHost) startLocked() error {
	m.secret = "entratest-identity-header-" + newGUID()
	m.arcKeys = make(map[string]bool)
	sys := completeIdentity(ManagedIdentity{}, "Microsoft.Compute/virtualMachines/entratest-vm")
	m.system = &sys
	dir, err := os.MkdirTemp("", "entratest-arc-")
	if err != nil {
		return fmt.Errorf("entratest: creating the Arc key directory: %w", err)
	}
	m.arcDir = dir

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = os.RemoveAll(dir)
		return fmt.Errorf("entratest: listening for managed identity: %w", err)
	}
	m.baseURL = "http://" + clientHost(ln.Addr())
	mux := http.NewServeMux()
	handle := func(pattern string, ep Endpoint, h handlerFunc) { mux.Handle(pattern, m.s.endpoint(ep, h)) }
	handle("/metadata/identity/oauth2/token", EndpointIMDS, m.handleIMDS)
	handle("/msi/token", EndpointAppService, m.handleAppService)
	handle("/azureml/token", EndpointAzureML, m.handleAzureML)
	handle("/cloudshell/token", EndpointCloudShell, m.handleCloudShell)
	handle("/arc/metadata/identity/oauth2/token", EndpointAzureArc, m.handleArc)
	m.httpSrv = newSideServer(mux)

	cert, thumb, err := selfSignedCert()
	if err != nil {
		_ = ln.Close()
		_ = os.RemoveAll(dir)
		return fmt.Errorf("entratest: creating the Service Fabric certificate: %w", err)
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = ln.Close()
		_ = os.RemoveAll(dir)
		return fmt.Errorf("entratest: listening for Service Fabric: %w", err)
	}
	m.sfURL, m.sfThumb = "https://"+clientHost(tln.Addr()), thumb
	sfMux := http.NewServeMux()
	sfMux.Handle("/metadata/identity/oauth2/token", m.s.endpoint(EndpointServiceFabric, m.handleServiceFabric))
	m.tlsSrv = newSideServer(sfMux)
	m.tlsSrv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	go func() { _ = m.httpSrv.Serve(ln) }()
	go func() { _ = m.tlsSrv.ServeTLS(tln, "", "") }()
	return nil
}

func newSideServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: log.New(io.Discard, "", 0)}
}

// close stops the listeners and removes the Arc key directory; Server.Close
// calls it.
func (m *ManagedIdentityHost) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if !m.started || m.startErr != nil {
		return nil
	}
	err := errors.Join(m.httpSrv.Close(), m.tlsSrv.Close())
	if rmErr := os.RemoveAll(m.arcDir); rmErr != nil {
		err = errors.Join(err, rmErr)
	}
	return err
}

// selfSignedCert makes a Service Fabric-like endpoint certificate: self
// signed, for the loopback names, identified by its SHA-1 thumbprint.
func selfSignedCert() (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	serial, err := randomSerial()
	if err != nil {
		return tls.Certificate{}, "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "entratest Service Fabric node"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	sum := sha1.Sum(der) //nolint:gosec // see import
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, strings.ToUpper(hex.EncodeToString(sum[:])), nil
}

// completeIdentity fills an identity's empty IDs. kind is the resource
// provider path of its resource ID.
func completeIdentity(id ManagedIdentity, kind string) ManagedIdentity {
	if id.ClientID == "" {
		id.ClientID = newGUID()
	}
	if id.ObjectID == "" {
		id.ObjectID = newGUID()
	}
	if id.ResourceID == "" {
		id.ResourceID = "/subscriptions/" + newGUID() + "/resourceGroups/entratest/providers/" + kind
	}
	return id
}

// Env returns the environment variables the hosting environment named by
// ep sets, pointing at this host: what a managed identity client needs to
// find the endpoint. For [EndpointIMDS] it is
// AZURE_POD_IDENTITY_AUTHORITY_HOST, since the real IMDS address cannot be
// served from a test. Any other Endpoint gives nil.
func (m *ManagedIdentityHost) Env(ep Endpoint) map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch ep {
	case EndpointIMDS:
		return map[string]string{"AZURE_POD_IDENTITY_AUTHORITY_HOST": m.baseURL}
	case EndpointAppService:
		return map[string]string{"IDENTITY_ENDPOINT": m.baseURL + "/msi/token", "IDENTITY_HEADER": m.secret}
	case EndpointServiceFabric:
		return map[string]string{
			"IDENTITY_ENDPOINT":          m.sfURL + "/metadata/identity/oauth2/token",
			"IDENTITY_HEADER":            m.secret,
			"IDENTITY_SERVER_THUMBPRINT": m.sfThumb,
		}
	case EndpointAzureML:
		return map[string]string{"MSI_ENDPOINT": m.baseURL + "/azureml/token", "MSI_SECRET": m.secret}
	case EndpointCloudShell:
		return map[string]string{"MSI_ENDPOINT": m.baseURL + "/cloudshell/token"}
	case EndpointAzureArc:
		return map[string]string{"IDENTITY_ENDPOINT": m.baseURL + "/arc/metadata/identity/oauth2/token", "IMDS_ENDPOINT": m.baseURL}
	}
	return nil
}

// IMDSHost is the base URL serving IMDS, "http://127.0.0.1:PORT", for a
// client's IMDS host override.
func (m *ManagedIdentityHost) IMDSHost() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.baseURL
}

// ArcKeyDir is the directory the emulated Arc agent writes its key files
// to; point the client's Arc key directory at it. It is removed by Close.
func (m *ManagedIdentityHost) ArcKeyDir() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.arcDir
}

// SystemAssigned returns the host's system-assigned identity, and false
// when it has none.
func (m *ManagedIdentityHost) SystemAssigned() (ManagedIdentity, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.system == nil {
		return ManagedIdentity{}, false
	}
	return *m.system, true
}

// SetSystemAssigned replaces the system-assigned identity, filling its
// empty IDs; nil removes it, after which requests without a user-assigned
// identity fail as on a host that has none. It returns the identity set.
func (m *ManagedIdentityHost) SetSystemAssigned(id *ManagedIdentity) ManagedIdentity {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == nil {
		m.system = nil
		return ManagedIdentity{}
	}
	c := completeIdentity(*id, "Microsoft.Compute/virtualMachines/entratest-vm")
	m.system = &c
	return c
}

// AddUserAssigned assigns a user-assigned identity to the host, filling
// its empty IDs, and returns it. Requests can then select it by client ID,
// object ID or resource ID.
func (m *ManagedIdentityHost) AddUserAssigned(id ManagedIdentity) ManagedIdentity {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := completeIdentity(id, "Microsoft.ManagedIdentity/userAssignedIdentities/entratest-"+newGUID()[:8])
	m.users = append(m.users, c)
	return c
}

// SetExpiresOnFormat chooses how answers state expiry, for every source.
func (m *ManagedIdentityHost) SetExpiresOnFormat(f ExpiresOnFormat) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.format = f
}

// SetArcKeyPath makes the Arc agent's challenge name path instead of a
// fresh key file in [ManagedIdentityHost.ArcKeyDir], to test that clients
// refuse key files outside it, with another extension, too large, or linked
// out of it. "" restores the normal behaviour. The file is never written by
// the emulator.
func (m *ManagedIdentityHost) SetArcKeyPath(path string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.arcRealm = path
}

// SetArcLegacyAgent makes the Arc agent behave like versions that do not
// support user-assigned identities: they ignore the identity selector,
// answer with the machine's own identity and do not echo a selector, which
// clients must detect.
func (m *ManagedIdentityHost) SetArcLegacyAgent(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.arcLegacy = on
}
