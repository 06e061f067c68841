package sts

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// redactedToken replaces the value of a token field in a kept response body.
const redactedToken = "REDACTED"

// isTokenField reports whether a JSON key holds a token. A token endpoint puts
// them under these names; a 2xx answer we reject may still carry a valid one.
func isTokenField(key string) bool {
	return strings.EqualFold(key, "access_token") ||
		strings.EqualFold(key, "refresh_token") ||
		strings.EqualFold(key, "id_token")
}

// redactBody returns the body to keep in an Error's RawResponse. A JSON body is
// decoded and re-encoded with token fields replaced and secrets scrubbed from
// every string, so that an escaped echo (\u0073ecret) is caught after decoding.
// Any other 2xx body is dropped: it answered a token request and we cannot tell
// where in it a token might be. Any other error body is kept, scrubbed.
func redactBody(status int, body []byte, sc scrubber) []byte {
	success := status >= 200 && status < 300
	trimmed := bytes.TrimSpace(trimBOM(body))
	if len(trimmed) == 0 {
		return nil
	}
	if out, ok := redactJSON(trimmed, sc); ok && (!success || trimmed[0] == '{') {
		return sc.Bytes(out)
	}
	if success {
		return nil
	}
	out := sc.Bytes(body)
	if sc.foundInDecodedViews(string(out)) {
		// The secret is still there under an encoding we cannot cut out in
		// place (HTML entities, split across lines): keep nothing.
		return nil
	}
	return out
}

// redactJSON re-encodes a JSON document with tokens and secrets removed. ok is
// false when body is not exactly one JSON value.
func redactJSON(body []byte, sc scrubber) (out []byte, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(redactValue(v, sc)); err != nil {
		return nil, false
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), true
}

// redactValue walks a decoded JSON value, replacing token fields and scrubbing
// every string, key and number.
func redactValue(v any, sc scrubber) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			if isTokenField(k) {
				out[sc.String(k)] = redactedToken
				continue
			}
			out[sc.String(k)] = redactValue(val, sc)
		}
		return out
	case []any:
		for i := range t {
			t[i] = redactValue(t[i], sc)
		}
		return t
	case string:
		return sc.String(t)
	case json.Number:
		// A numeric password or PIN would otherwise survive as a number.
		if s := sc.String(string(t)); s != string(t) {
			return s
		}
		return t
	default:
		return v
	}
}

// keptResponse copies resp for an Error: body replaced by the redacted one and
// made re-readable, headers scrubbed, Request stripped of anything sensitive.
func keptResponse(resp *http.Response, body []byte, sc scrubber) *http.Response {
	if resp == nil {
		return nil
	}
	out := &http.Response{
		Status:           sc.String(resp.Status),
		StatusCode:       resp.StatusCode,
		Proto:            resp.Proto,
		ProtoMajor:       resp.ProtoMajor,
		ProtoMinor:       resp.ProtoMinor,
		Header:           scrubHeader(resp.Header, sc),
		Trailer:          scrubHeader(resp.Trailer, sc),
		Body:             io.NopCloser(bytes.NewReader(body)),
		ContentLength:    int64(len(body)),
		TransferEncoding: append([]string(nil), resp.TransferEncoding...),
		Uncompressed:     resp.Uncompressed,
		TLS:              resp.TLS,
		Request:          keptRequest(resp.Request, sc),
	}
	if out.Header.Get("Content-Length") != "" {
		out.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	// Payload swaps in azcore's byte reader, which every later Payload call
	// rereads from the start: that is how azidentity-style errors print a body.
	_, _ = runtime.Payload(out)
	return out
}

// keptRequest copies the request behind a kept response without what must not
// outlive it: the body (the form holds the secrets), GetBody, credentials in
// headers or URL, and the caller's context.
func keptRequest(r *http.Request, sc scrubber) *http.Request {
	if r == nil {
		return nil
	}
	out := &http.Request{
		Method:     r.Method,
		Proto:      r.Proto,
		ProtoMajor: r.ProtoMajor,
		ProtoMinor: r.ProtoMinor,
		Header:     scrubHeader(r.Header, sc),
		Host:       r.Host,
	}
	for _, h := range []string{"Authorization", "Proxy-Authorization", "Cookie"} {
		out.Header.Del(h)
	}
	if r.URL != nil {
		u := *r.URL
		u.User = nil
		u.RawQuery = sc.String(u.RawQuery)
		out.URL = &u
	}
	return out
}

// scrubHeader copies h with secrets removed from names and values. A hostile
// server can echo a secret in a header as easily as in a body.
func scrubHeader(h http.Header, sc scrubber) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		cp := make([]string, len(vs))
		for i, v := range vs {
			cp[i] = sc.String(v)
		}
		out[sc.String(k)] = cp
	}
	return out
}
