package sts

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// attemptServer answers with the statuses in script, one per request (the
// last one repeats), and counts requests. A status of 0 never answers.
func attemptServer(t *testing.T, header http.Header, script ...int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	stop := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		status := script[min(i, len(script)-1)]
		_, _ = io.Copy(io.Discard, r.Body)
		if status == 0 {
			// Never answer, even if net/http thinks the client left: a
			// handler that returns sends an empty 200.
			<-stop
			panic(http.ErrAbortHandler)
		}
		for k, vs := range header {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status == http.StatusOK {
			_, _ = w.Write([]byte(goodToken))
			return
		}
		_, _ = w.Write([]byte(`{"error":"temporarily_unavailable","error_description":"AADSTS90033: try later"}`))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // runs first: no handler outlives the test
	return srv, &n
}

func attemptClient(t *testing.T, srv *httptest.Server, retry policy.RetryOptions) *Client {
	t.Helper()
	c, err := azcore.NewClient("azid.sts.test", "v0.0.1", runtime.PipelineOptions{}, &policy.ClientOptions{Transport: srv.Client(), Retry: retry})
	if err != nil {
		t.Fatal(err)
	}
	return NewClient(c.Pipeline(), ClientOptions{Retry: retry})
}

var fastRetry = policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Millisecond, MaxRetryDelay: 10 * time.Millisecond}

func attemptToken(t *testing.T, c *Client, srv *httptest.Server, background bool) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Token(c.AttemptContext(ctx, background), srv.URL+"/t/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}})
	return err
}

// A background refresh is one step of the cache's backoff: one request,
// whatever the pipeline's retry options.
func TestAttemptBackgroundSendsOneRequest(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusInternalServerError} {
		srv, n := attemptServer(t, nil, status)
		c := attemptClient(t, srv, fastRetry)
		err := attemptToken(t, c, srv, true)
		var se *Error
		if !errors.As(err, &se) || se.StatusCode != status {
			t.Fatalf("status %d: err = %v, want the endpoint's error", status, err)
		}
		if got := n.Load(); got != 1 {
			t.Fatalf("status %d: background attempt sent %d requests, want 1", status, got)
		}
	}
}

// A foreground acquisition keeps the caller's retries.
func TestAttemptForegroundKeepsCallerRetries(t *testing.T) {
	srv, n := attemptServer(t, nil, 503, 503, 200)
	c := attemptClient(t, srv, fastRetry)
	if err := attemptToken(t, c, srv, false); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 3 {
		t.Fatalf("%d requests, want 3 (two retries)", got)
	}

	srv, n = attemptServer(t, nil, 503)
	c = attemptClient(t, srv, policy.RetryOptions{MaxRetries: 1, RetryDelay: time.Millisecond})
	if err := attemptToken(t, c, srv, false); err == nil {
		t.Fatal("want the outage error")
	}
	if got := n.Load(); got != 2 {
		t.Fatalf("MaxRetries 1: %d requests, want 2", got)
	}

	// The caller's StatusCodes and ShouldRetry still decide.
	srv, n = attemptServer(t, nil, 503)
	c = attemptClient(t, srv, policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Millisecond, StatusCodes: []int{500}})
	_ = attemptToken(t, c, srv, false)
	if got := n.Load(); got != 1 {
		t.Fatalf("StatusCodes without 503: %d requests, want 1", got)
	}
	srv, n = attemptServer(t, nil, 503, 200)
	var asked atomic.Int64
	c = attemptClient(t, srv, policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Millisecond, ShouldRetry: func(*http.Response, error) bool {
		asked.Add(1)
		return false
	}})
	_ = attemptToken(t, c, srv, false)
	if got := n.Load(); got != 1 || asked.Load() != 1 {
		t.Fatalf("ShouldRetry false: %d requests, ShouldRetry asked %d times; want 1 and 1", got, asked.Load())
	}
}

// A long Retry-After ends a foreground acquisition at once with the
// server's window, for the cache to honour, instead of being slept on inside
// it (azcore would wait up to MaxRetryDelay, holding every caller); a short
// one is waited out.
func TestAttemptRetryAfterEndsTheAcquisition(t *testing.T) {
	srv, n := attemptServer(t, http.Header{"Retry-After-Ms": {"20"}}, 429, 200)
	c := attemptClient(t, srv, policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Millisecond, MaxRetryDelay: time.Minute})
	if err := attemptToken(t, c, srv, false); err != nil || n.Load() != 2 {
		t.Fatalf("short Retry-After: err = %v after %d requests, want a token after 2", err, n.Load())
	}
	for _, h := range []http.Header{{"Retry-After": {"50"}}, {"Retry-After-Ms": {"5001"}}} {
		srv, n := attemptServer(t, h, 429, 200)
		c := attemptClient(t, srv, policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Millisecond, MaxRetryDelay: time.Minute})
		err := attemptToken(t, c, srv, false)
		var se *Error
		if !errors.As(err, &se) || se.RetryAfterDuration() <= 0 {
			t.Fatalf("%v: err = %v, want the 429 with its Retry-After", h, err)
		}
		if got := n.Load(); got != 1 {
			t.Fatalf("%v: %d requests, want 1", h, got)
		}
	}
}

// A try that hangs is cut at the try timeout and ends the acquisition with
// a deadline error (the cache engine starts the next one), in the
// foreground and the background alike; a transport failure that is not a
// hang is still retried by the pipeline.
func TestAttemptHungTryEndsTheAcquisition(t *testing.T) {
	retry := fastRetry
	retry.TryTimeout = time.Second // the caller's own value wins over the default
	for _, background := range []bool{false, true} {
		srv, n := attemptServer(t, nil, 200, 0, 0, 200)
		c := attemptClient(t, srv, retry)
		// The first request opens the connection, so that the hung one
		// surely reaches the server within its try.
		if err := attemptToken(t, c, srv, background); err != nil {
			t.Fatal(err)
		}
		if err := attemptToken(t, c, srv, background); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("background %v: hung try: err = %v, want its deadline", background, err)
		}
		if got := n.Load(); got != 2 {
			t.Fatalf("background %v: %d requests, want 2 (one hung, not retried)", background, got)
		}
		var re *RequestError
		if err := attemptToken(t, c, srv, background); !errors.As(err, &re) || !re.Hung() {
			t.Fatalf("background %v: err = %v, want a RequestError that says it hung", background, err)
		}
		if err := attemptToken(t, c, srv, background); err != nil {
			t.Fatalf("background %v: the next acquisition: %v", background, err)
		}
	}
}

// The caller's own deadline ending a request is not a hang of the endpoint.
func TestAttemptCallerDeadlineIsNotHung(t *testing.T) {
	srv, _ := attemptServer(t, nil, 0)
	c := attemptClient(t, srv, fastRetry) // the default try timeout: longer than the deadline
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Token(c.AttemptContext(ctx, false), srv.URL+"/t/oauth2/v2.0/token", url.Values{})
	var re *RequestError
	if !errors.As(err, &re) || re.Hung() || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the caller's deadline, not a hang", err)
	}
}
