package sts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// newResignClient is newTestClient with ResignPolicy in the pipeline.
func newResignClient(t *testing.T, transport policy.Transporter, maxRetries int32) *Client {
	t.Helper()
	c, err := azcore.NewClient("azid.sts.test", "v0.0.1", runtime.PipelineOptions{PerRetry: []policy.Policy{ResignPolicy()}}, &policy.ClientOptions{
		Transport: transport,
		Retry:     policy.RetryOptions{MaxRetries: maxRetries, RetryDelay: time.Millisecond, MaxRetryDelay: 10 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	return NewClient(c.Pipeline(), ClientOptions{})
}

// formServer answers the first len(statuses) requests with those statuses
// (a 400 body quotes every assertion received so far) and keeps every form.
type formServer struct {
	mu       sync.Mutex
	forms    []url.Values
	statuses []int
}

func (s *formServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.forms = append(s.forms, r.PostForm)
	n := len(s.forms)
	var seen []string
	for _, f := range s.forms {
		seen = append(seen, f.Get("client_assertion"))
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if n > len(s.statuses) {
		io.WriteString(w, goodToken)
		return
	}
	w.WriteHeader(s.statuses[n-1])
	fmt.Fprintf(w, `{"error":"invalid_client","error_description":"AADSTS700027: refused %s","error_codes":[700027]}`, strings.Join(seen, ", "))
}

func (s *formServer) all() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.forms...)
}

// counter returns a Resign hook that sets client_assertion to a new value
// on a copy of form for every call.
func counter(form url.Values, calls *atomic.Int32) Resign {
	return func(ctx context.Context) (url.Values, []string, error) {
		if ctx == nil {
			return nil, nil, errors.New("no context")
		}
		n := calls.Add(1)
		next := url.Values{}
		for k, v := range form {
			next[k] = v
		}
		a := fmt.Sprintf("assertion-of-try-%d", n+1)
		next.Set("client_assertion", a)
		return next, []string{a}, nil
	}
}

// Resign runs before every try but the first, and each try sends its form:
// the first try the form given, later ones only the assertion changed.
func TestTokenResignsEveryRetry(t *testing.T) {
	fs := &formServer{statuses: []int{http.StatusServiceUnavailable, http.StatusInternalServerError}}
	srv := httptest.NewTLSServer(fs)
	defer srv.Close()
	c := newResignClient(t, srv.Client(), 3)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_assertion": {"assertion-of-try-1"}, "scope": {"https://x/.default"}}
	var calls atomic.Int32
	if _, err := c.TokenWithOptions(context.Background(), srv.URL+"/t/oauth2/v2.0/token", form, TokenOptions{Resign: counter(form, &calls)}, "assertion-of-try-1"); err != nil {
		t.Fatal(err)
	}
	forms := fs.all()
	if len(forms) != 3 || calls.Load() != 2 {
		t.Fatalf("%d tries and %d re-signings, want 3 and 2", len(forms), calls.Load())
	}
	for i, f := range forms {
		if want := fmt.Sprintf("assertion-of-try-%d", i+1); f.Get("client_assertion") != want {
			t.Errorf("try %d sent %q, want %q", i+1, f.Get("client_assertion"), want)
		}
		if f.Get("scope") != form.Get("scope") || f.Get("client_id") != "cid" || len(f) != len(form) {
			t.Errorf("try %d sent %v", i+1, f)
		}
	}
}

// Every assertion sent is scrubbed from the error, the first try's and the
// re-signed ones alike.
func TestTokenResignedSecretsScrubbed(t *testing.T) {
	fs := &formServer{statuses: []int{http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusBadRequest}}
	srv := httptest.NewTLSServer(fs)
	defer srv.Close()
	c := newResignClient(t, srv.Client(), 3)
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion": {"assertion-of-try-1"}}
	var calls atomic.Int32
	_, err := c.TokenWithOptions(context.Background(), srv.URL+"/t/oauth2/v2.0/token", form, TokenOptions{Resign: counter(form, &calls)}, "assertion-of-try-1")
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want an *Error", err)
	}
	raw, _ := io.ReadAll(se.CloneResponse().Body)
	for i := 1; i <= 3; i++ {
		a := fmt.Sprintf("assertion-of-try-%d", i)
		if strings.Contains(err.Error(), a) || strings.Contains(string(raw), a) {
			t.Errorf("the error holds %s: %v / %s", a, err, raw)
		}
	}
	if !strings.Contains(err.Error(), redactedSecret) {
		t.Errorf("err = %v: the echo should show as redacted", err)
	}
}

// A Resign that fails ends the request: every try would fail alike, and
// nothing more is sent.
func TestTokenResignFailureNotRetried(t *testing.T) {
	fs := &formServer{statuses: []int{http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusServiceUnavailable}}
	srv := httptest.NewTLSServer(fs)
	defer srv.Close()
	c := newResignClient(t, srv.Client(), 3)
	signErr := errors.New("the key is gone")
	var calls atomic.Int32
	resign := func(context.Context) (url.Values, []string, error) {
		calls.Add(1)
		return nil, nil, signErr
	}
	_, err := c.TokenWithOptions(context.Background(), srv.URL+"/t/oauth2/v2.0/token", url.Values{"client_assertion": {"first-assertion"}}, TokenOptions{Resign: resign}, "first-assertion")
	if !errors.Is(err, signErr) || !strings.Contains(err.Error(), "signing a new client assertion") {
		t.Fatalf("err = %v, want the signing failure", err)
	}
	if n := len(fs.all()); n != 1 || calls.Load() != 1 {
		t.Fatalf("%d tries and %d re-signings, want 1 and 1", n, calls.Load())
	}
}

// Without Resign, the policy passes requests through: a retry resends the
// first body.
func TestResignPolicyWithoutResign(t *testing.T) {
	fs := &formServer{statuses: []int{http.StatusServiceUnavailable}}
	srv := httptest.NewTLSServer(fs)
	defer srv.Close()
	c := newResignClient(t, srv.Client(), 3)
	form := url.Values{"client_secret": {"the-secret"}, "scope": {"s"}}
	if _, err := c.Token(context.Background(), srv.URL+"/t/oauth2/v2.0/token", form, "the-secret"); err != nil {
		t.Fatal(err)
	}
	forms := fs.all()
	if len(forms) != 2 || forms[0].Encode() != form.Encode() || forms[1].Encode() != form.Encode() {
		t.Fatalf("forms = %v", forms)
	}
}
