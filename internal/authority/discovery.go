package authority

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"
)

// maxDiscoveryBytes caps how much of a discovery answer is read; a real one is a
// few KiB.
const maxDiscoveryBytes = 1 << 20

// discoveryTimeout bounds one discovery request. The request runs detached from
// any one caller (see Validate), so it needs a deadline of its own; a minute
// leaves room for the pipeline's retries.
const discoveryTimeout = time.Minute

// Discovery validates authority hosts that are not TrustedHost with Entra's
// instance discovery endpoint, the check MSAL performs unless
// DisableInstanceDiscovery is set. A host found valid is remembered for the
// Discovery's lifetime; failures are not, so a transient error costs only that
// attempt. It is safe for concurrent use.
type Discovery struct {
	do       func(*http.Request) (*http.Response, error)
	endpoint string // {discoveryHost}common/discovery/instance

	mu      sync.Mutex
	valid   map[string]struct{}   // hosts Entra confirmed, by lower-case host[:port]
	flights map[string]*discovery // requests in progress, by the same key
}

// discovery is one instance discovery request shared by every caller that asked
// about the same host while it ran.
type discovery struct {
	done chan struct{} // closed when err is set
	err  error
}

// NewDiscovery returns a Discovery that sends requests with do (an azcore
// pipeline adapter or an http.Client's Do; nil means http.DefaultClient) to
// discoveryHost, which defaults to PublicCloudHost. Tests point discoveryHost at
// a local server.
func NewDiscovery(do func(*http.Request) (*http.Response, error), discoveryHost string) *Discovery {
	if do == nil {
		do = http.DefaultClient.Do
	}
	if discoveryHost == "" {
		discoveryHost = PublicCloudHost
	}
	if !strings.HasSuffix(discoveryHost, "/") {
		discoveryHost += "/"
	}
	return &Discovery{
		do:       do,
		endpoint: discoveryHost + "common/discovery/instance",
		valid:    map[string]struct{}{},
		flights:  map[string]*discovery{},
	}
}

// Validate reports whether host may be used as an Entra authority for tenant.
// Trusted hosts and ADFS need no request. For any other host the first call asks
// Entra, and calls for the same host made meanwhile wait for that one answer;
// once Entra confirms a host, later calls return at once.
//
// The request runs apart from the caller that started it, so a caller that gives
// up (its ctx ends) returns ctx's error without failing the others. Entra's
// "invalid_instance" answer yields an *UnknownAuthorityError; other failures are
// returned wrapped and are not remembered.
func (d *Discovery) Validate(ctx context.Context, host *url.URL, tenant string) error {
	if host == nil || host.Host == "" {
		return errors.New("authority: instance discovery needs an authority host")
	}
	if TrustedHost(host.Hostname()) || LocalHost(host.Hostname()) || strings.EqualFold(tenant, ADFSTenant) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("authority: instance discovery for %s: %w", host.Host, err)
	}
	key := strings.ToLower(host.Host)

	d.mu.Lock()
	if _, ok := d.valid[key]; ok {
		d.mu.Unlock()
		return nil
	}
	f, running := d.flights[key]
	if !running {
		f = &discovery{done: make(chan struct{})}
		d.flights[key] = f
		// WithoutCancel keeps ctx's values (logging, tracing) but not its
		// cancellation: this request answers every waiter, not only this one.
		go d.run(context.WithoutCancel(ctx), key, host, tenant, f)
	}
	d.mu.Unlock()

	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return fmt.Errorf("authority: waiting for instance discovery of %s: %w", host.Host, ctx.Err())
	}
}

// run performs one discovery, records a positive answer and releases the waiters.
func (d *Discovery) run(ctx context.Context, key string, host *url.URL, tenant string, f *discovery) {
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	err := d.query(ctx, host, tenant)

	d.mu.Lock()
	if err == nil {
		d.valid[key] = struct{}{}
	}
	delete(d.flights, key)
	d.mu.Unlock()

	f.err = err
	close(f.done)
}

// query asks Entra whether host's authorization endpoint for tenant is one of its
// own.
func (d *Discovery) query(ctx context.Context, host *url.URL, tenant string) error {
	if tenant == "" {
		tenant = "common"
	}
	q := url.Values{}
	q.Set("api-version", "1.1")
	q.Set("authorization_endpoint", "https://"+host.Host+"/"+url.PathEscape(tenant)+"/oauth2/v2.0/authorize")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.endpoint+"?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("authority: instance discovery for %s: %w", host.Host, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.do(req)
	if err != nil {
		// Say what the request was for: the user asked for a token from
		// host, not for a request to Entra's discovery endpoint.
		return fmt.Errorf("authority: %s is not one of Entra's published authority hosts, so azid asked Entra's instance discovery (%s) about it, which failed: %w. "+
			"For an emulator, a private cloud or a network without access to Entra, set DisableInstanceDiscovery in the credential options", host.Host, req.URL.Host, err)
	}
	if resp == nil || resp.Body == nil {
		return fmt.Errorf("authority: instance discovery for %s got no response", host.Host)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryBytes+1))
	if err != nil {
		return fmt.Errorf("authority: instance discovery for %s: reading the answer: %w", host.Host, err)
	}
	if len(body) > maxDiscoveryBytes {
		return fmt.Errorf("authority: instance discovery for %s: the answer exceeds 1 MiB", host.Host)
	}

	return discoveryVerdict(host, resp.StatusCode, body)
}

// discoveryVerdict interprets an instance discovery answer for host: nil when
// Entra names a tenant discovery endpoint for it, an *UnknownAuthorityError
// when Entra says the instance is invalid, and a descriptive error otherwise.
func discoveryVerdict(host *url.URL, status int, body []byte) error {
	var answer struct {
		TenantDiscoveryEndpoint string `json:"tenant_discovery_endpoint"`
		Error                   string `json:"error"`
		ErrorDescription        string `json:"error_description"`
	}
	jsonErr := json.Unmarshal(body, &answer)
	if status == http.StatusOK && jsonErr == nil && answer.TenantDiscoveryEndpoint != "" {
		return nil
	}
	desc := firstLine(answer.ErrorDescription)
	if answer.Error == "invalid_instance" {
		return &UnknownAuthorityError{Host: host.Scheme + "://" + host.Host + "/", Description: desc}
	}
	msg := fmt.Sprintf("authority: instance discovery for %s answered %d %s", host.Host, status, http.StatusText(status))
	switch {
	case answer.Error != "":
		msg += ": " + firstLine(answer.Error)
		if desc != "" {
			msg += ": " + desc
		}
	case status == http.StatusOK:
		msg += " without a tenant_discovery_endpoint"
	default:
		msg += " without an Entra error (a proxy or gateway may be in the way)"
	}
	return errors.New(msg)
}

// firstLine keeps the first line of server text, without control characters and
// at most 300 bytes, so that it reads as part of a one-line error.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}
