package sts

import (
	"context"
	"errors"
	"net/url"
)

// RequestError is a token request that got no answer from the endpoint: it
// could not be built, the transport failed, or the context ended. Its text names
// the endpoint's host and is scrubbed of the request's secrets; Unwrap gives the
// cause, so errors.Is(err, context.Canceled) and the like work.
type RequestError struct {
	// Host is the token endpoint's host.
	Host string
	// Err is the cause.
	Err error

	text string // composed and scrubbed when built
	hung bool
}

// Hung reports whether the request got no answer within its try timeout
// while the acquisition still had time: the endpoint hung. The cache
// engine looks for this method (tokencache.HungError) to give the callers
// waiting on the acquisition a fresh one.
func (e *RequestError) Hung() bool { return e.hung }

// markHung sets e's Hung from the failure cause of a request sent with ctx.
func (e *RequestError) markHung(ctx context.Context, cause error) *RequestError {
	e.hung = errors.Is(cause, context.DeadlineExceeded) && ctx.Err() == nil
	return e
}

// newRequestError wraps cause with what was being done and where.
func newRequestError(u *url.URL, doing string, cause error, sc scrubber) *RequestError {
	return &RequestError{
		Host: u.Host,
		Err:  cause,
		text: sc.String("sts: " + doing + " (" + u.Host + "): " + cause.Error()),
	}
}

// Error describes the failure, without the request's secrets.
func (e *RequestError) Error() string {
	if e.text != "" {
		return e.text
	}
	// Built by hand rather than by this package: nothing was scrubbed, and
	// nothing secret was handed to us either.
	if e.Err == nil {
		return "sts: token request to " + e.Host + " failed"
	}
	return "sts: token request to " + e.Host + " failed: " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }
