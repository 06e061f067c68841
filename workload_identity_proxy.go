package azid

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

// Environment variables of the AKS identity bindings token proxy, set in a
// pod when the cluster routes its workloads' token requests through a
// proxy. The credential reads them only with EnableAzureProxy.
const (
	envKubernetesTokenProxy = "AZURE_KUBERNETES_TOKEN_PROXY"
	envKubernetesCAFile     = "AZURE_KUBERNETES_CA_FILE"
	envKubernetesCAData     = "AZURE_KUBERNETES_CA_DATA"
	envKubernetesSNIName    = "AZURE_KUBERNETES_SNI_NAME"
)

// maxProxyCAFileSize bounds what is read from the proxy's CA file: a few
// PEM certificates.
const maxProxyCAFileSize = 1 << 20

// newTokenProxyTransport returns the transport that sends every request of
// the credential to the AKS token proxy that the environment names, or nil
// when it names none. The proxy is not an HTTP proxy: each request's URL is
// rewritten to the proxy's (its path prefixed to the request's), and the
// TLS connection trusts the proxy's CA (AZURE_KUBERNETES_CA_FILE or
// AZURE_KUBERNETES_CA_DATA; none means the system's) and checks the name
// AZURE_KUBERNETES_SNI_NAME (none means the proxy URL's host).
func newTokenProxyTransport(getenv func(string) string) (*tokenProxyTransport, error) {
	raw := getenv(envKubernetesTokenProxy)
	sni := getenv(envKubernetesSNIName)
	caFile := getenv(envKubernetesCAFile)
	caData := getenv(envKubernetesCAData)
	if raw == "" {
		if sni != "" || caFile != "" || caData != "" {
			return nil, fmt.Errorf("%s is not set but %s is; set the proxy's URL too, or remove the proxy's other variables", envKubernetesTokenProxy, firstSet(map[string]string{envKubernetesSNIName: sni, envKubernetesCAFile: caFile, envKubernetesCAData: caData}))
		}
		return nil, nil
	}
	proxy, err := parseTokenProxyURL(raw)
	if err != nil {
		return nil, err
	}
	if caFile != "" && caData != "" {
		return nil, fmt.Errorf("both %s and %s are set; set only one of them", envKubernetesCAFile, envKubernetesCAData)
	}
	t := &tokenProxyTransport{proxy: proxy, sni: sni, caFile: caFile}
	if caData != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(caData)) {
			return nil, fmt.Errorf("%s holds no PEM certificate; set it to the proxy's CA certificate", envKubernetesCAData)
		}
		t.current = t.newHTTPTransport(pool)
	} else if caFile != "" {
		// Read now so that a wrong path fails construction, not the first
		// GetToken.
		if _, err := t.transport(); err != nil {
			return nil, err
		}
	} else {
		t.current = t.newHTTPTransport(nil)
	}
	return t, nil
}

// firstSet names one variable of vars that has a value, for errors.
func firstSet(vars map[string]string) string {
	for _, k := range []string{envKubernetesSNIName, envKubernetesCAFile, envKubernetesCAData} {
		if vars[k] != "" {
			return k
		}
	}
	return ""
}

// parseTokenProxyURL checks the proxy URL: https, and nothing in it that
// rewriting a request's URL would have to drop or merge (credentials, a
// query, a fragment).
func parseTokenProxyURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s is not a URL; set it to the proxy's https URL", envKubernetesTokenProxy)
	}
	switch {
	case u.Scheme != "https":
		return nil, fmt.Errorf("%s must be an https URL, not %q", envKubernetesTokenProxy, u.Scheme)
	case u.Host == "":
		return nil, fmt.Errorf("%s has no host; set it to the proxy's https URL", envKubernetesTokenProxy)
	case u.User != nil:
		return nil, fmt.Errorf("%s must not contain user information", envKubernetesTokenProxy)
	case u.RawQuery != "" || u.ForceQuery:
		return nil, fmt.Errorf("%s must not contain a query", envKubernetesTokenProxy)
	case u.Fragment != "" || u.RawFragment != "":
		return nil, fmt.Errorf("%s must not contain a fragment", envKubernetesTokenProxy)
	}
	if u.EscapedPath() == "" {
		u.Path = "/"
	}
	return u, nil
}

// tokenProxyTransport sends requests to the AKS token proxy. With a CA
// file, the file is re-read for each request, since the cluster rotates it
// in place, and the connection pool is rebuilt when its content changes.
type tokenProxyTransport struct {
	proxy  *url.URL
	sni    string
	caFile string

	mu      sync.Mutex
	caPEM   []byte          // the CA file's content current was built for
	current *http.Transport // nil until a CA is known
}

func (t *tokenProxyTransport) newHTTPTransport(pool *x509.CertPool) *http.Transport {
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        10,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: t.sni},
	}
}

// transport returns the transport for the CA currently configured. The CA
// file is read outside the lock.
func (t *tokenProxyTransport) transport() (*http.Transport, error) {
	if t.caFile == "" {
		return t.current, nil
	}
	pem, readErr := readCAFile(t.caFile)
	t.mu.Lock()
	defer t.mu.Unlock()
	if readErr != nil || len(pem) == 0 {
		// A rotation may leave the file briefly empty or missing: keep
		// using the CA last read, if there is one.
		if t.current != nil {
			return t.current, nil
		}
		if readErr == nil {
			readErr = errors.New("the file is empty")
		}
		return nil, fmt.Errorf("reading the token proxy's CA file %s (%s): %w", t.caFile, envKubernetesCAFile, readErr)
	}
	if t.current != nil && bytes.Equal(pem, t.caPEM) {
		return t.current, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		if t.current != nil {
			return t.current, nil
		}
		return nil, fmt.Errorf("the token proxy's CA file %s (%s) holds no PEM certificate", t.caFile, envKubernetesCAFile)
	}
	if t.current != nil {
		t.current.CloseIdleConnections()
	}
	t.current, t.caPEM = t.newHTTPTransport(pool), pem
	return t.current, nil
}

func readCAFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxProxyCAFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxProxyCAFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxProxyCAFileSize)
	}
	return b, nil
}

// Do implements azcore's policy.Transporter: the request goes to the
// proxy, with the request's path under the proxy's and its query kept.
func (t *tokenProxyTransport) Do(req *http.Request) (*http.Response, error) {
	tr, err := t.transport()
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	u := t.proxy.JoinPath(req.URL.EscapedPath())
	u.RawQuery = req.URL.RawQuery
	out.URL = u
	out.Host = ""
	resp, err := tr.RoundTrip(out)
	if err == nil && resp == nil {
		err = errors.New("the token proxy's transport returned no response")
	}
	return resp, err
}
