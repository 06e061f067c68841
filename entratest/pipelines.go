package entratest

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Azure Pipelines' OIDC endpoint: a job asks it, with the job's
// System.AccessToken as a bearer token, for an ID token of one of its
// service connections, and presents that token to Entra as a federated
// client assertion (workload identity federation for service connections).
// The emulator plays Azure DevOps here, and its token endpoint accepts the
// ID tokens it issues from any app with a matching [FederatedCredential].

// EndpointPipelinesOIDC is Azure Pipelines' job OIDC token endpoint:
// POST {org}/{project}/_apis/distributedtask/hubs/build/plans/{plan}/jobs/{job}/oidctoken.
const EndpointPipelinesOIDC Endpoint = "pipelines-oidc"

// pipelinesEndpoints lists the Azure Pipelines endpoints that get request
// counters.
func pipelinesEndpoints() []Endpoint { return []Endpoint{EndpointPipelinesOIDC} }

// pipelinesOIDCPath is the path of the one job the emulator serves. The
// organisation and IDs are fixed, made-up values: only the shape matters to
// clients, which take the whole URI from SYSTEM_OIDCREQUESTURI.
const pipelinesOIDCPath = "/entratest/6f7b1e34-0c3f-4d8e-9a55-1f2b3c4d5e6f/_apis/distributedtask/hubs/build/plans/0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6/jobs/12f1170f-54f2-53f3-20dd-22fc7dff55f9/oidctoken"

// pipelinesIssuer is the issuer of the ID tokens Azure DevOps issues for
// the emulated organisation; real ones name the organisation's ID.
const pipelinesIssuer = "https://vstoken.dev.azure.com/7c3d5e1a-9b2f-4c6d-8e0a-1b2c3d4e5f60"

// PipelineServiceConnection is an Azure DevOps service connection that
// uses workload identity federation, and the job that may use it. Empty
// fields are filled when it is added.
type PipelineServiceConnection struct {
	// ID is the service connection's ID, the serviceConnectionId of the OIDC
	// request. Default: a new GUID.
	ID string
	// SystemAccessToken is the job's System.AccessToken: the bearer token
	// the OIDC request must carry. Default: a new random value.
	SystemAccessToken string
	// Issuer and Subject are the iss and sub of the ID tokens issued for
	// this connection; add a FederatedCredential with the same values to the
	// app the connection is federated with. Defaults: an issuer like Azure
	// DevOps' ("https://vstoken.dev.azure.com/{organisation ID}") and
	// "sc://entratest/project/{ID}".
	Issuer, Subject string
	// Audience is the ID tokens' aud. Default: DefaultFederatedAudience.
	Audience string
}

// FederatedCredential returns the federated identity credential an app
// needs so that Entra (the emulator) accepts this connection's ID tokens.
func (c PipelineServiceConnection) FederatedCredential() FederatedCredential {
	return FederatedCredential{Issuer: c.Issuer, Subject: c.Subject, Audiences: []string{c.Audience}}
}

// pipelineConnections holds the service connections; the zero value is
// empty and ready.
type pipelineConnections struct {
	mu   sync.Mutex
	byID map[string]PipelineServiceConnection
}

// pipelinesTokenLifetime is the lifetime of the ID tokens the endpoint
// issues: short, as Azure DevOps' are, since each is used once.
const pipelinesTokenLifetime = 10 * time.Minute

// AddPipelineServiceConnection adds a service connection for the emulated
// pipeline job and returns it with its defaults filled in. Point
// SYSTEM_OIDCREQUESTURI at [Server.PipelineOIDCRequestURI] and give the
// credential c.ID and c.SystemAccessToken.
func (s *Server) AddPipelineServiceConnection(c PipelineServiceConnection) (PipelineServiceConnection, error) {
	if c.ID == "" {
		c.ID = newGUID()
	}
	if c.SystemAccessToken == "" {
		c.SystemAccessToken = "pipelines-" + newGUID() + newGUID()
	}
	if c.Issuer == "" {
		c.Issuer = pipelinesIssuer
	}
	if c.Subject == "" {
		c.Subject = "sc://entratest/project/" + c.ID
	}
	if c.Audience == "" {
		c.Audience = DefaultFederatedAudience
	}
	if strings.ContainsAny(c.ID, "&=?# ") {
		return PipelineServiceConnection{}, errors.New("entratest: a service connection ID cannot hold URL delimiters")
	}
	p := &s.pipelines
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byID == nil {
		p.byID = make(map[string]PipelineServiceConnection)
	}
	if _, dup := p.byID[c.ID]; dup {
		return PipelineServiceConnection{}, fmt.Errorf("entratest: service connection %s already exists", c.ID)
	}
	p.byID[c.ID] = c
	return c, nil
}

