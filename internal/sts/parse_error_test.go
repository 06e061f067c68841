package sts

import (
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// response builds a response as the pipeline would hand it to ParseError.
func response(status int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	req := &http.Request{
		Method: http.MethodPost,
		URL:    &url.URL{Scheme: "https", Host: "login.example.com", Path: "/tenant/oauth2/v2.0/token"},
		Header: http.Header{"Client-Request-Id": {"sent-id"}, "Authorization": {"Bearer nope"}},
	}
	return &http.Response{StatusCode: status, Status: statusText(status), Header: header, Request: req,
		Body: http.NoBody}
}

func TestParseErrorEntraJSON(t *testing.T) {
	body := `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 0d1c-trace\r\nCorrelation ID: 9f8e-corr\r\nTimestamp: 2024-05-01 10:00:00Z",` +
		`"error_codes":[7000215,"x",50011],"timestamp":"2024-05-01 10:00:00Z","trace_id":"0d1c-trace","correlation_id":"9f8e-corr",` +
		`"error_uri":"https://login.microsoftonline.com/error?code=7000215","suberror":"bad_token","claims":"{\"access_token\":{\"nbf\":{\"essential\":true}}}"}`
	e := ParseError(response(400, http.Header{"Content-Type": {"application/json; charset=utf-8"}}, body), []byte(body))
	want := Error{
		StatusCode:    400,
		Code:          "invalid_client",
		Description:   "AADSTS7000215: Invalid client secret provided.",
		ErrorCodes:    []int{7000215, 50011},
		Timestamp:     "2024-05-01 10:00:00Z",
		TraceID:       "0d1c-trace",
		CorrelationID: "9f8e-corr",
		SubError:      "bad_token",
		Claims:        `{"access_token":{"nbf":{"essential":true}}}`,
	}
	got := *e
	got.RawResponse, got.text, got.body = nil, "", nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
	msg := e.Error()
	for _, s := range []string{"https://login.example.com/tenant/oauth2/v2.0/token", "400 Bad Request", "invalid_client (bad_token)",
		"AADSTS7000215: Invalid client secret provided.", "error codes: 7000215, 50011", "trace ID: 0d1c-trace",
		"correlation ID: 9f8e-corr", "timestamp: 2024-05-01 10:00:00Z", "claims challenge"} {
		if !strings.Contains(msg, s) {
			t.Errorf("Error() lacks %q:\n%s", s, msg)
		}
	}
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("Error() is not one paragraph: %q", msg)
	}
	if e.RetryAfterDuration() != 0 {
		t.Errorf("RetryAfterDuration = %v, want 0", e.RetryAfterDuration())
	}
}

func TestParseErrorIDsFromDescriptionAndHeaders(t *testing.T) {
	// Without trace_id/correlation_id fields, the IDs come from the description.
	body := `{"error":"invalid_grant","error_description":"AADSTS50126: bad password.\nTrace ID: t-1\nCorrelation ID: c-1\nTimestamp: ts-1"}`
	e := ParseError(response(400, nil, body), []byte(body))
	if e.Description != "AADSTS50126: bad password." || e.TraceID != "t-1" || e.CorrelationID != "c-1" || e.Timestamp != "ts-1" {
		t.Fatalf("got %+v", *e)
	}
	// Without any, they come from the headers, then from the request we sent.
	body = `{"error":"temporarily_unavailable"}`
	e = ParseError(response(503, http.Header{"X-Ms-Request-Id": {"hdr-trace"}, "Client-Request-Id": {"hdr-corr"}}, body), []byte(body))
	if e.TraceID != "hdr-trace" || e.CorrelationID != "hdr-corr" {
		t.Fatalf("got trace %q corr %q", e.TraceID, e.CorrelationID)
	}
	e = ParseError(response(503, nil, body), []byte(body))
	if e.CorrelationID != "sent-id" {
		t.Fatalf("CorrelationID = %q, want the one sent", e.CorrelationID)
	}
}

func TestParseErrorNotEntra(t *testing.T) {
	html502 := "<!DOCTYPE html>\n<HTML><head><TITLE>\n  502 Bad Gateway &amp; friends\n</TITLE></head><body><h1>Bad Gateway</h1></body></html>"
	long := "<html><title>" + strings.Repeat("x", 300) + "</title></html>"
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		want        []string
		notWant     []string
	}{
		{name: "HTML 502 from a proxy", status: 502, contentType: "text/html; charset=iso-8859-1", body: html502,
			want: []string{"answered 502 Bad Gateway", "text/html body, not an Entra error", "a proxy or gateway may be in the way", `page title: "502 Bad Gateway & friends"`}},
		{name: "HTML title truncated", status: 403, contentType: "text/html", body: long,
			want: []string{`page title: "` + strings.Repeat("x", 100) + `…"`}},
		{name: "empty 500", status: 500, body: "",
			want: []string{"answered 500 Internal Server Error", "empty body, not an Entra error"}},
		{name: "whitespace-only 500", status: 500, body: " \r\n ",
			want: []string{"empty body"}},
		{name: "text/plain 503", status: 503, contentType: "text/plain", body: "upstream connect error or disconnect/reset before headers\n",
			want: []string{"a text/plain body", `body begins: "upstream connect error or disconnect/reset before headers"`}},
		{name: "no content type", status: 404, body: "nope",
			want: []string{"a body with no content type"}},
		{name: "hostile content type", status: 404, contentType: "text/html\r\nX: y; <script>", body: "nope",
			want: []string{"unrecognised body"}, notWant: []string{"script", "\r"}},
		{name: "JSON but not Entra", status: 404, contentType: "application/json", body: `{"message":"not found"}`,
			want: []string{"the answer is JSON but not an Entra error"}},
		{name: "malformed JSON", status: 400, contentType: "application/json", body: `{"error":"invalid_client"`,
			want: []string{"an application/json body, not an Entra error"}},
		{name: "HTML on a 2xx is not quoted", status: 200, contentType: "text/html", body: "<title>eyJ-token-ish</title>",
			want: []string{"answered 200 OK", "text/html body"}, notWant: []string{"eyJ-token-ish"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.contentType != "" {
				h.Set("Content-Type", tt.contentType)
			}
			e := ParseError(response(tt.status, h, tt.body), []byte(tt.body))
			if e.Code != "" {
				t.Fatalf("Code = %q, want none", e.Code)
			}
			if e.Message == "" {
				t.Fatal("no Message")
			}
			msg := e.Error()
			for _, s := range tt.want {
				if !strings.Contains(msg, s) {
					t.Errorf("Error() lacks %q:\n%s", s, msg)
				}
			}
			for _, s := range tt.notWant {
				if strings.Contains(msg, s) {
					t.Errorf("Error() contains %q:\n%s", s, msg)
				}
			}
		})
	}
}

