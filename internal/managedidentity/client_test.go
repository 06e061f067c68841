package managedidentity

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/azid-go/azid/internal/sts"
)

func TestDescribeErrorShapes(t *testing.T) {
	cases := []struct {
		status      int
		contentType string
		body, want  string
	}{
		{400, "application/json", `{"error":"invalid_request","error_description":"Identity not found"}`, "invalid_request: Identity not found"},
		{503, "application/json", `{"error":"temporarily_unavailable","error_description":"AADSTS90033: busy\r\nTrace ID: x\r\nCorrelation ID: y"}`, "temporarily_unavailable: AADSTS90033: busy"},
		{401, "application/json", `{"error":{"correlationId":"c","code":"SecretHeaderNotFound","message":"Secret is not found."}}`, "SecretHeaderNotFound: Secret is not found."},
		{400, "application/json", `{"statusCode":400,"message":"Unable to load the proper Managed Identity.","correlationId":"c"}`, "Unable to load the proper Managed Identity."},
		{502, "text/html", `<html><title>502 Bad Gateway</title></html>`, `page title: "502 Bad Gateway"`},
		{403, "text/plain", "connecting to 169.254.169.254:80: connectex: A socket operation was attempted to an unreachable network.", "socket operation"},
		{500, "application/json", `{"weird":true}`, "JSON but not an Entra error"},
	}
	for _, c := range cases {
		resp := &http.Response{StatusCode: c.status, Header: http.Header{"Content-Type": {c.contentType}}, Body: io.NopCloser(strings.NewReader(c.body))}
		got := describe([]byte(c.body), sts.ParseError(resp, []byte(c.body)))
		if !strings.Contains(got, c.want) || strings.Contains(got, "Trace ID") {
			t.Errorf("%s: %q, want %q", c.body, got, c.want)
		}
	}
}

func TestOneLineBoundsLength(t *testing.T) {
	s := oneLine(strings.Repeat("é\n", 1000))
	if n := len([]rune(s)); n > 301 || strings.Contains(s, "\n") {
		t.Fatalf("%d runes", n)
	}
}

func TestScrub(t *testing.T) {
	if got := scrub("a sec+ret b sec%2Bret abc", []string{"sec+ret", "abc"}); got != "a [REDACTED] b [REDACTED] abc" {
		t.Fatal(got)
	}
	// An endpoint that echoes its request may escape the secret header
	// as JSON or HTML does.
	if got := scrub(`h=a<b&c "a\u003cb\u0026c" a&lt;b&amp;c`, []string{"a<b&c"}); strings.Contains(got, "a<b") || strings.Contains(got, `\u003cb`) || strings.Contains(got, "a&lt;b") {
		t.Fatal(got)
	}
}
