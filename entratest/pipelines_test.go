package entratest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// pipelinesPost sends an OIDC token request as Azure Pipelines clients do.
func pipelinesPost(t *testing.T, srv *Server, query, bearer string, suppress bool) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.PipelineOIDCRequestURI()+"?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if suppress {
		req.Header.Set("X-TFS-FedAuthRedirect", "Suppress")
	}
	client := *srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestPipelinesOIDCEndpoint(t *testing.T) {
	srv := newTestServer(t, nil)
	conn, err := srv.AddPipelineServiceConnection(PipelineServiceConnection{ID: "conn-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddPipelineServiceConnection(PipelineServiceConnection{ID: "conn-1"}); err == nil {
		t.Fatal("a duplicate connection ID was accepted")
	}
	if conn.SystemAccessToken == "" || conn.Issuer == "" || conn.Subject == "" || conn.Audience != DefaultFederatedAudience {
		t.Fatalf("defaults not filled: %+v", conn)
	}
	q := url.Values{"api-version": {"7.1"}, "serviceConnectionId": {conn.ID}}.Encode()

	resp, body := pipelinesPost(t, srv, q, conn.SystemAccessToken, true)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("x-vss-e2eid") == "" {
		t.Fatalf("status %d, headers %v: %s", resp.StatusCode, resp.Header, body)
	}
	var r struct{ OIDCToken string }
	if err := json.Unmarshal(body, &r); err != nil || strings.Count(r.OIDCToken, ".") != 2 {
		t.Fatalf("answer %s is not {\"oidcToken\": JWT}", body)
	}
	// The token is a client assertion the token endpoint accepts for an app
	// that trusts the connection.
	if err := srv.AddApp(App{TenantID: DefaultTenantID, ClientID: "pipelines-app", FederatedCredentials: []FederatedCredential{conn.FederatedCredential()}}); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"pipelines-app"}, "scope": {"https://management.azure.com/.default"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {r.OIDCToken}}
	tr, err := srv.Client().PostForm(srv.URL()+"/"+DefaultTenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	tr.Body.Close()
	if tr.StatusCode != http.StatusOK {
		t.Fatalf("token endpoint refused the pipeline's ID token: %d", tr.StatusCode)
	}

	for _, tc := range []struct {
		name     string
		query    string
		bearer   string
		suppress bool
		status   int
	}{
		{"wrong token, 401 asked for", q, "wrong", true, http.StatusUnauthorized},
		{"wrong token, redirect", q, "wrong", false, http.StatusFound},
		{"no token", q, "", true, http.StatusUnauthorized},
		{"unknown connection", url.Values{"api-version": {"7.1"}, "serviceConnectionId": {"nope"}}.Encode(), conn.SystemAccessToken, true, http.StatusNotFound},
		{"no api-version", url.Values{"serviceConnectionId": {conn.ID}}.Encode(), conn.SystemAccessToken, true, http.StatusBadRequest},
	} {
		resp, body := pipelinesPost(t, srv, tc.query, tc.bearer, tc.suppress)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, resp.StatusCode, tc.status, body)
		}
		if strings.Contains(string(body), conn.SystemAccessToken) {
			t.Errorf("%s: the answer echoes the system access token", tc.name)
		}
	}
	if n := srv.Requests(EndpointPipelinesOIDC); n != 6 {
		t.Fatalf("%d OIDC requests counted, want 6", n)
	}
}
