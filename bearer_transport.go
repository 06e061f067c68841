package azid

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/internal/challenge"
)

// BearerTokenTransportOptions configures a [BearerTokenTransport]. The zero
// value is ready to use.
type BearerTokenTransportOptions struct {
	// TenantID asks for tokens from this tenant instead of the credential's
	// default; the credential must allow it.
	TenantID string

	// InsecureAllowLoopbackHTTP lets the transport send tokens over plain
	// http to a loopback host (127.0.0.0/8, ::1, "localhost"), for tests
	// against local servers. Tokens never go over http to any other host.
	InsecureAllowLoopbackHTTP bool
}

// BearerTokenTransport is an [http.RoundTripper] that authorizes requests
// with tokens from an [azcore.TokenCredential], for code that calls
// Entra-protected APIs with net/http rather than an Azure SDK client.
//
// It keeps no token of its own: every request asks the credential, whose
// cache answers in about a hundred nanoseconds, so the transport never serves a
// token the credential has already replaced and needs no refresh logic. A
// credential that azid's engine does not back is wrapped in a
// [CachingCredential] first.
//
// On a 401 it retries once: with the claims of a Continuous Access
// Evaluation challenge (WWW-Authenticate: Bearer error="insufficient_claims",
// claims="…") when the response has one; otherwise with a new token, after
// dropping the rejected token from the credential's cache. The rejected
// token is dropped by value, so when many requests fail with the same token
// at once, the credential requests one new token, not one per request. A
// request whose body cannot be replayed (no GetBody) is not retried.
//
// Tokens are requested with EnableCAE, as Azure SDK clients do, so a
// transport and an SDK client sharing a credential share its cached token.
//
// The transport authorizes every request it is given, whatever the host, as
// oauth2.Transport does: use it only in clients that call the API the
// scopes are for. As the [http.RoundTripper] contract requires, it never
// modifies the caller's request: the header goes on a copy, so requests
// that share one Header map, or one request without a body, may go through
// it from many goroutines at once.
type BearerTokenTransport struct {
	cred      azcore.TokenCredential
	base      http.RoundTripper
	opts      policy.TokenRequestOptions
	allowHTTP bool
	// auth caches the Authorization header value for the current token, so
	// that a request with a cached token allocates nothing.
	auth atomic.Pointer[authHeader]
}

type authHeader struct {
	token  string
	values []string // {"Bearer " + token}, len and cap 1
}

// NewBearerTokenTransport returns a transport that adds tokens for scopes
// from cred to requests sent through base (http.DefaultTransport when nil).
// Pass nil options for the defaults.
func NewBearerTokenTransport(cred azcore.TokenCredential, scopes []string, base http.RoundTripper, options *BearerTokenTransportOptions) (*BearerTokenTransport, error) {
	if options == nil {
		options = &BearerTokenTransportOptions{}
	}
	if len(scopes) == 0 {
		return nil, errors.New("azid: NewBearerTokenTransport needs at least one scope, such as \"https://management.azure.com/.default\"")
	}
	cred, err := withEngine(cred)
	if err != nil {
		return nil, fmt.Errorf("azid: NewBearerTokenTransport: %w", err)
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return &BearerTokenTransport{
		cred:      cred,
		base:      base,
		opts:      policy.TokenRequestOptions{Scopes: append([]string(nil), scopes...), TenantID: options.TenantID, EnableCAE: true},
		allowHTTP: options.InsecureAllowLoopbackHTTP,
	}, nil
}

// RoundTrip sends a copy of req with an Authorization header; req itself
// is not modified. Its body is closed, as the RoundTripper contract asks,
// also when no request is sent.
func (t *BearerTokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.checkScheme(req); err != nil {
		closeBody(req)
		return nil, err
	}
	tok, err := t.cred.GetToken(req.Context(), t.opts)
	if err != nil {
		closeBody(req)
		return nil, fmt.Errorf("azid: getting a token for %s: %w", req.URL.Host, err)
	}
	resp, err := t.base.RoundTrip(t.authorized(req, req.Body, tok.Token))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	return t.retry(req, resp, tok.Token)
}

// authorized returns a copy of req with body and an Authorization header
// for tok, as x/oauth2's Transport makes one: a shallow copy of the
// request and a new Header map, the cheapest copy that leaves req as it
// was. The header values are shared with req, capped at their length so
// that an append by a later transport copies instead of writing into the
// caller's arrays. The Authorization value built for the same token by an
// earlier request is reused, so a request with a cached token allocates
// only the copy.
func (t *BearerTokenTransport) authorized(req *http.Request, body io.ReadCloser, tok string) *http.Request {
	a := t.auth.Load()
	if a == nil || a.token != tok {
		a = &authHeader{token: tok, values: []string{"Bearer " + tok}}
		t.auth.Store(a)
	}
	r2 := new(http.Request)
	*r2 = *req
	r2.Body = body
	r2.Header = make(http.Header, len(req.Header)+1)
	for k, v := range req.Header {
		r2.Header[k] = v[:len(v):len(v)]
	}
	r2.Header["Authorization"] = a.values[:1:1]
	return r2
}

// retry handles a 401: one more attempt with a CAE challenge's claims, or
// with a new token. It returns resp untouched when there is nothing to
// retry with.
func (t *BearerTokenTransport) retry(req *http.Request, resp *http.Response, rejected string) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil // the body is spent and cannot be replayed
	}
	opts := t.opts
	claims, isCAE, err := caeClaims(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		drain(resp)
		return nil, fmt.Errorf("azid: %s answered 401 with a claims challenge azid cannot use: %w", req.URL.Host, err)
	}
	if isCAE {
		opts.Claims = claims
	} else if inv, ok := t.cred.(invalidator); ok {
		inv.invalidate(opts, rejected)
	}
	tok, err := t.cred.GetToken(req.Context(), opts)
	if err != nil {
		drain(resp)
		return nil, fmt.Errorf("azid: getting a new token for %s after a 401: %w", req.URL.Host, err)
	}
	if !isCAE && tok.Token == rejected {
		// The credential has nothing newer; sending the same token again
		// would only fail again.
		return resp, nil
	}
	// The first attempt's body was consumed and closed by the base
	// transport: the retry sends a fresh one from GetBody.
	body := req.Body
	if body != nil && body != http.NoBody {
		if body, err = req.GetBody(); err != nil {
			drain(resp)
			return nil, fmt.Errorf("azid: rewinding the request body to retry after a 401: %w", err)
		}
	}
	drain(resp)
	return t.base.RoundTrip(t.authorized(req, body, tok.Token))
}

