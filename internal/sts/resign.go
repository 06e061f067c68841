package sts

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
)

// Resign makes a token request's form anew for one more HTTP try: the same
// request with a newly signed client assertion. It returns the new form
// and the values in it that are secrets and were not in the previous form.
type Resign func(ctx context.Context) (form url.Values, secrets []string, err error)

// TokenOptions are the optional parts of a token request.
type TokenOptions struct {
	// Resign, when set, runs before every HTTP try after the first (a
	// retry after a 5xx, a dropped connection or a try timeout), and that
	// try sends the form it returns instead of resending the first body.
	// A server may record a client assertion's jti as soon as it reads
	// the request, so a retry of the same body, after a failure the
	// client cannot see past, is refused as a replay (OpenID Connect Core
	// §9, RFC 7523 §3). It needs [ResignPolicy] in the client's pipeline.
	Resign Resign
}

// ResignPolicy returns the per-retry pipeline policy that carries out
// [TokenOptions.Resign]. Put it in runtime.PipelineOptions.PerRetry of the
// pipeline given to [NewClient]; requests without a Resign pass through.
func ResignPolicy() policy.Policy { return resignPolicy{} }

type resignPolicy struct{}

// resignState travels with one token request as its azcore operation
// value: the retry policy hands every try a clone of the request, and
// operation values are shared by the clones, unlike the body.
type resignState struct {
	resign Resign

	mu      sync.Mutex
	tries   int
	secrets []string // every secret the tries after the first introduced
}

// Do implements policy.Policy.
func (resignPolicy) Do(req *policy.Request) (*http.Response, error) {
	var st *resignState
	if !req.OperationValue(&st) || st == nil || !st.nextIsRetry() {
		return req.Next()
	}
	form, secrets, err := st.resign(req.Raw().Context())
	st.add(secrets)
	if err != nil {
		return nil, nonRetriable{fmt.Errorf("signing a new client assertion for a retried token request: %w", err)}
	}
	if err := setForm(req, form); err != nil {
		return nil, nonRetriable{fmt.Errorf("building a retried token request: %w", err)}
	}
	return req.Next()
}

// nextIsRetry counts a try and reports whether it is not the first: the
// first try sends the form the request was built with.
func (s *resignState) nextIsRetry() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries++
	return s.tries > 1
}

func (s *resignState) add(secrets []string) {
	if len(secrets) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets = append(s.secrets, secrets...)
}

// allSecrets returns the secrets the retries introduced.
func (s *resignState) allSecrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.secrets...)
}

// setForm replaces the body of one try's request (the retry policy's
// clone) with form. GetBody is cleared again for the reason
// newTokenRequest gives.
func setForm(req *policy.Request, form url.Values) error {
	if err := req.SetBody(streaming.NopCloser(bytes.NewReader([]byte(form.Encode()))), "application/x-www-form-urlencoded"); err != nil {
		return err
	}
	req.Raw().GetBody = nil
	return nil
}

// nonRetriable stops azcore's retry policy: a signing failure happens
// before anything is sent, and would fail the same way on every try.
type nonRetriable struct{ error }

func (e nonRetriable) Unwrap() error { return e.error }

// NonRetriable tells azcore's retry policy (which looks for this method)
// not to retry.
func (nonRetriable) NonRetriable() {}
