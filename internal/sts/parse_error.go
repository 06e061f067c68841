package sts

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// ParseError turns a token endpoint's answer into an *Error. resp supplies the
// status and headers (it may be nil); body is the answer's body, already read.
// secrets are the values the request sent that must not survive into the error:
// every string in it, and its RawResponse, has them replaced by "[REDACTED]"
// (secrets shorter than 4 bytes are left alone, to avoid mangling the text).
//
// An Entra error (a JSON object with "error") fills the Entra fields; anything
// else gets a Message that says what arrived instead, which usually points at a
// proxy or gateway between the client and Entra.
func ParseError(resp *http.Response, body []byte, secrets ...string) *Error {
	return parseError(resp, body, newScrubber(secrets))
}

// parseError is ParseError with the scrubber already built.
func parseError(resp *http.Response, body []byte, sc scrubber) *Error {
	e := &Error{}
	status := 0
	var h http.Header
	if resp != nil {
		status = resp.StatusCode
		h = resp.Header
	}
	e.StatusCode = status
	trimmed := bytes.TrimSpace(trimBOM(body))
	if fields, ok := jsonObject(trimmed); ok {
		if !fillEntraError(e, fields) {
			e.Message = "the answer is JSON but not an Entra error"
		}
	} else {
		e.Message = describeBody(status, h.Get("Content-Type"), trimmed, sc)
	}
	e.finish(resp, body, sc)
	return e
}

// newResponseError builds the Error for an answer we describe ourselves (an
// oversized body, a malformed success), with the same redaction as ParseError.
func newResponseError(resp *http.Response, body []byte, message string, sc scrubber) *Error {
	e := &Error{Message: message}
	if resp != nil {
		e.StatusCode = resp.StatusCode
	}
	e.finish(resp, body, sc)
	return e
}

// finish completes an Error: IDs and Retry-After from the headers when the body
// lacked them, every string scrubbed, the redacted RawResponse, and the text.
func (e *Error) finish(resp *http.Response, body []byte, sc scrubber) {
	if resp != nil {
		e.RetryAfter = retryAfter(resp.Header, time.Now())
		if e.TraceID == "" {
			// Entra's x-ms-request-id is the trace ID of the request.
			e.TraceID = resp.Header.Get("X-Ms-Request-Id")
		}
		if e.CorrelationID == "" {
			// Entra echoes our client-request-id (we ask it to) and uses it as
			// the correlation ID; the request still has it if the echo is lost.
			e.CorrelationID = resp.Header.Get("Client-Request-Id")
			if e.CorrelationID == "" && resp.Request != nil {
				e.CorrelationID = resp.Request.Header.Get("Client-Request-Id")
			}
		}
	}
	e.Code = display(sc, e.Code, 200)
	e.SubError = display(sc, e.SubError, 200)
	e.TraceID = display(sc, e.TraceID, 200)
	e.CorrelationID = display(sc, e.CorrelationID, 200)
	e.Timestamp = display(sc, e.Timestamp, 200)
	e.Description = sc.String(strings.ToValidUTF8(e.Description, "\uFFFD"))
	e.Claims = sc.String(e.Claims)
	e.Message = sc.String(e.Message)
	if resp != nil {
		e.body = redactBody(resp.StatusCode, body, sc)
		e.RawResponse = keptResponse(resp, e.body, sc)
	}
	e.text = sc.String(e.compose())
}

// jsonObject decodes body as a JSON object, reporting false for anything else.
func jsonObject(body []byte) (map[string]json.RawMessage, bool) {
	if len(body) == 0 || body[0] != '{' {
		return nil, false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, false
	}
	return fields, true
}

// fillEntraError copies Entra's error fields into e, tolerating wrong types
// field by field: a half-readable error is still worth reporting. It reports
// false when fields is not an error at all. Besides Entra's OAuth shape
// ({"error": "invalid_client", ...}) it reads the Azure shape
// ({"error": {"code": ..., "message": ...}}) that gateways in front of Entra use.
func fillEntraError(e *Error, fields map[string]json.RawMessage) bool {
	var nested struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	switch {
	case jsonString(fields["error"]) != "":
		e.Code = jsonString(fields["error"])
	case json.Unmarshal(fields["error"], &nested) == nil && nested.Code != "":
		e.Code, e.Description = nested.Code, nested.Message
		return true
	default:
		return false
	}
	e.SubError = jsonString(fields["suberror"])
	e.Claims = jsonString(fields["claims"])
	e.TraceID = jsonString(fields["trace_id"])
	e.CorrelationID = jsonString(fields["correlation_id"])
	e.Timestamp = jsonString(fields["timestamp"])
	e.ErrorCodes = jsonInts(fields["error_codes"])

	desc, ids := splitDescription(jsonString(fields["error_description"]))
	e.Description = desc
	if e.TraceID == "" {
		e.TraceID = ids.traceID
	}
	if e.CorrelationID == "" {
		e.CorrelationID = ids.correlationID
	}
	if e.Timestamp == "" {
		e.Timestamp = ids.timestamp
	}
	return true
}

// jsonString decodes raw as a string, or returns "" if it is not one.
func jsonString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// jsonInts decodes raw as an array of integers, skipping elements that are not
// integers that fit an int. At most 32 are kept: Entra sends one or two.
func jsonInts(raw json.RawMessage) []int {
	var items []json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &items) != nil {
		return nil
	}
	var out []int
	for _, it := range items {
		var n int
		if json.Unmarshal(it, &n) == nil {
			out = append(out, n)
			if len(out) == 32 {
				break
			}
		}
	}
	return out
}

// descriptionIDs are the IDs Entra appends to error_description.
type descriptionIDs struct {
	traceID, correlationID, timestamp string
}

// splitDescription separates Entra's message from the lines it appends to
// error_description ("\r\nTrace ID: …\r\nCorrelation ID: …\r\nTimestamp: …").
// Those lines repeat the JSON fields and make a one-line error unreadable, so
// the description keeps only the text before the first of them, and the values
// are returned for errors whose JSON lacks the dedicated fields.
func splitDescription(desc string) (string, descriptionIDs) {
	var ids descriptionIDs
	lines := strings.Split(desc, "\n")
	cut := len(lines)
	for i, line := range lines {
		line = strings.TrimSpace(line)
		for _, f := range []struct {
			prefix string
			dst    *string
		}{
			{"trace id:", &ids.traceID},
			{"correlation id:", &ids.correlationID},
			{"timestamp:", &ids.timestamp},
		} {
			if len(line) >= len(f.prefix) && strings.EqualFold(line[:len(f.prefix)], f.prefix) {
				if *f.dst == "" {
					*f.dst = strings.TrimSpace(line[len(f.prefix):])
				}
				cut = min(cut, i)
			}
		}
	}
	return strings.TrimSpace(strings.Join(lines[:cut], "\n")), ids
}
