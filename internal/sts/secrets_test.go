package sts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// secret has characters that every echo encoding changes: '+' and '/' for form
// and path escaping, '<' and '&' for HTML and JSON, a space, and non-ASCII.
const secret = "Zx9~s3cr3t+/<&> é"

// unicodeEscaped writes every character of s as a JSON \u escape, the way a
// hostile server would hide an echo from a plain substring search.
func unicodeEscaped(s string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	return b.String()
}

// assertNoSecret checks every place an error could carry the secret to a log.
func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error")
	}
	needles := []string{secret, url.QueryEscape(secret), url.PathEscape(secret), "s3cr3t"}
	check := func(where, s string) {
		t.Helper()
		for _, n := range needles {
			if strings.Contains(s, n) {
				t.Errorf("%s leaks %q:\n%s", where, n, s)
			}
		}
	}
	check("Error()", err.Error())
	check("%+v", fmt.Sprintf("%+v", err))
	check("%#v", fmt.Sprintf("%#v", err))
	var e *Error
	if !errors.As(err, &e) {
		return
	}
	check("%#v of *Error", fmt.Sprintf("%#v", *e))
	if e.RawResponse == nil {
		t.Fatal("no RawResponse")
	}
	body, perr := runtime.Payload(e.RawResponse)
	if perr != nil {
		t.Fatal(perr)
	}
	check("RawResponse body", string(body))
	// A JSON body must not hide the secret behind escapes either.
	var decoded any
	if json.Unmarshal(body, &decoded) == nil {
		check("decoded RawResponse body", fmt.Sprint(decoded))
	}
	check("RawResponse.Status", e.RawResponse.Status)
	check("RawResponse headers", fmt.Sprint(e.RawResponse.Header))
	check("RawResponse request", fmt.Sprintf("%+v", *e.RawResponse.Request))
	cb, _ := io.ReadAll(e.CloneResponse().Body)
	check("CloneResponse body", string(cb))
}

func TestMaliciousServerCannotLeakSecrets(t *testing.T) {
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter, form string)
	}{
		{"echo in error_description", func(w http.ResponseWriter, form string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			b, _ := json.Marshal(map[string]any{"error": "invalid_client " + secret, "error_description": "AADSTS7000215: Invalid client secret " + secret + " provided.\r\nTrace ID: " + secret,
				"claims": secret, "suberror": secret, "correlation_id": secret, "timestamp": secret, secret: secret})
			w.Write(b)
		}},
		{"unicode-escaped echo in JSON", func(w http.ResponseWriter, form string) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_request","error_description":"you sent `+unicodeEscaped(secret)+`"}`)
		}},
		{"form echoed verbatim", func(w http.ResponseWriter, form string) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_request","error_description":"body was `+form+`"}`)
		}},
		{"form echoed in plain text", func(w http.ResponseWriter, form string) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, form)
		}},
		{"HTML page", func(w http.ResponseWriter, form string) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html><head><title>Denied "+secret+"</title></head><body>"+secret+"<pre>"+form+"</pre></body></html>")
		}},
		{"HTML-escaped in title", func(w http.ResponseWriter, form string) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html><title>x Zx9~s3cr3t+/&lt;&amp;&gt; &#233;</title></html>")
		}},
		{"secret split across title lines", func(w http.ResponseWriter, form string) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html><title>Zx9~s3cr3t+/<&>\n\t é</title></html>")
		}},
		{"in headers and status", func(w http.ResponseWriter, form string) {
			w.Header().Set("X-Echo", secret)
			w.Header().Set("X-Ms-Request-Id", secret)
			w.Header().Set("Retry-After", secret)
			w.Header()[secret] = []string{"v"}
			w.WriteHeader(http.StatusTooManyRequests)
		}},
		{"2xx JSON echo", func(w http.ResponseWriter, form string) {
			io.WriteString(w, `{"access_token":"`+unicodeEscaped(secret)+`","token_type":"Bearer","expires_in":"never","note":"`+secret+`"}`)
		}},
		{"2xx non-JSON echo", func(w http.ResponseWriter, form string) {
			io.WriteString(w, "ok "+secret+" "+form)
		}},
		{"2xx HTML echo", func(w http.ResponseWriter, form string) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<title>"+secret+"</title>")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				tt.handler(w, string(b))
			}))
			defer srv.Close()
			c := newTestClient(t, srv.Client(), ClientOptions{})
			form := url.Values{"client_id": {"cid"}, "client_secret": {secret}}
			_, err := c.Token(context.Background(), srv.URL+"/t/oauth2/v2.0/token", form, secret)
			assertNoSecret(t, err)
		})
	}
}

func TestShortSecretsAreNotScrubbed(t *testing.T) {
	body := `{"error":"invalid_grant","error_description":"abc is wrong"}`
	e := ParseError(response(400, nil, body), []byte(body), "abc", "")
	if e.Description != "abc is wrong" {
		t.Fatalf("a 3-byte secret mangled the description: %q", e.Description)
	}
}

func TestScrubberVariants(t *testing.T) {
	sc := newScrubber([]string{secret})
	for _, v := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret), jsonEscaped(secret, true), jsonEscaped(secret, false)} {
		if got := sc.String("<" + v + ">"); got != "<"+redactedSecret+">" {
			t.Errorf("%q scrubbed to %q", v, got)
		}
	}
	if got := string(sc.Bytes([]byte("nothing here"))); got != "nothing here" {
		t.Errorf("clean text changed: %q", got)
	}
	var none scrubber
	if none.active() || none.String("x") != "x" {
		t.Error("the zero scrubber must be a no-op")
	}
}

// A token the request did not carry (an access token or id_token from
// elsewhere, quoted by a gateway) is not a secret Token knows, but no
// JWT-shaped text may reach an error text or a kept body either.
func TestErrorRedactsTokensItDidNotSend(t *testing.T) {
	const jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcGk6Ly9kZW1vIn0.c2lnbmF0dXJl"
	for _, body := range []string{
		`{"error":"invalid_request","error_description":"AADSTS50000: the bearer ` + jwt + ` is not accepted"}`,
		`{"error":{"code":"Unauthorized","message":"token ` + jwt + `"}}`,
		"<html><title>rejected " + jwt + "</title></html>",
		"plain: " + jwt,
	} {
		e := ParseError(response(400, nil, body), []byte(body), secret)
		raw, err := runtime.Payload(e.RawResponse)
		if err != nil {
			t.Fatal(err)
		}
		for where, s := range map[string]string{"Error()": e.Error(), "Description": e.Description, "Message": e.Message, "RawResponse body": string(raw)} {
			if strings.Contains(s, "eyJ0eXAi") || strings.Contains(s, "c2lnbmF0dXJl") {
				t.Errorf("body %.30q: %s keeps the token: %s", body, where, s)
			}
		}
	}
}

func TestScrubExported(t *testing.T) {
	text := "you sent " + secret + ", " + url.QueryEscape(secret) + ", " + jsonEscaped(secret, true) + " and " + unicodeEscaped("x")
	got := Scrub(text, secret)
	if strings.Contains(got, "s3cr3t") {
		t.Fatalf("Scrub kept the secret: %s", got)
	}
	if Scrub("nothing secret", secret) != "nothing secret" {
		t.Fatal("clean text changed")
	}
}
