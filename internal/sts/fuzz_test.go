package sts

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

func FuzzParseTokenResponse(f *testing.F) {
	for _, seed := range []string{
		goodToken,
		`{"access_token":"a","token_type":"Bearer","expires_in":"3599","ext_expires_in":"7199","refresh_in":"100"}`,
		`{"access_token":"a","token_type":"Bearer","expires_in":1e30}`,
		`{"access_token":"a","token_type":"Bearer","expires_in":-0.0}`,
		`{"access_token":"a","token_type":"Bearer","expires_in":3599.000000001}`,
		`{"access_token":"a","token_type":"pop","expires_in":2592000,"refresh_in":2591999}`,
		`{"access_token":"a","token_type":"Bearer","expires_in":"1E3"}`,
		"\xef\xbb\xbf{}",
		`[]`, `null`, ``, `{"access_token":`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseTokenResponse(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Message == "" {
				t.Fatalf("error %T %q is not an *Error with a Message", err, err)
			}
			if r != nil {
				t.Fatal("both a response and an error")
			}
			return
		}
		if r.AccessToken == "" || r.TokenType == "" {
			t.Fatalf("accepted without a token or type: %v", r)
		}
		if r.ExpiresIn <= 0 || r.ExpiresIn > maxLifetime {
			t.Fatalf("ExpiresIn %v out of range", r.ExpiresIn)
		}
		if r.ExtExpiresIn < 0 || r.ExtExpiresIn > maxLifetime || r.RefreshIn < 0 || r.RefreshIn >= r.ExpiresIn {
			t.Fatalf("optional durations out of range: %v", r)
		}
		if r.ExpiresIn%time.Second != 0 {
			t.Fatalf("ExpiresIn %v is not whole seconds", r.ExpiresIn)
		}
	})
}

func FuzzParseError(f *testing.F) {
	f.Add(400, "application/json", []byte(`{"error":"invalid_client","error_description":"AADSTS7000215: bad s3cr3tZ.\r\nTrace ID: x","error_codes":[7000215]}`), "s3cr3tZ")
	f.Add(502, "text/html", []byte(`<html><title>Bad s3cr3tZ gateway</title></html>`), "s3cr3tZ")
	f.Add(200, "application/json", []byte(`{"access_token":"s3cr3tZ","token_type":1}`), "s3cr3tZ")
	f.Add(503, "text/plain", []byte("upstream s3cr3tZ"), "s3cr3tZ")
	f.Add(429, "", []byte(""), "pass")
	f.Add(0, "text/html; charset=\x00", []byte("<TITLE>\u0130\u0130</title>"), "\u0130\u0130\u0130")
	f.Add(401, "application/json", []byte(`{"error":{"code":"s3cr3tZ","message":"\u0073\u0033cr3tZ"}}`), "s3cr3tZ")
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte, secret string) {
		resp := &http.Response{
			StatusCode: status,
			Status:     fmt.Sprintf("%d %s", status, secret),
			Header:     http.Header{"Content-Type": {contentType}, "Retry-After": {secret}},
			Body:       http.NoBody,
			Request: &http.Request{Method: http.MethodPost, Header: http.Header{"Client-Request-Id": {"id"}},
				URL: mustParseURL("https://login.example.com/t/oauth2/v2.0/token")},
		}
		e := ParseError(resp, body, secret)
		if e == nil {
			t.Fatal("nil *Error")
		}
		if e.Code == "" && e.Message == "" {
			t.Fatal("neither Code nor Message")
		}
		if e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter {
			t.Fatalf("RetryAfter %v", e.RetryAfter)
		}
		if len(secret) < minSecretLen || strings.ContainsAny(secret, "[]REDACT") {
			// Too short to scrub by design, or overlapping our own marker, so
			// that scrubbing could recreate it; only check for panics.
			_ = e.Error()
			return
		}
		for where, s := range map[string]string{
			"Error()":     e.Error(),
			"%+v":         fmt.Sprintf("%+v", e),
			"%v":          fmt.Sprintf("%v", e),
			"Description": e.Description,
			"Message":     e.Message,
			"Code":        e.Code,
			"Claims":      e.Claims,
			"IDs":         e.TraceID + "\x00" + e.CorrelationID + "\x00" + e.Timestamp + "\x00" + e.SubError,
			"Status":      e.RawResponse.Status,
			"Header":      fmt.Sprint(e.RawResponse.Header),
		} {
			if strings.Contains(s, secret) {
				t.Fatalf("%s contains the secret %q: %q", where, secret, s)
			}
		}
		b, err := runtime.Payload(e.RawResponse)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), secret) {
			t.Fatalf("RawResponse body contains the secret %q: %q", secret, b)
		}
		cb, _ := io.ReadAll(e.CloneResponse().Body)
		if string(cb) != string(b) {
			t.Fatal("CloneResponse body differs from RawResponse body")
		}
	})
}

// MergeClaims parses claims challenges that resources send: never a panic,
// and whatever it returns is a JSON object that keeps the challenge and, with
// CAE, declares CP1.
func FuzzMergeClaims(f *testing.F) {
	for _, seed := range []string{
		"", "{}", "null", "[]", `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`,
		`{"access_token":{"xms_cc":{"values":["CP2"]}}}`, `{"access_token":{"xms_cc":1}}`,
		`{"access_token":null}`, `{"id_token":{"auth_time":{"essential":true}}}`, `{"a":`,
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, claims string, cae bool) {
		got, err := MergeClaims(claims, cae)
		if err != nil {
			if strings.Contains(err.Error(), claims) && len(claims) > 8 {
				t.Fatalf("the error quotes the challenge: %v", err)
			}
			return
		}
		if got == "" {
			if claims != "" || cae {
				t.Fatalf("nothing to send for claims %q, CAE %v", claims, cae)
			}
			return
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(got), &m); err != nil || m == nil {
			t.Fatalf("result %q is not a JSON object", got)
		}
		if cae && !strings.Contains(got, `"CP1"`) {
			t.Fatalf("CAE result %q lacks CP1", got)
		}
		for k := range func() map[string]any {
			var in map[string]any
			_ = json.Unmarshal([]byte(claims), &in)
			return in
		}() {
			if _, ok := m[k]; !ok {
				t.Fatalf("the challenge's %q was dropped: %q", k, got)
			}
		}
	})
}
