package azid

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/azid-go/azid/entratest"
)

// TestBearerTransportAnswersAResourcesClaimsChallenge goes the whole CAE
// loop against a resource that demands claims (the emulator's ARM after a
// critical event): the rejected token is replaced by one satisfying the
// challenge, in one retry, and the new token is what the cache serves next.
func TestBearerTransportAnswersAResourcesClaimsChallenge(t *testing.T) {
	srv := newEmulator(t, nil)
	cred := newSecretCred(t, srv, nil)
	tr, err := NewBearerTokenTransport(cred, []string{"https://management.azure.com/.default"}, srv.Client().Transport, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: tr}
	list := func() int {
		t.Helper()
		resp, err := client.Get(srv.URL() + "/subscriptions?api-version=2019-11-01")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /subscriptions: %d %s", resp.StatusCode, body)
		}
		return srv.Requests(entratest.EndpointToken)
	}
	if n := list(); n != 1 {
		t.Fatalf("%d token requests before the event, want 1", n)
	}
	srv.RevokeSessions()
	if n := list(); n != 2 {
		t.Fatalf("%d token requests after the event, want 2 (one answering the challenge)", n)
	}
	reqs := srv.TokenRequests()
	if last := reqs[len(reqs)-1]; !strings.Contains(last.Claims, `"nbf"`) {
		t.Fatalf("the second token request did not carry the challenge's claims: %+v", last)
	}
	if n := list(); n != 2 {
		t.Fatalf("%d token requests: the token that answered the challenge was not cached", n)
	}
}
