package azid

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
)

// perTryAPIID is the web API whose OBO credential these tests use.
const perTryAPIID = "0b0b0000-0000-4000-8000-000000000b0d"

// perTryFixture is an emulator refusing replayed assertions (newEmulator)
// with a certificate app and an OBO API app, and credentials of both kinds
// whose token requests a formRecorder sees try by try.
type perTryFixture struct {
	srv   *entratest.Server
	rec   *formRecorder
	logs  *syncBuffer
	creds map[string]func(t *testing.T) azcore.TokenCredential
}

func newPerTryFixture(t *testing.T, maxRetries int32) *perTryFixture {
	t.Helper()
	a, _ := sharedCerts(t)
	srv := newEmulator(t, &entratest.Options{SigningKeyBits: 1024})
	certApp(t, srv, certClientID, a)
	if err := srv.AddApp(entratest.App{TenantID: entratest.DefaultTenantID, ClientID: perTryAPIID, Certificates: []*x509.Certificate{a.cert}}); err != nil {
		t.Fatal(err)
	}
	userToken, err := srv.IssueUserAccessToken(entratest.UserAccessToken{Audience: perTryAPIID})
	if err != nil {
		t.Fatal(err)
	}
	f := &perTryFixture{srv: srv, rec: &formRecorder{next: srv.Client()}, logs: &syncBuffer{}}
	co := emulatorOptions(srv)
	co.Transport = f.rec
	co.Retry.MaxRetries = maxRetries
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.creds = map[string]func(t *testing.T) azcore.TokenCredential{
		"certificate": func(t *testing.T) azcore.TokenCredential {
			c, err := NewClientCertificateCredential(entratest.DefaultTenantID, certClientID, []*x509.Certificate{a.cert}, a.key,
				&ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
		"on-behalf-of with a certificate": func(t *testing.T) azcore.TokenCredential {
			c, err := NewOnBehalfOfCredentialWithCertificate(entratest.DefaultTenantID, perTryAPIID, userToken, []*x509.Certificate{a.cert}, a.key,
				&OnBehalfOfCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
	}
	return f
}

// scopeFor is a scope each credential kind can get a token for.
func scopeFor(name string) string {
	if strings.HasPrefix(name, "on-behalf-of") {
		return "https://graph.microsoft.com/User.Read"
	}
	return "api://per-try/.default"
}

// A server that records a jti as soon as it reads the request (the
// emulator in one-time mode) fails or loses the first tries; azcore's retry
// policy tries again, and every try carries a newly signed assertion, so
// the retry is not refused as a replay. With the same body resent, the
// retry would be answered invalid_client. Only the assertion changes
// between tries.
func TestCertificateAssertionNewForEveryTry(t *testing.T) {
	faults := []struct {
		name   string
		fault  entratest.Fault
		status int // what the emulator logs for a faulted try
	}{
		{"one 503", entratest.Fault{Status: http.StatusServiceUnavailable, Times: 1}, http.StatusServiceUnavailable},
		{"a dropped connection", entratest.Fault{Drop: true, Times: 1}, 0},
		{"two 500s", entratest.Fault{Status: http.StatusInternalServerError, Times: 2}, http.StatusInternalServerError},
	}
	f := newPerTryFixture(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, newCred := range f.creds {
		for _, tt := range faults {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				cred := newCred(t) // a new cache: the token must come from the network
				f.srv.ResetCounts()
				before := len(f.rec.all())
				f.srv.SetFault(entratest.EndpointToken, tt.fault)
				if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scopeFor(name)}}); err != nil {
					t.Fatalf("GetToken after %s: %v", tt.name, err)
				}
				log := f.srv.TokenRequests()
				tries := tt.fault.Times + 1
				if len(log) != tries {
					t.Fatalf("%d tries, want %d: %+v", len(log), tries, log)
				}
				jtis := map[string]bool{}
				for i, r := range log {
					want := tt.status
					if i == tries-1 {
						want = http.StatusOK
					}
					if r.Status != want {
						t.Errorf("try %d: status %d, want %d", i+1, r.Status, want)
					}
					if r.AssertionID == "" || jtis[r.AssertionID] {
						t.Errorf("try %d: jti %q is empty or was sent before: %+v", i+1, r.AssertionID, log)
					}
					jtis[r.AssertionID] = true
				}
				forms := f.rec.all()[before:]
				if len(forms) != tries {
					t.Fatalf("%d forms sent, want %d", len(forms), tries)
				}
				for i, form := range forms[1:] {
					if form.Get("client_assertion") == forms[0].Get("client_assertion") {
						t.Errorf("try %d resent the first assertion", i+2)
					}
					for k := range forms[0] {
						if k != "client_assertion" && form.Get(k) != forms[0].Get(k) {
							t.Errorf("try %d changed %s", i+2, k)
						}
					}
					if len(form) != len(forms[0]) {
						t.Errorf("try %d sent fields %v, the first %v", i+2, formKeys(form), formKeys(forms[0]))
					}
				}
			})
		}
	}
}

