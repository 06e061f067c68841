package entratest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A strict server records a jti when it reads the request; what fails after
// that does not give the jti back. A token request answered by a fault
// (5xx, a raw body, a dropped connection, a held request) spends its
// certificate-signed assertion: the same body sent again is refused, a new
// assertion is accepted. The log names each request's jti.
func TestOneTimeClientAssertionsSpentByFaults(t *testing.T) {
	faults := map[string]Fault{
		"503":        {Status: http.StatusServiceUnavailable, Times: 1},
		"500":        {Status: http.StatusInternalServerError, Times: 1},
		"proxy page": {Status: http.StatusBadGateway, Body: []byte("<html>bad gateway</html>"), ContentType: "text/html", Times: 1},
		"drop":       {Drop: true, Times: 1},
	}
	for name, f := range faults {
		t.Run(name, func(t *testing.T) {
			srv, _ := certServer(t)
			a := certAssertion(t, srv, nil)
			srv.SetFault(EndpointToken, f)
			if f.Drop {
				postDropped(t, srv, assertionForm(a))
			} else if r := postForm(t, srv, tokenPath(DefaultTenantID), assertionForm(a)); r.status != f.Status {
				t.Fatalf("faulted request: %d, want %d", r.status, f.Status)
			}
			wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), assertionForm(a)), http.StatusUnauthorized, "invalid_client", 700027)
			next := certAssertion(t, srv, nil)
			getTokenWith(t, srv, tokenPath(DefaultTenantID), assertionForm(next))

			log := srv.TokenRequests()
			if len(log) != 3 {
				t.Fatalf("token log = %+v", log)
			}
			if log[0].AssertionID == "" || log[0].AssertionID != log[1].AssertionID || log[2].AssertionID == log[0].AssertionID {
				t.Errorf("assertion IDs = %q, %q, %q: want the first twice, then a new one", log[0].AssertionID, log[1].AssertionID, log[2].AssertionID)
			}
			for _, e := range log {
				if strings.Contains(e.AssertionID, ".") {
					t.Errorf("the log holds more than a jti: %q", e.AssertionID)
				}
			}
		})
	}
}

// A held request (Fault.Hang) spends its assertion too: the server read it
// and never answered, which is what a client's try timeout sees.
func TestOneTimeClientAssertionsSpentByHang(t *testing.T) {
	srv, _ := certServer(t)
	a := certAssertion(t, srv, nil)
	srv.SetFault(EndpointToken, Fault{Hang: true, Times: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tryCtx, giveUp := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		req, err := http.NewRequestWithContext(tryCtx, http.MethodPost, srv.URL()+tokenPath(DefaultTenantID), strings.NewReader(assertionForm(a).Encode()))
		if err != nil {
			done <- err
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	// Until the held request has taken the fault (it is counted, and
	// reads its form, before that).
	for faultUsesLeft(srv, EndpointToken) != 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	giveUp()
	if err := <-done; err == nil {
		t.Fatal("a held request got an answer")
	}
	// The log entry is written when the handler ends, after the jti was spent.
	for len(srv.TokenRequests()) == 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), assertionForm(a)), http.StatusUnauthorized, "invalid_client", 700027)
	getTokenWith(t, srv, tokenPath(DefaultTenantID), assertionForm(certAssertion(t, srv, nil)))
}

// What a fault answers spends only an assertion the server would have
// accepted: a forged one (signed by an unknown key), and any request during
// an outage, which answers before reading, leave the jti unused; a
// latency-only fault lets the request through to be handled once.
func TestOneTimeClientAssertionsFaultsSpendOnlyValid(t *testing.T) {
	srv, keys := certServer(t)
	const jti = "forged-then-real"
	c := goodClaims(srv, srv.URL()+tokenPath(DefaultTenantID))
	c["jti"] = jti
	forged := signJWT(t, keys[1].key, map[string]any{"alg": "PS256", "typ": "JWT", "x5t#S256": s256(keys[0].cert)}, c)
	srv.SetFault(EndpointToken, Fault{Status: http.StatusServiceUnavailable, Times: 1})
	if r := postForm(t, srv, tokenPath(DefaultTenantID), assertionForm(forged)); r.status != http.StatusServiceUnavailable {
		t.Fatalf("faulted request: %d", r.status)
	}
	srv.SetOutage(true)
	outage := certAssertion(t, srv, nil)
	if r := postForm(t, srv, tokenPath(DefaultTenantID), assertionForm(outage)); r.status != http.StatusServiceUnavailable {
		t.Fatalf("request during the outage: %d", r.status)
	}
	srv.SetOutage(false)
	getTokenWith(t, srv, tokenPath(DefaultTenantID), assertionForm(certAssertion(t, srv, func(c map[string]any) { c["jti"] = jti })))
	getTokenWith(t, srv, tokenPath(DefaultTenantID), assertionForm(outage))

	slow := certAssertion(t, srv, nil)
	srv.SetFault(EndpointToken, Fault{Latency: time.Millisecond, Times: 1})
	getTokenWith(t, srv, tokenPath(DefaultTenantID), assertionForm(slow))
	wantEntraError(t, postForm(t, srv, tokenPath(DefaultTenantID), assertionForm(slow)), http.StatusUnauthorized, "invalid_client", 700027)
}

// postDropped sends form to the token endpoint and expects the connection
// to be dropped without an answer.
func postDropped(t *testing.T, srv *Server, form interface{ Encode() string }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+tokenPath(DefaultTenantID), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a dropped request was answered %d", resp.StatusCode)
	}
}
