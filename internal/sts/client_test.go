package sts

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

const goodToken = `{"access_token":"at-value","token_type":"Bearer","expires_in":3599,"refresh_in":1800}`

// newTestClient returns a Client whose azcore pipeline sends to srv with fast
// retries.
func newTestClient(t *testing.T, transport policy.Transporter, o ClientOptions) *Client {
	t.Helper()
	c, err := azcore.NewClient("azid.sts.test", "v0.0.1", runtime.PipelineOptions{}, &policy.ClientOptions{
		Transport: transport,
		Retry:     policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Millisecond, MaxRetryDelay: 10 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	return NewClient(c.Pipeline(), o)
}

func TestTokenEndToEnd(t *testing.T) {
	var got struct {
		method, path, contentType, accept, requestID, returnID, sku, ver string
		form                                                             url.Values
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path = r.Method, r.URL.Path
		got.contentType, got.accept = r.Header.Get("Content-Type"), r.Header.Get("Accept")
		got.requestID, got.returnID = r.Header.Get("client-request-id"), r.Header.Get("return-client-request-id")
		got.sku, got.ver = r.Header.Get("x-client-SKU"), r.Header.Get("x-client-VER")
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		got.form = r.PostForm
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, goodToken)
	}))
	defer srv.Close()

	c := newTestClient(t, srv.Client(), ClientOptions{})
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"s3cr3t+/="}, "scope": {"https://x/.default"}}
	tr, err := c.Token(context.Background(), srv.URL+"/tenant/oauth2/v2.0/token", form, "s3cr3t+/=")
	if err != nil {
		t.Fatal(err)
	}
	if tr.AccessToken != "at-value" || tr.ExpiresIn != 3599*time.Second || tr.RefreshIn != 1800*time.Second {
		t.Fatalf("token response %v", tr)
	}
	if got.method != http.MethodPost || got.path != "/tenant/oauth2/v2.0/token" {
		t.Errorf("request %s %s", got.method, got.path)
	}
	if got.contentType != "application/x-www-form-urlencoded" || got.accept != "application/json" {
		t.Errorf("Content-Type %q Accept %q", got.contentType, got.accept)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(got.requestID) {
		t.Errorf("client-request-id %q is not a UUIDv4", got.requestID)
	}
	if got.returnID != "true" || got.sku != SKU || got.ver != Version {
		t.Errorf("return-client-request-id %q x-client-SKU %q x-client-VER %q", got.returnID, got.sku, got.ver)
	}
	if got.form.Encode() != form.Encode() {
		t.Errorf("form arrived as %q, want %q", got.form.Encode(), form.Encode())
	}
}

