package sts

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is a token request that reached a token endpoint and did not yield a
// token: an Entra error, or an answer that is not one (a proxy's HTML page, an
// empty body, a malformed or oversized success).
//
// Every string in it has had the request's secrets removed, and RawResponse is a
// redacted copy, so an Error can be logged, wrapped and kept.
type Error struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Code is Entra's "error", e.g. "invalid_client".
	Code string
	// Description is Entra's "error_description" without the trailing
	// "Trace ID:", "Correlation ID:" and "Timestamp:" lines, which are moved to
	// their own fields.
	Description string
	// ErrorCodes are Entra's numeric AADSTS codes.
	ErrorCodes []int
	// Timestamp is when Entra says the error happened, as Entra wrote it.
	Timestamp string
	// TraceID identifies the request in Entra's logs ("trace_id", else the
	// x-ms-request-id header).
	TraceID string
	// CorrelationID identifies the request to Microsoft support
	// ("correlation_id", else the client-request-id we sent).
	CorrelationID string
	// SubError refines Code, e.g. "consent_required" for "invalid_grant".
	SubError string
	// Claims is a claims challenge (JSON) the client must satisfy in its next
	// request, as sent by Entra for Conditional Access and CAE.
	Claims string
	// RetryAfter is how long the server asked the client to wait (Retry-After,
	// retry-after-ms or x-ms-retry-after-ms); 0 when it did not say.
	RetryAfter time.Duration
	// Message is our explanation when the answer is not an Entra error; empty
	// when Code is set.
	Message string
	// RawResponse is a redacted copy of the answer. Its body can be read again
	// with azcore's runtime.Payload; token fields of a JSON body read "REDACTED",
	// a 2xx body that is not JSON is dropped, and secrets read "[REDACTED]". Its
	// Request has no body and no Authorization or Cookie header. Concurrent
	// readers should each take CloneResponse instead, since reading a body is
	// not safe from several goroutines.
	RawResponse *http.Response

	// text is Error()'s result, composed and then scrubbed as a whole when the
	// error is built: scrubbing each field alone could miss a secret that a
	// server splits across two fields or that matches our own wording.
	text string
	// body is the redacted body behind RawResponse, kept for CloneResponse.
	body []byte
}

// Error describes the failure in one paragraph: where the request went, the
// status, Entra's code and description (or our explanation) and the IDs support
// needs. It never contains a token or a secret of the request. The text is fixed
// when the error is built; later changes to the fields do not alter it.
func (e *Error) Error() string {
	if e.text != "" {
		return e.text
	}
	return e.compose()
}

// RetryAfterDuration returns RetryAfter. The cache engine looks for this method
// through an interface so that it can honour a server's back-off without
// depending on this package.
func (e *Error) RetryAfterDuration() time.Duration { return e.RetryAfter }

// NonRetriable tells azcore's retry policy, should this error surface inside
// another pipeline (a bearer token policy), not to retry: the token request was
// already retried by its own pipeline.
func (*Error) NonRetriable() {}

// CloneResponse returns a fresh copy of RawResponse with its own body reader, for
// a caller that shares this error with others (the cache engine hands one error
// to every waiter) and must not race them reading the body. It returns nil when
// there is no RawResponse.
func (e *Error) CloneResponse() *http.Response {
	if e.RawResponse == nil {
		return nil
	}
	c := *e.RawResponse
	c.Header = e.RawResponse.Header.Clone()
	c.Body = io.NopCloser(bytes.NewReader(e.body))
	c.ContentLength = int64(len(e.body))
	return &c
}

// compose builds the error text from the fields.
func (e *Error) compose() string {
	var b strings.Builder
	where := ""
	if e.RawResponse != nil && e.RawResponse.Request != nil && e.RawResponse.Request.URL != nil {
		u := e.RawResponse.Request.URL
		where = " " + u.Scheme + "://" + u.Host + u.Path
	}
	if where != "" || e.StatusCode != 0 {
		b.WriteString("token endpoint" + where)
		if e.StatusCode != 0 {
			b.WriteString(" answered " + statusText(e.StatusCode))
		}
		b.WriteString(": ")
	}
	switch {
	case e.Code != "":
		b.WriteString(oneLine(e.Code))
		if e.SubError != "" {
			b.WriteString(" (" + oneLine(e.SubError) + ")")
		}
		if d := oneLine(e.Description); d != "" {
			b.WriteString(": " + truncate(d, 2000))
		}
	case e.Message != "":
		b.WriteString(oneLine(e.Message))
	default:
		b.WriteString("the answer was not a token")
	}

	var details []string
	if len(e.ErrorCodes) > 0 {
		codes := make([]string, len(e.ErrorCodes))
		for i, c := range e.ErrorCodes {
			codes[i] = strconv.Itoa(c)
		}
		details = append(details, "error codes: "+strings.Join(codes, ", "))
	}
	for _, d := range []struct{ label, value string }{
		{"trace ID", e.TraceID},
		{"correlation ID", e.CorrelationID},
		{"timestamp", e.Timestamp},
	} {
		if v := oneLine(d.value); v != "" {
			details = append(details, d.label+": "+v)
		}
	}
	if e.Claims != "" {
		details = append(details, "the answer carries a claims challenge")
	}
	if e.RetryAfter > 0 {
		details = append(details, "retry after "+e.RetryAfter.String())
	}
	if len(details) > 0 {
		b.WriteString(" (" + strings.Join(details, "; ") + ")")
	}
	return b.String()
}

// statusText renders a status as "502 Bad Gateway". The reason phrase comes from
// net/http, never from the server, whose phrase is free text it controls.
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return strconv.Itoa(code)
}
