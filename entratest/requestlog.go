package entratest

import (
	"net/http"
	"strings"
	"sync"
	"time"
)

// TokenRequest is one request to the token endpoint as the emulator saw
// it, for tests that assert what a client asked for: which tenant, which
// scope, whether it sent CAE client capabilities. It never holds the client
// secret or assertion, so a log can be printed in a failing test safely.
type TokenRequest struct {
	// Time is when the request arrived, by the server's clock
	// ([Options.Now]).
	Time time.Time
	// Tenant is the tenant segment of the request path, lower-cased as
	// MSAL sends it.
	Tenant string
	// ClientID is the client_id from the form or from HTTP Basic auth.
	ClientID string
	// GrantType is the grant_type parameter, e.g. "client_credentials".
	GrantType string
	// Scope is the scope parameter as sent, including any OIDC scopes
	// MSAL appends ("openid offline_access profile"). For a v1 request it
	// is the resource parameter.
	Scope string
	// Claims is the claims parameter as sent: client capabilities (CAE)
	// and claims challenges.
	Claims string
	// CorrelationID is the client's client-request-id (or the ID the
	// emulator assigned), the value Entra returns as correlation_id.
	CorrelationID string
	// Status is the HTTP status answered: 200 for a token, 4xx/5xx for an
	// error or a fault, 0 when a Drop fault closed the connection, and -1
	// when the client went away during a latency fault.
	Status int
	// ErrorCode is the AADSTS code of an Entra error answer, 0 otherwise.
	ErrorCode int
	// AssertionID is the jti claim of the request's client assertion,
	// read without verifying it, or "" when there is none: for tests
	// that check a client sends a new assertion on every request and
	// retry. A jti alone authenticates nothing.
	AssertionID string
}

// maxTokenLog bounds the log so a long-running emulator or a load test
// does not grow without bound. Tests that need exact totals beyond it use
// Requests, which counts without storing.
const maxTokenLog = 10000

// boundedLog keeps the latest maxTokenLog entries in a ring. A plain mutex
// is enough: it is appended to once per request and read rarely.
type boundedLog[T any] struct {
	mu      sync.Mutex
	entries []T
	next    int // where the next entry goes once the ring is full
}

func (l *boundedLog[T]) add(e T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) < maxTokenLog {
		l.entries = append(l.entries, e)
		return
	}
	l.entries[l.next] = e
	l.next = (l.next + 1) % len(l.entries)
}

func (l *boundedLog[T]) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries, l.next = nil, 0
}

// snapshot returns the entries oldest first.
func (l *boundedLog[T]) snapshot() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]T, 0, len(l.entries))
	out = append(out, l.entries[l.next:]...)
	return append(out, l.entries[:l.next]...)
}

// TokenRequests returns a copy of the token request log in arrival order
// (completion order under concurrency), at most the latest 10000 entries,
// including requests answered by faults or the outage switch. It is emptied
// by [Server.ResetCounts].
func (s *Server) TokenRequests() []TokenRequest {
	return s.log.snapshot()
}

// maxFormBytes bounds a token request body. Real ones are a few KB (a
// client assertion with a certificate chain is the largest part); a
// megabyte is room for any of them and stops a runaway client from
// costing the server more. The token endpoint answers a larger body with
// 413 and an error that names the limit.
const maxFormBytes = 1 << 20

// startTokenLog parses the token request form and starts its log entry.
// It runs before faults and the outage switch, so even requests those
// answer are logged with what they asked for.
func (x *exchange) startTokenLog() {
	x.r.Body = http.MaxBytesReader(x.w, x.r.Body, maxFormBytes)
	// A malformed body leaves the form empty, which the handler reports
	// as missing parameters, as Entra does for non-form bodies; one over
	// the limit is reported as such (handleToken).
	x.formErr = x.r.ParseForm()
	x.form = x.r.PostForm
	if x.form == nil {
		x.form = make(map[string][]string)
	}
	clientID := x.form.Get("client_id")
	if clientID == "" {
		if id, _, ok := basicAuth(x.r); ok {
			clientID = id
		}
	}
	scope := x.form.Get("scope")
	if scope == "" {
		scope = x.form.Get("resource")
	}
	x.entry = &TokenRequest{
		Time:          x.s.now(),
		Tenant:        strings.ToLower(x.r.PathValue("tenant")),
		ClientID:      clientID,
		GrantType:     x.form.Get("grant_type"),
		Scope:         scope,
		Claims:        x.form.Get("claims"),
		CorrelationID: x.correlationID,
		AssertionID:   assertionID(x.form.Get("client_assertion")),
	}
}

// assertionID returns the jti of a client assertion for the log, "" when
// it has none or does not parse.
func assertionID(assertion string) string {
	if assertion == "" {
		return ""
	}
	j, err := parseJWT(assertion)
	if err != nil {
		return ""
	}
	return j.claims.Jti
}

// finishTokenLog records the entry with the status answered.
func (x *exchange) finishTokenLog() {
	x.entry.Status = x.status
	x.s.log.add(*x.entry)
}