func TestParseErrorAzureShape(t *testing.T) {
	body := `{"error":{"code":"TooManyRequests","message":"Rate limit exceeded."}}`
	e := ParseError(response(429, nil, body), []byte(body))
	if e.Code != "TooManyRequests" || e.Description != "Rate limit exceeded." {
		t.Fatalf("got %+v", *e)
	}
}

func TestParseErrorRetryAfter(t *testing.T) {
	date := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"seconds", http.Header{"Retry-After": {"30"}}, 30 * time.Second},
		{"HTTP date relative to Date header", http.Header{"Date": {date.Format(http.TimeFormat)}, "Retry-After": {date.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{"HTTP date in the past", http.Header{"Date": {date.Format(http.TimeFormat)}, "Retry-After": {date.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{"retry-after-ms", http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"30"}}, 1500 * time.Millisecond},
		{"x-ms-retry-after-ms", http.Header{"X-Ms-Retry-After-Ms": {"250"}}, 250 * time.Millisecond},
		{"zero ms falls through", http.Header{"Retry-After-Ms": {"0"}, "Retry-After": {"2"}}, 2 * time.Second},
		{"negative", http.Header{"Retry-After": {"-3"}}, 0},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0},
		{"huge capped", http.Header{"Retry-After": {"99999999999999999999999"}}, maxRetryAfter},
		{"large capped", http.Header{"Retry-After": {"9223372036"}}, maxRetryAfter},
		{"none", http.Header{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"error":"temporarily_unavailable"}`
			e := ParseError(response(429, tt.header, body), []byte(body))
			if e.RetryAfter != tt.want || e.RetryAfterDuration() != tt.want {
				t.Fatalf("RetryAfter = %v, want %v", e.RetryAfter, tt.want)
			}
		})
	}
	// Without a Date header an HTTP date is measured against the local clock.
	at := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	e := ParseError(response(429, http.Header{"Retry-After": {at}}, ""), nil)
	if e.RetryAfter < 58*time.Minute || e.RetryAfter > time.Hour {
		t.Fatalf("RetryAfter = %v, want about 1h", e.RetryAfter)
	}
	if !strings.Contains(e.Error(), "retry after") {
		t.Fatalf("Error() does not mention the wait: %s", e.Error())
	}
}

func TestParseErrorRawResponse(t *testing.T) {
	body := `{"error":"invalid_request","error_description":"bad"}`
	resp := response(400, http.Header{"Content-Type": {"application/json"}, "Content-Length": {"999"}}, body)
	e := ParseError(resp, []byte(body))
	raw := e.RawResponse
	if raw == nil || raw == resp {
		t.Fatal("RawResponse must be a copy")
	}
	var b []byte
	for range 2 {
		var err error
		b, err = runtime.Payload(raw)
		if err != nil || !strings.Contains(string(b), "invalid_request") {
			t.Fatalf("Payload = %q, %v", b, err)
		}
	}
	if got := raw.Header.Get("Content-Length"); got != strconv.Itoa(len(b)) {
		t.Fatalf("Content-Length header = %q, body has %d bytes", got, len(b))
	}
	r := raw.Request
	if r.Body != nil || r.GetBody != nil || r.Header.Get("Authorization") != "" {
		t.Fatalf("kept request is not stripped: %+v", r)
	}
	if r.Header.Get("Client-Request-Id") != "sent-id" {
		t.Fatal("kept request lost its client-request-id")
	}
	c := e.CloneResponse()
	if b, _ := runtime.Payload(c); !strings.Contains(string(b), "invalid_request") || c == raw {
		t.Fatalf("CloneResponse body = %q", b)
	}
	if ParseError(nil, []byte(body)).RawResponse != nil {
		t.Fatal("nil response must give nil RawResponse")
	}
}

func TestErrorBuiltByHand(t *testing.T) {
	e := &Error{StatusCode: 401, Code: "invalid_token", Description: "line1\nline2"}
	if got := e.Error(); got != "token endpoint answered 401 Unauthorized: invalid_token: line1 line2" {
		t.Fatalf("Error() = %q", got)
	}
	if got := (&Error{}).Error(); got == "" {
		t.Fatal("empty Error() for a zero Error")
	}
}

func mustParseURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