func formKeys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// echoAssertions is a transport that makes the emulator answer every token
// request 500 with an error description quoting every client assertion
// sent so far, the current try's included: the worst a broken server or
// proxy could echo. It sets a one-request fault before forwarding each try.
type echoAssertions struct {
	srv *entratest.Server
	rec *formRecorder
}

func (e echoAssertions) Do(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || req.Body == nil {
		return e.rec.Do(req)
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	sent := []string{}
	for _, f := range e.rec.all() {
		sent = append(sent, f.Get("client_assertion"))
	}
	if form, err := url.ParseQuery(string(b)); err == nil {
		sent = append(sent, form.Get("client_assertion"))
	}
	body, _ := json.Marshal(map[string]any{
		"error":             "server_error",
		"error_description": "AADSTS50000: could not process " + strings.Join(sent, " and "),
		"error_codes":       []int{50000},
	})
	e.srv.SetFault(entratest.EndpointToken, entratest.Fault{Status: http.StatusInternalServerError, Body: body, Times: 1})
	return e.rec.Do(req)
}

// When every try fails, the error, its raw response and the logs (the
// credential's and azcore's) hold none of the assertions signed across the
// tries, though the server echoed all of them.
func TestCertificateAssertionsOfEveryTryScrubbed(t *testing.T) {
	f := newPerTryFixture(t, 2)
	var azlogs syncBuffer
	azlog.SetListener(func(ev azlog.Event, msg string) { fmt.Fprintf(&azlogs, "%s: %s\n", ev, msg) })
	t.Cleanup(func() { azlog.SetListener(nil) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name := range f.creds {
		t.Run(name, func(t *testing.T) {
			rec := &formRecorder{next: f.srv.Client()}
			a, _ := sharedCerts(t)
			co := emulatorOptions(f.srv)
			co.Transport = echoAssertions{srv: f.srv, rec: rec}
			co.Retry.MaxRetries = 2
			logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			var cred azcore.TokenCredential
			var err error
			if strings.HasPrefix(name, "on-behalf-of") {
				userToken, ierr := f.srv.IssueUserAccessToken(entratest.UserAccessToken{Audience: perTryAPIID})
				if ierr != nil {
					t.Fatal(ierr)
				}
				cred, err = NewOnBehalfOfCredentialWithCertificate(entratest.DefaultTenantID, perTryAPIID, userToken, []*x509.Certificate{a.cert}, a.key,
					&OnBehalfOfCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, Logger: logger})
			} else {
				cred, err = NewClientCertificateCredential(entratest.DefaultTenantID, certClientID, []*x509.Certificate{a.cert}, a.key,
					&ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true, Logger: logger})
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scopeFor(name)}})
			var afe *AuthenticationFailedError
			if !errors.As(err, &afe) {
				t.Fatalf("err = %v, want an AuthenticationFailedError", err)
			}
			forms := rec.all()
			if len(forms) != 3 {
				t.Fatalf("%d tries, want 3", len(forms))
			}
			var raw []byte
			if afe.RawResponse != nil {
				raw, _ = io.ReadAll(afe.RawResponse.Body)
			}
			if !bytes.Contains(raw, []byte("[REDACTED]")) {
				t.Errorf("the raw response does not show the echo was scrubbed: %s", raw)
			}
			for i, form := range forms {
				a := form.Get("client_assertion")
				if i > 0 && a == forms[0].Get("client_assertion") {
					t.Errorf("try %d resent the first assertion", i+1)
				}
				for what, text := range map[string]string{"error text": err.Error(), "raw response": string(raw), "credential log": f.logs.String(), "azcore log": azlogs.String()} {
					if strings.Contains(text, a) {
						t.Errorf("the %s holds try %d's assertion", what, i+1)
					}
				}
			}
		})
	}
}

// A callback assertion (here a federated token from the workload's
// platform) is not the client's to re-sign: a retry resends it, and the
// callback runs once per token request, not once per try.
func TestCallbackAssertionResentOnRetry(t *testing.T) {
	srv := newEmulator(t, nil)
	federatedApp(t, srv, "workload")
	rec := &formRecorder{next: srv.Client()}
	co := emulatorOptions(srv)
	co.Transport = rec
	var calls atomic.Int32
	cred, err := NewClientAssertionCredential(entratest.DefaultTenantID, fedClientID, func(context.Context) (string, error) {
		calls.Add(1)
		return srv.IssueFederatedToken(entratest.FederatedToken{Issuer: "https://issuer.example", Subject: "workload"})
	}, &ClientAssertionCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetFault(entratest.EndpointToken, entratest.Fault{Status: http.StatusServiceUnavailable, Times: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"api://per-try/.default"}}); err != nil {
		t.Fatal(err)
	}
	forms := rec.all()
	if len(forms) != 2 || calls.Load() != 1 {
		t.Fatalf("%d tries and %d callbacks, want 2 and 1", len(forms), calls.Load())
	}
	if forms[0].Get("client_assertion") != forms[1].Get("client_assertion") {
		t.Error("the retry sent another assertion than the callback's")
	}
}
