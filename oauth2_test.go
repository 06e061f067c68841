package azid

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/azid-go/azid/entratest"
	"golang.org/x/oauth2"
)

func TestTokenSource(t *testing.T) {
	srv := newEmulator(t, nil)
	cred := newSecretCred(t, srv, nil)
	ts := TokenSource(cred, demoScope.Scopes...)
	var first *oauth2.Token
	for range 100 {
		tok, err := ts.Token()
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = tok
		}
		if tok.AccessToken != first.AccessToken || tok.Type() != "Bearer" || !tok.Valid() {
			t.Fatalf("token %+v, want the cached, valid bearer token", tok)
		}
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("100 Token calls made %d token requests, want 1", n)
	}
	if st := cred.CacheStats(); st.Hits != 99 {
		t.Fatalf("Hits = %d, want 99: every call is served by the engine", st.Hits)
	}
	// Expiry is the planned refresh, so oauth2's own reuse comes back in
	// time for it.
	az, _ := cred.GetToken(context.Background(), demoScope)
	if !first.Expiry.Equal(az.RefreshOn) || !first.Expiry.Before(az.ExpiresOn) {
		t.Fatalf("Expiry %v, want RefreshOn %v (before ExpiresOn %v)", first.Expiry, az.RefreshOn, az.ExpiresOn)
	}
}

func TestTokenSourceWithOAuth2Client(t *testing.T) {
	srv := newEmulator(t, nil)
	res := newResource(t, srv)
	inner := &srvCred{cred: newSecretCred(t, srv, nil)}
	c := oauth2.NewClient(context.Background(), TokenSource(inner, resourceScope))
	for range 20 {
		resp, err := c.Post(res.URL, "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if n := inner.calls.Load(); n != 1 {
		t.Fatalf("a foreign credential behind TokenSource was called %d times, want 1 (it is wrapped in the engine)", n)
	}
}

func TestTokenSourceErrors(t *testing.T) {
	if _, err := TokenSource(nil, "s").Token(); err == nil || !strings.Contains(err.Error(), "nil") {
		t.Fatalf("nil credential: %v", err)
	}
	if _, err := TokenSource(&countingCred{}).Token(); err == nil || !strings.Contains(err.Error(), "scope") {
		t.Fatalf("no scopes: %v", err)
	}
	inner := &countingCred{}
	inner.fail.Store(true)
	if _, err := TokenSource(inner, "s").Token(); err == nil {
		t.Fatal("a failing credential's error was lost")
	}
}
