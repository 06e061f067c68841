package entratest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// jsonContentType is what Entra sends with every JSON answer.
const jsonContentType = "application/json; charset=utf-8"

// Pseudo statuses recorded in the token request log for requests that got
// no HTTP answer.
const (
	statusDropped    = 0  // a Drop fault closed the connection
	statusClientGone = -1 // the client went away during a latency fault
)

// exchange is one request and its answer as the emulator's handlers see
// them. It carries the per-request identifiers Entra puts in headers and
// error bodies, and records the status for the token request log.
type exchange struct {
	s  *Server
	w  http.ResponseWriter
	r  *http.Request
	ep Endpoint

	traceID       string
	correlationID string
	status        int

	// form is the parsed token request body (token endpoint only).
	form url.Values
	// formErr is why the body could not be parsed, if it could not.
	formErr error
	// v1 is set for the v1 token endpoint, whose requests name a resource
	// rather than a scope and whose answers differ in shape.
	v1 bool
	// entry is the token request log entry being filled (token endpoint
	// only); handlers add what they learn, such as the error code.
	entry *TokenRequest
}

// handlerFunc is the signature of the emulator's endpoint handlers.
type handlerFunc func(x *exchange)

// routes builds the request router. Patterns follow Entra's URL layout;
// the tenant segment is matched as a wildcard and validated by handlers,
// because Entra answers unknown tenants with an error body, not a 404.
// Paths that are no endpoint get the mux's plain 404 (or 405 for a wrong
// method): they are not part of the protocol, so they are neither counted
// nor subject to faults.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, ep Endpoint, h handlerFunc) {
		mux.Handle(pattern, s.endpoint(ep, h))
	}
	handle("GET /{tenant}/v2.0/.well-known/openid-configuration", EndpointOpenIDConfiguration, s.handleOpenIDConfigurationV2)
	handle("GET /{tenant}/.well-known/openid-configuration", EndpointOpenIDConfiguration, s.handleOpenIDConfigurationV1)
	handle("GET /{tenant}/discovery/instance", EndpointInstanceDiscovery, s.handleInstanceDiscovery)
	handle("GET /{tenant}/discovery/v2.0/keys", EndpointKeys, s.handleKeysV2)
	handle("GET /{tenant}/discovery/keys", EndpointKeys, s.handleKeysV1)
	// Any method: Entra answers a GET on the token endpoint with an
	// AADSTS error rather than a bare 405, and so does the emulator.
	handle("/{tenant}/oauth2/v2.0/token", EndpointToken, s.handleTokenV2)
	handle("/{tenant}/oauth2/token", EndpointToken, s.handleTokenV1)
	s.routeUserFlows(handle)
	s.routeManagedIdentity(handle)
	s.routeARM(handle)
	s.routePipelines(handle)
	// Any tenant segment, and MSAL Go's capitalised spelling as well as the
	// Azure CLI's lower-case one.
	handle("GET /{tenant}/userrealm/{user}", EndpointUserRealm, s.handleUserRealm)
	handle("GET /{tenant}/UserRealm/{user}", EndpointUserRealm, s.handleUserRealm)
	return mux
}

// endpoint wraps a handler with what every endpoint shares, in this order:
// counting, Entra's response headers, the outage switch, faults, then the
// handler. Counting comes first so faulted and outage requests count too:
// a test of retries asserts how many attempts reached the server.
func (s *Server) endpoint(ep Endpoint, h handlerFunc) http.Handler {
	counter := s.counts[ep]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		counter.Add(1)
		x := &exchange{s: s, w: w, r: r, ep: ep, traceID: newGUID(), correlationID: correlationID(r)}
		hdr := w.Header()
		hdr.Set("x-ms-request-id", x.traceID)
		hdr.Set("x-ms-ests-server", "entratest")
		if strings.EqualFold(r.Header.Get("return-client-request-id"), "true") {
			hdr.Set("client-request-id", x.correlationID)
		}
		// Deferred first, so it runs last: after the token log, with the
		// final status, also when a Drop fault panics.
		defer x.logRequest(s.now())
		if ep == EndpointToken {
			x.startTokenLog()
			// Runs during a Drop panic too, so dropped requests are logged.
			defer x.finishTokenLog()
		}
		if s.inOutage() {
			x.writeError(errTemporarilyUnavailable())
			return
		}
		if f, ok := s.faults.take(ep); ok {
			if ep == EndpointToken && f.answers() {
				s.spendAssertion(x)
			}
			if s.applyFault(x, f) {
				return
			}
		}
		h(x)
	})
}

// correlationID is the ID Entra echoes as correlation_id: the client's
// client-request-id when it is a GUID (MSAL always sends one), else a new
// one, as Entra never reflects arbitrary header text.
func correlationID(r *http.Request) string {
	if id := r.Header.Get("client-request-id"); isGUID(id) {
		return strings.ToLower(id)
	}
	return newGUID()
}

// setNoCache marks an answer as uncacheable, as Entra does for tokens and
// errors.
func (x *exchange) setNoCache() {
	h := x.w.Header()
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
}

// writeJSON answers with v as JSON.
func (x *exchange) writeJSON(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only emulator bugs get here: every value sent is built from
		// marshalable types.
		x.writeError(errForStatus(http.StatusInternalServerError))
		return
	}
	x.writeRaw(status, jsonContentType, b)
}

// writeError answers with e in Entra's format.
func (x *exchange) writeError(e *entraError) {
	x.setNoCache()
	if e.retryAfter > 0 {
		x.w.Header().Set("Retry-After", formatSeconds(e.retryAfter))
	}
	if x.entry != nil {
		x.entry.ErrorCode = e.code
	}
	x.writeJSON(e.status, e.body(x.traceID, x.correlationID, x.s.now()))
}

// writeRaw answers with a body as is.
func (x *exchange) writeRaw(status int, contentType string, body []byte) {
	h := x.w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	x.status = status
	x.w.WriteHeader(status)
	_, _ = x.w.Write(body) // a client that hung up needs no answer
}

// host is the host:port the client addressed, for the URLs in discovery
// documents. Using the request's Host rather than a fixed one keeps the
// issuer on the host the client used (127.0.0.1, localhost or [::1]), which
// MSAL checks against its authority.
func (x *exchange) host() string {
	if h := x.r.Host; h != "" && validHost(h) {
		return h
	}
	return x.s.host
}

// validHost accepts host[:port] values made of URL-safe host characters,
// so a crafted Host header cannot inject anything into a document.
func validHost(h string) bool {
	for _, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune(".-:[]", c):
		default:
			return false
		}
	}
	return true
}

// newGUID returns a random version 4 UUID in Entra's lower-case form, for
// trace IDs, correlation IDs and the like.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b)
}

func formatGUID(b [16]byte) string {
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// isGUID reports whether s has the 8-4-4-4-12 hex form of a GUID.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