// PipelineOIDCRequestURI is the emulated job's OIDC request URI: the value
// Azure Pipelines puts in SYSTEM_OIDCREQUESTURI.
func (s *Server) PipelineOIDCRequestURI() string { return s.url + pipelinesOIDCPath }

// routePipelines routes the Azure Pipelines endpoint.
func (s *Server) routePipelines(handle func(pattern string, ep Endpoint, h handlerFunc)) {
	handle("POST "+pipelinesOIDCPath, EndpointPipelinesOIDC, s.handlePipelinesOIDC)
}

// pipelinesError is Azure DevOps' error shape: {"message": "..."}.
func (x *exchange) writePipelinesError(status int, msg string) {
	x.writeJSON(status, map[string]any{"$id": "1", "message": msg, "typeKey": "InvalidRequest"})
}

// handlePipelinesOIDC answers an OIDC token request: the bearer token must
// be the job's system access token, and the serviceConnectionId one of the
// job's connections. As Azure DevOps does, it answers a missing or wrong
// token with a redirect to a sign-in page unless the request asks for a
// 401 (X-TFS-FedAuthRedirect: Suppress).
func (s *Server) handlePipelinesOIDC(x *exchange) {
	h := x.w.Header()
	h.Set("x-vss-e2eid", newGUID())
	h.Set("x-msedge-ref", "Ref A: "+strings.ToUpper(strings.ReplaceAll(newGUID(), "-", "")[:16])+" Ref B: ENTRATEST")
	q := x.r.URL.Query()
	if v := q.Get("api-version"); !strings.HasPrefix(v, "7.1") {
		x.writePipelinesError(http.StatusBadRequest, "The requested REST API version "+quoteShort(v)+" is not supported by this endpoint; use 7.1.")
		return
	}
	s.pipelines.mu.Lock()
	conn, found := s.pipelines.byID[q.Get("serviceConnectionId")]
	s.pipelines.mu.Unlock()

	bearer, hasBearer := strings.CutPrefix(x.r.Header.Get("Authorization"), "Bearer ")
	if !hasBearer || bearer == "" || !found ||
		subtle.ConstantTimeCompare([]byte(bearer), []byte(conn.SystemAccessToken)) != 1 {
		if hasBearer && bearer != "" && !found && s.anySystemToken(bearer) {
			x.writePipelinesError(http.StatusNotFound, "Service connection "+quoteShort(q.Get("serviceConnectionId"))+" was not found or this pipeline is not authorized to use it.")
			return
		}
		if !strings.EqualFold(x.r.Header.Get("X-TFS-FedAuthRedirect"), "Suppress") {
			h.Set("Location", "https://"+x.host()+"/_signin?realm=entratest")
			x.writeRaw(http.StatusFound, "text/html; charset=utf-8", []byte("<html><body>Object moved</body></html>"))
			return
		}
		h.Set("WWW-Authenticate", `Bearer authorization_uri=https://login.microsoftonline.com/`)
		x.writePipelinesError(http.StatusUnauthorized, "TF400813: The user is not authorized to access this resource.")
		return
	}
	tok, err := s.IssueFederatedToken(FederatedToken{Issuer: conn.Issuer, Subject: conn.Subject, Audience: conn.Audience, ExpiresIn: pipelinesTokenLifetime})
	if err != nil {
		x.writePipelinesError(http.StatusInternalServerError, "The OIDC token could not be issued.")
		return
	}
	x.setNoCache()
	x.writeJSON(http.StatusOK, map[string]string{"oidcToken": tok})
}

// anySystemToken reports whether token is the system access token of some
// connection: the job is authenticated, only the connection is wrong.
func (s *Server) anySystemToken(token string) bool {
	s.pipelines.mu.Lock()
	defer s.pipelines.mu.Unlock()
	ok := false
	for _, c := range s.pipelines.byID {
		if subtle.ConstantTimeCompare([]byte(token), []byte(c.SystemAccessToken)) == 1 {
			ok = true
		}
	}
	return ok
}

// quoteShort quotes a client-supplied value for an error message, bounded.
func quoteShort(v string) string {
	if len(v) > 64 {
		v = v[:64]
	}
	return fmt.Sprintf("%q", v)
}