func TestTokenResendsBodyOnRetry(t *testing.T) {
	var calls atomic.Int32
	var bodies [3]string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		if int(n) <= len(bodies) {
			bodies[n-1] = string(b)
		}
		if n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"temporarily_unavailable"}`)
			return
		}
		io.WriteString(w, goodToken)
	}))
	defer srv.Close()

	c := newTestClient(t, srv.Client(), ClientOptions{})
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-value"}}
	if _, err := c.Token(context.Background(), srv.URL+"/t/oauth2/v2.0/token", form, "rt-value"); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 {
		t.Fatalf("%d calls, want 3", calls.Load())
	}
	for i, b := range bodies {
		if b != form.Encode() {
			t.Errorf("try %d sent body %q, want %q", i+1, b, form.Encode())
		}
	}
}

func TestTokenRetriesExhausted(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html><title>Bad Gateway</title></html>")
	}))
	defer srv.Close()
	_, err := newTestClient(t, srv.Client(), ClientOptions{}).Token(context.Background(), srv.URL+"/t/oauth2/v2.0/token", url.Values{})
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != 502 || !strings.Contains(e.Error(), `page title: "Bad Gateway"`) {
		t.Fatalf("got %v", err)
	}
}

func TestTokenEndpointRefused(t *testing.T) {
	var calls atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.WriteString(w, goodToken)
	}))
	defer plain.Close()
	strict := newTestClient(t, plain.Client(), ClientOptions{})
	for _, endpoint := range []string{
		plain.URL + "/t/oauth2/v2.0/token", // http to loopback, not allowed
		"http://login.example.com/t/oauth2/v2.0/token",
		"ftp://login.example.com/t",
		"/t/oauth2/v2.0/token",
		"https:///t",
		"https://user:pw@login.example.com/t",
		"://bad",
	} {
		if _, err := strict.Token(context.Background(), endpoint, url.Values{}); err == nil {
			t.Errorf("%q: want error", endpoint)
		} else if strings.Contains(err.Error(), "pw@") {
			t.Errorf("%q: error leaks userinfo: %v", endpoint, err)
		}
	}
	if _, err := strict.Token(context.Background(), "http://login.example.com/t", url.Values{}); err == nil || !strings.Contains(err.Error(), "only over https") {
		t.Errorf("want a clear https error, got %v", err)
	}
	loose := newTestClient(t, plain.Client(), ClientOptions{AllowInsecureLoopback: true})
	if _, err := loose.Token(context.Background(), "http://login.example.com/t", url.Values{}); err == nil {
		t.Error("http to a non-loopback host must be refused even with AllowInsecureLoopback")
	}
	if calls.Load() != 0 {
		t.Fatalf("%d requests reached the server before any was allowed", calls.Load())
	}
	if _, err := loose.Token(context.Background(), plain.URL+"/t/oauth2/v2.0/token", url.Values{}); err != nil {
		t.Fatalf("loopback http with AllowInsecureLoopback: %v", err)
	}
	localhost := strings.Replace(plain.URL, "127.0.0.1", "localhost", 1)
	if _, err := loose.Token(context.Background(), localhost+"/t", url.Values{}); err != nil {
		t.Fatalf("localhost http with AllowInsecureLoopback: %v", err)
	}
}

func TestTokenResponseTooLarge(t *testing.T) {
	for _, status := range []int{200, 400} {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, `{"access_token":"`+strings.Repeat("a", MaxResponseBytes)+`","token_type":"Bearer","expires_in":3600}`)
		}))
		_, err := newTestClient(t, LimitResponseBodies(srv.Client()), ClientOptions{}).Token(context.Background(), srv.URL+"/t", url.Values{})
		srv.Close()
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(e.Message, "token endpoint response exceeds 1 MiB") || e.StatusCode != status {
			t.Fatalf("status %d: got %v", status, err)
		}
		if b, _ := runtime.Payload(e.RawResponse); len(b) != 0 {
			t.Fatalf("status %d: oversized body kept (%d bytes)", status, len(b))
		}
	}
	// Exactly at the limit is fine for the reader.
	body := `{"access_token":"at","token_type":"Bearer","expires_in":3600}`
	body += strings.Repeat(" ", MaxResponseBytes-len(body))
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	defer srv.Close()
	if _, err := newTestClient(t, LimitResponseBodies(srv.Client()), ClientOptions{}).Token(context.Background(), srv.URL+"/t", url.Values{}); err != nil {
		t.Fatalf("body of exactly 1 MiB: %v", err)
	}
}

func TestLimitResponseBodiesBoundsAzcoreDownload(t *testing.T) {
	// azcore downloads error bodies itself; the wrapped transport must stop it
	// long before the server stops sending.
	var sent atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 1024 { // 64 MiB
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	_, err := newTestClient(t, LimitResponseBodies(srv.Client()), ClientOptions{}).Token(context.Background(), srv.URL+"/t", url.Values{})
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, "exceeds 1 MiB") {
		t.Fatalf("got %v", err)
	}
	if LimitResponseBodies(nil) == nil {
		t.Fatal("nil transport must get a default")
	}
}

func TestTokenMalformedSuccessIsRedacted(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"live-token","refresh_token":"live-rt","id_token":"live-id","expires_in":3600,"nested":{"access_token":"live-2"}}`)
	}))
	defer srv.Close()
	_, err := newTestClient(t, srv.Client(), ClientOptions{}).Token(context.Background(), srv.URL+"/t", url.Values{})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v", err)
	}
	if e.StatusCode != 200 || e.Message != `token response has no "token_type"` {
		t.Fatalf("StatusCode %d Message %q", e.StatusCode, e.Message)
	}
	if !strings.Contains(e.Error(), `answered 200 OK: token response has no "token_type"`) {
		t.Fatalf("Error() = %s", e.Error())
	}
	b, _ := runtime.Payload(e.RawResponse)
	if strings.Contains(string(b), "live-") || !strings.Contains(string(b), `"access_token":"REDACTED"`) || !strings.Contains(string(b), `"expires_in":3600`) {
		t.Fatalf("kept body %s", b)
	}
}