// checkScheme refuses to put a token on a request that is not https, unless
// it goes to a loopback host and the options allow that.
func (t *BearerTokenTransport) checkScheme(req *http.Request) error {
	if req.URL == nil {
		return errors.New("azid: BearerTokenTransport: the request has no URL")
	}
	switch req.URL.Scheme {
	case "https":
		return nil
	case "http":
		if t.allowHTTP && isLoopbackHost(req.URL.Hostname()) {
			return nil
		}
	}
	return fmt.Errorf("azid: BearerTokenTransport refuses to send a token to %s://%s: tokens are sent only over https (loopback http only with InsecureAllowLoopbackHTTP)",
		req.URL.Scheme, req.URL.Host)
}

// maxDecodedClaims bounds a claims challenge; real ones are a few hundred
// bytes of JSON.
const maxDecodedClaims = 16 << 10

// caeClaims finds a CAE claims challenge among WWW-Authenticate values and
// returns its decoded claims. A challenge whose claims are not base64 JSON
// is an error: retrying without them cannot succeed.
func caeClaims(values []string) (claims string, ok bool, err error) {
	if len(values) == 0 {
		return "", false, nil
	}
	for _, c := range challenge.Parse(values) {
		if !strings.EqualFold(c.Scheme, "Bearer") || c.Param("error") != "insufficient_claims" {
			continue
		}
		enc := c.Param("claims")
		if enc == "" {
			continue
		}
		if base64.StdEncoding.DecodedLen(len(enc)) > maxDecodedClaims {
			return "", false, fmt.Errorf("the claims are %d bytes long, more than the %d azid accepts", len(enc), maxDecodedClaims)
		}
		b, err := decodeBase64Any(enc)
		if err != nil {
			return "", false, errors.New("the claims parameter is not base64")
		}
		s := strings.TrimSpace(string(b))
		if !strings.HasPrefix(s, "{") {
			return "", false, errors.New("the decoded claims are not a JSON object")
		}
		return s, true, nil
	}
	return "", false, nil
}

// decodeBase64Any accepts the standard and URL alphabets, padded or not:
// services differ in which they send.
func decodeBase64Any(s string) ([]byte, error) {
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		var b []byte
		if b, err = enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, err
}

// isLoopbackHost reports whether host is a loopback IP literal or
// "localhost". Other names are refused even if they resolve to a loopback
// address, because resolution can change between check and use.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// drain reads a little of a response body we are discarding, so its
// connection can be reused, and closes it.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	_ = resp.Body.Close()
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

var _ http.RoundTripper = (*BearerTokenTransport)(nil)
