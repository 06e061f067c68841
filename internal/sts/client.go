package sts

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
)

// Client sends token requests to Entra token endpoints. It is safe for
// concurrent use and holds no state besides its pipeline.
type Client struct {
	pl   runtime.Pipeline
	opts ClientOptions
}

// ClientOptions configures a Client.
type ClientOptions struct {
	// AllowInsecureLoopback lets the client send requests to http:// endpoints
	// on a loopback host (127.0.0.0/8, ::1, "localhost"). It exists for tests
	// against local emulators; otherwise only https endpoints are contacted,
	// because every token request carries a credential.
	AllowInsecureLoopback bool
	// Retry is a copy of the retry options the pipeline was built with, for
	// [Client.AttemptContext]. The zero value is azcore's defaults.
	Retry policy.RetryOptions
}

// NewClient returns a Client that sends requests through pl, typically
// azcore.NewClient(...).Pipeline(), so that token requests get azcore's retry,
// logging, tracing and the user's transport. Build that client with
// Transport: LimitResponseBodies(...) to bound what azcore itself reads,
// and with [ResignPolicy] among its PerRetry policies when requests use
// [TokenOptions.Resign].
func NewClient(pl runtime.Pipeline, o ClientOptions) *Client {
	return &Client{pl: pl, opts: o}
}

// AttemptContext is [AttemptContext] with the client's retry options: call
// it on the context of a token request the cache engine asked for, with the
// engine's Request.Background.
func (c *Client) AttemptContext(ctx context.Context, background bool) context.Context {
	return AttemptContext(ctx, c.opts.Retry, background)
}

// Token POSTs form to endpoint and parses the answer.
//
// secrets are the values of form that are credentials (client secret, client
// assertion, refresh token, password, authorization code, user assertion…).
// They are removed from everything that outlives the call: a returned *Error,
// its text and its RawResponse, and the text of any other returned error.
//
// Errors: an *Error when the endpoint answered without a usable token (an Entra
// error, a non-Entra answer, a malformed or over-1-MiB response); otherwise the
// endpoint was refused before sending, or the transport failed, and the error
// wraps the cause (so errors.Is(err, context.Canceled) works).
func (c *Client) Token(ctx context.Context, endpoint string, form url.Values, secrets ...string) (*TokenResponse, error) {
	return c.TokenWithOptions(ctx, endpoint, form, TokenOptions{}, secrets...)
}

// TokenWithOptions is [Client.Token] with options. With o.Resign, the
// secrets every try's form carried are scrubbed, not only those of form.
func (c *Client) TokenWithOptions(ctx context.Context, endpoint string, form url.Values, o TokenOptions, secrets ...string) (*TokenResponse, error) {
	u, err := checkEndpoint(endpoint, c.opts.AllowInsecureLoopback)
	if err != nil {
		return nil, err
	}
	sc := newScrubber(secrets)
	req, err := newTokenRequest(ctx, u, form)
	if err != nil {
		return nil, newRequestError(u, "could not build the token request", err, sc)
	}
	var st *resignState
	if o.Resign != nil {
		st = &resignState{resign: o.Resign}
		req.SetOperationValue(st)
	}
	resp, err := c.pl.Do(req)
	if st != nil {
		if more := st.allSecrets(); len(more) > 0 {
			sc = newScrubber(append(append([]string(nil), secrets...), more...))
		}
	}
	if err != nil {
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		return nil, newRequestError(u, "token request failed", err, sc).markHung(ctx, err)
	}
	body, tooLarge, err := readCapped(resp.Body)
	// The answer is fully read or rejected; a close error changes nothing.
	_ = resp.Body.Close()
	if err != nil {
		return nil, newRequestError(u, "reading the token response failed", err, sc).markHung(ctx, err)
	}
	if tooLarge {
		return nil, newResponseError(resp, nil, "token endpoint response exceeds 1 MiB", sc)
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return nil, parseError(resp, body, sc)
	}
	tr, err := ParseTokenResponse(body)
	if err != nil {
		if fields, ok := jsonObject(bytes.TrimSpace(trimBOM(body))); ok && jsonString(fields["error"]) != "" {
			// An Entra error under a success status (some gateways and ADFS
			// versions do this) is reported as the error it is.
			return nil, parseError(resp, body, sc)
		}
		var pe *Error
		msg := "the token response is not usable"
		if errors.As(err, &pe) {
			msg = pe.Message
		}
		return nil, newResponseError(resp, body, msg, sc)
	}
	return tr, nil
}

// newTokenRequest builds the POST. The body is a seekable reader so azcore's
// retry policy can resend it; GetBody is then cleared so that net/http cannot
// follow a 307/308 redirect by replaying the form, credentials included, to
// wherever the Location header points. Entra never redirects a token request.
//
// The context is given a capture-response slot of its own: a caller's
// policy.WithCaptureResponse (set for the Azure SDK call that needed the
// token) must never receive the token endpoint's response, which holds the
// token, and the request may run on another goroutine after that caller left.
func newTokenRequest(ctx context.Context, u *url.URL, form url.Values) (*policy.Request, error) {
	ctx = policy.WithCaptureResponse(ctx, new(*http.Response))
	req, err := runtime.NewRequest(ctx, http.MethodPost, u.String())
	if err != nil {
		return nil, err
	}
	if err := req.SetBody(streaming.NopCloser(bytes.NewReader([]byte(form.Encode()))), "application/x-www-form-urlencoded"); err != nil {
		return nil, err
	}
	raw := req.Raw()
	raw.GetBody = nil
	h := raw.Header
	h.Set("Accept", "application/json")
	h.Set("Client-Request-Id", newRequestID())
	h.Set("Return-Client-Request-Id", "true")
	h.Set("X-Client-Sku", SKU)
	h.Set("X-Client-Ver", Version)
	// Token calls read the body themselves, with a cap; azcore's download
	// would read a 2xx body whole first.
	runtime.SkipBodyDownload(req)
	return req, nil
}