func TestTokenNonJSONSuccessDropped(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `access_token=live-token&token_type=Bearer`)
	}))
	defer srv.Close()
	_, err := newTestClient(t, srv.Client(), ClientOptions{}).Token(context.Background(), srv.URL+"/t", url.Values{})
	var e *Error
	if !errors.As(err, &e) || e.Message != "token response is not a JSON object" {
		t.Fatalf("got %v", err)
	}
	if b, _ := runtime.Payload(e.RawResponse); len(b) != 0 {
		t.Fatalf("non-JSON 2xx body kept: %q", b)
	}
}

func TestTokenTransportErrors(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	transport := srv.Client()
	endpoint := srv.URL + "/t"
	host := srv.Listener.Addr().String()
	srv.Close() // connection refused from now on

	c := newTestClient(t, transport, ClientOptions{})
	_, err := c.Token(context.Background(), endpoint, url.Values{"client_secret": {"hunter22"}}, "hunter22")
	var re *RequestError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), host) {
		t.Fatalf("got %v", err)
	}
	var se *Error
	if errors.As(err, &se) {
		t.Fatal("a transport failure is not an *Error")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Token(ctx, endpoint, url.Values{})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), host) {
		t.Fatalf("got %v", err)
	}
}

func TestTokenContextCancelledWhileWaiting(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := newTestClient(t, srv.Client(), ClientOptions{}).Token(ctx, srv.URL+"/t", url.Values{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

func TestTokenDoesNotFollowRedirects(t *testing.T) {
	var stolen atomic.Int32
	thief := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), "s3cr3t") {
			stolen.Add(1)
		}
		io.WriteString(w, goodToken)
	}))
	defer thief.Close()
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, thief.URL+"/steal", code)
		}))
		_, err := newTestClient(t, srv.Client(), ClientOptions{}).Token(context.Background(), srv.URL+"/t", url.Values{"client_secret": {"s3cr3t"}}, "s3cr3t")
		srv.Close()
		var e *Error
		if !errors.As(err, &e) || e.StatusCode != code {
			t.Fatalf("%d: got %v", code, err)
		}
	}
	if stolen.Load() != 0 {
		t.Fatal("the form was replayed to the redirect target")
	}
}

func TestTokenEntraErrorUnderSuccessStatus(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"error":"invalid_grant","error_description":"AADSTS70008: expired.\r\nTrace ID: t1"}`)
	}))
	defer srv.Close()
	_, err := newTestClient(t, srv.Client(), ClientOptions{}).Token(context.Background(), srv.URL+"/t", url.Values{})
	var e *Error
	if !errors.As(err, &e) || e.Code != "invalid_grant" || e.Description != "AADSTS70008: expired." || e.TraceID != "t1" || e.StatusCode != 200 {
		t.Fatalf("got %#v", err)
	}
}

// A caller's capture-response slot (set for the SDK call that needed the
// token) never receives the token endpoint's response.
func TestTokenDoesNotFillCallersCapturedResponse(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, goodToken)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.Client(), ClientOptions{})
	var captured *http.Response
	ctx := policy.WithCaptureResponse(context.Background(), &captured)
	if _, err := c.Token(ctx, srv.URL+"/t/oauth2/v2.0/token", url.Values{"scope": {"x"}}); err != nil {
		t.Fatal(err)
	}
	if captured != nil {
		t.Fatalf("the caller's capture slot received the token response (status %d)", captured.StatusCode)
	}
}
