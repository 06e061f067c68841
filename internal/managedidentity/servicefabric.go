package managedidentity

import (
	"context"
	"crypto/sha1" //nolint:gosec // Service Fabric publishes its certificate's SHA-1 thumbprint
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// Service Fabric: IDENTITY_ENDPOINT, IDENTITY_HEADER and
// IDENTITY_SERVER_THUMBPRINT. The endpoint is HTTPS with a self-signed
// certificate; it is trusted because its SHA-1 thumbprint matches the
// variable, not through a CA. The cluster configuration decides the
// identity, so none can be chosen.
const serviceFabricAPIVersion = "2019-07-01-preview"

func (c *Client) setupServiceFabric(o *Options) error {
	if c.id.Kind != SystemAssigned {
		return fmt.Errorf("%s managed identity does not support choosing a user-assigned identity (ID is %s): the cluster's application manifest decides it; leave ID unset", ServiceFabric, c.id)
	}
	u, err := parseEndpoint(envIdentityEndpoint, o.getenv(envIdentityEndpoint))
	if err != nil {
		return err
	}
	if u.Scheme != "https" {
		return fmt.Errorf("%s for %s managed identity must be an https URL", envIdentityEndpoint, ServiceFabric)
	}
	if c.thumbprint, err = ParseThumbprint(o.getenv(envServerThumbprint)); err != nil {
		return err
	}
	c.endpoint, c.secret = u, o.getenv(envIdentityHeader)
	return nil
}

// ParseThumbprint reads a SHA-1 certificate thumbprint: 40 hex digits,
// colons and spaces ignored.
func ParseThumbprint(s string) ([]byte, error) {
	norm := strings.Map(func(r rune) rune {
		if r == ':' || unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	b, err := hex.DecodeString(norm)
	if err != nil || len(b) != sha1.Size {
		return nil, fmt.Errorf("%s must be a SHA-1 certificate thumbprint (40 hex digits)", envServerThumbprint)
	}
	return b, nil
}

// pinTransport returns a copy of base (nil: a default transport) that
// trusts exactly the certificate whose SHA-1 thumbprint is pin. The copy
// gets its own connection pool (TLSNextProto reset), so a connection made
// without the pin can never carry a Service Fabric request.
func pinTransport(base *http.Transport, pin []byte) (*http.Transport, error) {
	//nolint:staticcheck // DialTLS bypasses TLSClientConfig, so it must be absent too
	if base.DialTLS != nil || base.DialTLSContext != nil {
		return nil, errors.New("Service Fabric managed identity cannot pin its certificate through a transport with custom TLS dialing")
	}
	if cfg := base.TLSClientConfig; cfg != nil && (cfg.VerifyPeerCertificate != nil || cfg.VerifyConnection != nil) {
		return nil, errors.New("Service Fabric managed identity cannot pin its certificate through a transport with custom TLS verification")
	}
	t := base.Clone()
	t.TLSNextProto = nil
	cfg := t.TLSClientConfig
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	cfg = cfg.Clone()
	// The certificate is self-signed; VerifyConnection is the check.
	cfg.InsecureSkipVerify = true //nolint:gosec // pinned below
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the Service Fabric endpoint presented no certificate")
		}
		got := sha1.Sum(cs.PeerCertificates[0].Raw) //nolint:gosec // see import
		if subtle.ConstantTimeCompare(got[:], pin) != 1 {
			return fmt.Errorf("the Service Fabric endpoint's certificate (SHA-1 %X) does not match %s", got[:], envServerThumbprint)
		}
		return nil
	}
	// Clone copies the base's ALPN list, which may offer h2 that the clone
	// (with TLSNextProto reset) would not speak; let the clone configure
	// its own protocols.
	cfg.NextProtos = nil
	t.TLSClientConfig = cfg
	return t, nil
}

func (c *Client) serviceFabricToken(ctx context.Context, pl runtime.Pipeline, resource string) (Token, error) {
	x := exchange{
		method:  http.MethodGet,
		query:   map[string][]string{"api-version": {serviceFabricAPIVersion}, "resource": {resource}},
		header:  http.Header{"Secret": {c.secret}},
		secrets: []string{c.secret},
	}
	resp, body, err := c.send(ctx, pl, x)
	if err != nil {
		return Token{}, err
	}
	return c.result(resp, body, x.secrets)
}
