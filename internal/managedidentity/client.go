package managedidentity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/azid-go/azid/internal/sts"
)

// Client gets tokens from one managed identity source. It is immutable
// after New and safe for concurrent use.
type Client struct {
	source   Source
	id       ID
	endpoint *url.URL // the token endpoint as configured; a query it has is kept
	// secret authenticates requests to the endpoint (App Service's
	// IDENTITY_HEADER, Service Fabric's, Azure ML's MSI_SECRET). It is
	// scrubbed from every error.
	secret string
	// mlClientID is Azure ML's clientid parameter.
	mlClientID string
	// arcKeyDir is where Azure Arc's key files must be.
	arcKeyDir, goos string
	// thumbprint pins Service Fabric's certificate (SHA-1 of its DER).
	thumbprint []byte
	now        func() time.Time
}

// New detects the source from the environment and prepares its requests.
// It fails when the environment is malformed (an endpoint that is not an
// http(s) URL, a bad thumbprint) or when the source cannot honour o.ID; the
// error names the source and says what to change.
func New(o Options) (*Client, error) {
	if o.ID.Kind != SystemAssigned && strings.TrimSpace(o.ID.Value) == "" {
		return nil, errors.New("the user-assigned identity's ID is empty; leave ID unset for the system-assigned identity")
	}
	c := &Client{source: detect(&o), id: o.ID, goos: o.goos(), now: o.Now}
	if c.now == nil {
		c.now = time.Now
	}
	var err error
	switch c.source {
	case AppService:
		err = c.setupAppService(&o)
	case ServiceFabric:
		err = c.setupServiceFabric(&o)
	case AzureML:
		err = c.setupAzureML(&o)
	case CloudShell:
		err = c.setupCloudShell(&o)
	case AzureArc:
		err = c.setupArc(&o)
	default:
		err = c.setupIMDS(&o)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Source is the detected source.
func (c *Client) Source() Source { return c.source }

// ID is the identity the client authenticates.
func (c *Client) ID() ID { return c.id }

// Endpoint is the token endpoint, without query, for messages.
func (c *Client) Endpoint() string {
	u := *c.endpoint
	u.RawQuery = ""
	return u.String()
}

// Token gets a token for resource (an audience such as
// "https://management.azure.com", not a scope) through pl.
//
// Errors: *ResponseError when the endpoint answered without a usable token;
// otherwise the request failed (transport, context) or, on Azure Arc, the
// key file was refused, and the error says which.
func (c *Client) Token(ctx context.Context, pl runtime.Pipeline, resource string) (Token, error) {
	if resource == "" {
		return Token{}, errors.New("the resource is empty")
	}
	switch c.source {
	case AppService:
		return c.appServiceToken(ctx, pl, resource)
	case ServiceFabric:
		return c.serviceFabricToken(ctx, pl, resource)
	case AzureML:
		return c.azureMLToken(ctx, pl, resource)
	case CloudShell:
		return c.cloudShellToken(ctx, pl, resource)
	case AzureArc:
		return c.arcToken(ctx, pl, resource)
	}
	return c.imdsToken(ctx, pl, resource)
}

// selector adds the user-assigned identity to q with the parameter names
// the source expects for a resource ID (IMDS and Arc: msi_res_id; App
// Service: mi_res_id).
func (c *Client) selector(q url.Values, resourceIDParam string) {
	switch c.id.Kind {
	case ClientID:
		q.Set("client_id", c.id.Value)
	case ObjectID:
		q.Set("object_id", c.id.Value)
	case ResourceID:
		q.Set(resourceIDParam, c.id.Value)
	}
}

// exchange is one request to the endpoint.
type exchange struct {
	method string
	query  url.Values
	header http.Header
	form   url.Values // POST body, when set
	// secrets sent with the request, scrubbed from errors.
	secrets []string
}

// send performs x and returns the answer with its body read (at most
// sts.MaxResponseBytes) and closed.
func (c *Client) send(ctx context.Context, pl runtime.Pipeline, x exchange) (*http.Response, []byte, error) {
	// The source's parameters join any the endpoint came with.
	u := *c.endpoint
	q := u.Query()
	for k, vs := range x.query {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	req, err := runtime.NewRequest(ctx, x.method, u.String())
	if err != nil {
		return nil, nil, fmt.Errorf("%s managed identity: building the request: %w", c.source, err)
	}
	if x.form != nil {
		if err := req.SetBody(streaming.NopCloser(bytes.NewReader([]byte(x.form.Encode()))), "application/x-www-form-urlencoded"); err != nil {
			return nil, nil, fmt.Errorf("%s managed identity: building the request: %w", c.source, err)
		}
	}
	for k, vs := range x.header {
		for _, v := range vs {
			req.Raw().Header.Add(k, v)
		}
	}
	req.Raw().Header.Set("Accept", "application/json")
	runtime.SkipBodyDownload(req)
	resp, err := pl.Do(req)
	if err != nil {
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		hung := errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
		return nil, nil, &RequestError{Source: c.source, Endpoint: c.Endpoint(), Err: err, text: scrub(err.Error(), x.secrets), hung: hung}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, sts.MaxResponseBytes+1))
	_ = resp.Body.Close() // the answer is read or rejected; a close error changes nothing
	if err != nil {
		hung := errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
		return nil, nil, &RequestError{Source: c.source, Endpoint: c.Endpoint(), Err: err, text: scrub("reading the answer: "+err.Error(), x.secrets), hung: hung}
	}
	if len(body) > sts.MaxResponseBytes {
		return resp, nil, c.responseError(resp, nil, x.secrets, "the answer exceeds 1 MiB")
	}
	return resp, body, nil
}

// result turns an answer into a token or a *ResponseError.
func (c *Client) result(resp *http.Response, body []byte, secrets []string) (Token, error) {
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return Token{}, c.responseError(resp, body, secrets, "")
	}
	t, err := ParseResponse(body, c.now())
	if err != nil {
		e := c.responseError(resp, body, secrets, err.Error())
		e.Malformed = true
		return Token{}, e
	}
	return t, nil
}

// RequestError is a request that got no answer: the endpoint is not there,
// the connection failed or timed out, or the context ended.
type RequestError struct {
	Source   Source
	Endpoint string
	Err      error
	text     string
	hung     bool
}

// Hung reports whether the request got no answer within its try timeout
// while the acquisition still had time: the endpoint hung. The cache
// engine looks for this method (tokencache.HungError).
func (e *RequestError) Hung() bool { return e.hung }

func (e *RequestError) Error() string {
	return fmt.Sprintf("%s managed identity endpoint %s did not answer: %s", e.Source, e.Endpoint, e.text)
}

// Unwrap returns the cause, so errors.Is(err, context.DeadlineExceeded)
// works.
func (e *RequestError) Unwrap() error { return e.Err }

// ResponseError is an answer without a usable token: an error status, or a
// success whose body is not a token response.
type ResponseError struct {
	Source     Source
	Endpoint   string
	StatusCode int
	// Detail is what the endpoint said (its error message, or the title of
	// an error page), or why a successful answer was unusable. Secrets are
	// removed; a successful answer's body is never quoted.
	Detail string
	// Malformed is set for a 2xx answer that is not a usable token response.
	Malformed bool
	// Unreachable is set for IMDS's address answered 403 by a relay that
	// cannot reach IMDS (Docker Desktop's says "…unreachable network"):
	// there is no managed identity here.
	Unreachable bool
	// Err is the answer as internal/sts reads it: the error fields, a
	// redacted copy of the response, and Retry-After.
	Err *sts.Error
}

func (c *Client) responseError(resp *http.Response, body []byte, secrets []string, detail string) *ResponseError {
	e := &ResponseError{
		Source:     c.source,
		Endpoint:   c.Endpoint(),
		StatusCode: resp.StatusCode,
		Err:        sts.ParseError(resp, body, secrets...),
	}
	if detail == "" {
		detail = describe(body, e.Err)
	}
	e.Detail = scrub(detail, secrets)
	return e
}

func (e *ResponseError) Error() string {
	status := fmt.Sprint(e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		status += " " + t
	}
	s := fmt.Sprintf("%s managed identity endpoint %s answered %s", e.Source, e.Endpoint, status)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if ra := e.RetryAfterDuration(); ra > 0 {
		s += fmt.Sprintf(" (retry after %s)", ra)
	}
	return s
}

// Unwrap returns the *sts.Error.
func (e *ResponseError) Unwrap() error { return e.Err }

// RetryAfterDuration is the endpoint's Retry-After, 0 when it sent none.
func (e *ResponseError) RetryAfterDuration() time.Duration {
	if e.Err == nil {
		return 0
	}
	return e.Err.RetryAfter
}

// describe extracts what an error answer says. The sources use several
// shapes: OAuth ({"error", "error_description"}: IMDS, Arc) and Service
// Fabric's {"error": {"code", "message"}}, which internal/sts reads (and
// strips of Entra's trailing trace lines), App Service's {"statusCode",
// "message"}, which it does not; anything else is described by sts (an HTML
// page's title, the start of a text body).
func describe(body []byte, se *sts.Error) string {
	if se.Code != "" {
		if se.Description == "" {
			return oneLine(se.Code)
		}
		return oneLine(se.Code + ": " + se.Description)
	}
	var v struct {
		Message string `json:"message"`
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &v) == nil && v.Message != "" {
		return oneLine(v.Message)
	}
	return oneLine(se.Message)
}

// oneLine flattens s to one line of at most 300 runes, so an error page
// cannot flood a log.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "\uFFFD")), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}

// scrub removes secrets from s, in every encoding internal/sts looks for:
// an endpoint that echoes its request may quote the secret header escaped.
func scrub(s string, secrets []string) string {
	return sts.Scrub(s, secrets...)
}

// parseEndpoint checks an endpoint URL from the environment or options.
// Managed identity endpoints are local to the host: loopback (App Service
// on Windows, Cloud Shell, Arc, Azure ML), link-local (IMDS, App Service on
// Linux) or a private address (AKS pod identity). Plain http is accepted
// only for such addresses; anything else must be https, so that a token
// never crosses a network in clear text.
func parseEndpoint(name, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%s must be an absolute http or https URL, such as http://127.0.0.1:41741/msi/token", name)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s must not contain a user name or password", name)
	}
	if u.Scheme == "http" && !localHost(u.Hostname()) {
		return nil, fmt.Errorf("%s uses http with host %q: plain http is allowed only to loopback, link-local and private addresses; use https", name, u.Hostname())
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// localHost reports whether host is "localhost" or a loopback, link-local
// or private IP address.
func localHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	return a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsPrivate()
}

// withRetries is ctx with the pipeline's retries turned off, for requests
// whose failure is itself the answer (the IMDS probe, Arc's challenge).
func withoutRetries(ctx context.Context) context.Context {
	return policy.WithRetryOptions(ctx, policy.RetryOptions{MaxRetries: -1})
}
