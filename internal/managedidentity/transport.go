package managedidentity

import (
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/internal/sts"
)

// errNoRedirects refuses redirects: an endpoint that redirects would have
// the identity header (a secret that net/http forwards across hosts) sent
// wherever it points.
var errNoRedirects = errors.New("managed identity endpoints never redirect; refusing to follow")

// Transport returns what the client's pipeline should send requests with,
// given the caller's ClientOptions.Transport (nil for the default).
//
// The default is an http.Client that uses no proxy (every managed identity
// endpoint is on the host or next to it; a proxy from HTTP_PROXY would
// only break IMDS) and follows no redirects. A caller's *http.Client is
// copied with redirects refused. On Service Fabric the transport must be
// nil or an *http.Client whose Transport is nil or an *http.Transport,
// because the certificate pin has to be installed in it; any other
// transport is refused rather than used unpinned. Answers are read up to
// sts.MaxResponseBytes.
func (c *Client) Transport(base policy.Transporter) (policy.Transporter, error) {
	var hc *http.Client
	switch t := base.(type) {
	case nil:
		hc = &http.Client{Transport: defaultTransport()}
	case *http.Client:
		cp := *t
		hc = &cp
	default:
		if c.source == ServiceFabric {
			return nil, errors.New("Service Fabric managed identity needs ClientOptions.Transport to be nil or an *http.Client, to pin the endpoint's certificate")
		}
		return sts.LimitResponseBodies(base), nil
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return errNoRedirects }
	if c.source == ServiceFabric {
		var ht *http.Transport
		switch t := hc.Transport.(type) {
		case nil:
			ht = defaultTransport()
		case *http.Transport:
			ht = t
		default:
			return nil, errors.New("Service Fabric managed identity needs the *http.Client's Transport to be nil or an *http.Transport, to pin the endpoint's certificate")
		}
		pinned, err := pinTransport(ht, c.thumbprint)
		if err != nil {
			return nil, err
		}
		hc.Transport = pinned
	}
	return sts.LimitResponseBodies(hc), nil
}

// defaultTransport is a fresh transport without a proxy.
func defaultTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}
