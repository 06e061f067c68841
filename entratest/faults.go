package entratest

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault describes how an endpoint misbehaves, for testing what a client
// does when Entra is slow, failing, throttling or broken. Set one with
// [Server.SetFault]. Fields combine: Latency delays whatever else the fault
// does, so {Latency: 2s, Status: 503} is a slow failure and {Latency: 2s}
// alone a slow success.
type Fault struct {
	// Latency is how long to wait before answering. The wait ends early
	// when the request's context does (the client gave up or the server
	// closed), so a test of client timeouts does not leave handlers
	// sleeping after it. No lock is held while waiting.
	Latency time.Duration

	// Status, when non-zero, answers with this HTTP status and the Entra
	// error body a client would really see with it (503 and 504:
	// temporarily_unavailable; 500: server_error; 429: throttling; 401:
	// invalid_client; other 4xx: invalid_request), or with Body when set.
	Status int

	// RetryAfter adds a Retry-After header in whole seconds, rounded up so
	// a compliant client never retries early. Use it with Status 429 or
	// 503 to test that clients honour it.
	RetryAfter time.Duration

	// Hang never answers: the request is held until the client gives up
	// or the server closes, as on a connection lost without a reset or a
	// server stuck mid-request. Clearing the fault heals the endpoint for
	// new requests only; those already held stay held, as they would on a
	// real network. Other fields are ignored.
	Hang bool

	// Drop closes the connection (or resets the HTTP/2 stream) without an
	// answer, as a crashing proxy or a network failure would. Clients see
	// a transport error, not a status.
	Drop bool

	// Body, when set, is sent verbatim instead of an Entra JSON body: an
	// HTML error page from a proxy, truncated JSON, a huge body. Status
	// defaults to 200 so parsers see a "successful" malformed response.
	Body []byte

	// ContentType is the Content-Type sent with Body. Default
	// "application/json; charset=utf-8", so the body must be rejected for
	// what it is, not for its header.
	ContentType string

	// Echo answers with an error that quotes the whole request back, as a
	// misconfigured gateway or a debugging proxy does: an Entra-shaped
	// JSON error (status Status, 400 when 0) whose error_description holds
	// the method, the URL with its query, every header (secret ones such
	// as Authorization and X-IDENTITY-HEADER included) and the body as
	// sent, form-encoded. It is for testing that a client keeps its
	// secrets out of logs and error texts whatever the server says.
	Echo bool

	// Times limits the fault to the next Times requests of the endpoint,
	// after which the endpoint heals by itself: Times 1 with Status 503 is
	// a blip that one retry gets past. 0 means until cleared.
	Times int
}

// faultTable holds the active faults. Requests take a fault out under the
// mutex and apply it after releasing it, so a slow fault never blocks other
// requests or SetFault.
type faultTable struct {
	mu     sync.Mutex
	faults map[Endpoint]*activeFault
}

type activeFault struct {
	f         Fault
	remaining int // for Times > 0
}

// take returns the fault to apply to one request of ep, consuming one use
// of a counted fault.
func (t *faultTable) take(ep Endpoint) (Fault, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	af, ok := t.faults[ep]
	if !ok {
		return Fault{}, false
	}
	if af.f.Times > 0 {
		af.remaining--
		if af.remaining <= 0 {
			delete(t.faults, ep)
		}
	}
	return af.f, true
}

// SetFault makes endpoint ep misbehave as f describes, replacing any fault
// already set on it. Faults apply before the endpoint's normal handling and
// take precedence over it, but [Server.SetOutage] takes precedence over
// faults. With Options.OneTimeClientAssertions, a token request that a
// fault answers (or holds, or drops) still spends its certificate-signed
// client assertion, as at a server that records a jti when it reads the
// request and fails afterwards: the client's retry needs a new one. Faulted requests are counted by [Server.Requests]. A zero Fault
// (or Times < 0) clears the endpoint's fault.
func (s *Server) SetFault(ep Endpoint, f Fault) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if f.Times < 0 || isZeroFault(f) {
		delete(s.faults.faults, ep)
		return
	}
	if s.faults.faults == nil {
		s.faults.faults = make(map[Endpoint]*activeFault)
	}
	s.faults.faults[ep] = newActiveFault(f)
}

func newActiveFault(f Fault) *activeFault {
	f.Body = append([]byte(nil), f.Body...) // the caller may reuse its slice
	if len(f.Body) == 0 {
		f.Body = nil
	}
	return &activeFault{f: f, remaining: f.Times}
}

// replace makes faults the whole table at once, so no request sees the
// table half replaced (neither the old faults nor the new ones).
func (t *faultTable) replace(faults map[Endpoint]Fault) {
	m := make(map[Endpoint]*activeFault, len(faults))
	for ep, f := range faults {
		if f.Times >= 0 && !isZeroFault(f) {
			m[ep] = newActiveFault(f)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults = m
}

// answers reports whether f answers the request itself (or never does)
// rather than delaying the normal handling.
func (f Fault) answers() bool {
	return f.Hang || f.Drop || f.Status != 0 || f.Body != nil
}

func isZeroFault(f Fault) bool {
	return f.Latency <= 0 && f.Status == 0 && f.RetryAfter <= 0 && !f.Drop && !f.Hang && f.Body == nil && !f.Echo
}

// ClearFaults removes every fault; the outage switch is separate.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	clear(s.faults.faults)
}

// SetOutage switches a full Entra outage on or off. While on, every
// endpoint answers 503 with Entra's temporarily_unavailable body (AADSTS90033)
// at once, overriding faults; requests are still counted. This is the switch
// for testing that a client keeps serving cached tokens while Entra is down.
func (s *Server) SetOutage(on bool) { s.outage.Store(on) }

// applyFault carries out f on one request and reports whether it answered
// the request. false means the normal handler should run (a latency-only
// fault, or a client that went away while waiting, which needs no answer).
func (s *Server) applyFault(x *exchange, f Fault) (answered bool) {
	if f.Hang {
		<-x.r.Context().Done()
		x.status = statusClientGone
		// Whatever ended the wait, nothing is sent: a handler that returns
		// would answer an empty 200.
		panic(http.ErrAbortHandler)
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-x.r.Context().Done():
			t.Stop()
			x.status = statusClientGone
			return true
		}
	}
	if f.Drop {
		x.status = statusDropped
		// Tells net/http to abort the response without logging a panic:
		// the connection is closed (HTTP/1) or the stream reset (HTTP/2).
		panic(http.ErrAbortHandler)
	}
	if f.RetryAfter > 0 && (f.Status != 0 || f.Body != nil || f.Echo) {
		x.w.Header().Set("Retry-After", formatSeconds(f.RetryAfter))
	}
	switch {
	case f.Echo:
		status := f.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		x.writeEcho(status)
		return true
	case f.Body != nil:
		status := f.Status
		if status == 0 {
			status = http.StatusOK
		}
		ct := f.ContentType
		if ct == "" {
			ct = jsonContentType
		}
		x.writeRaw(status, ct, f.Body)
		return true
	case f.Status != 0:
		x.writeError(errForStatus(f.Status))
		return true
	}
	return false
}

// formatSeconds renders a Retry-After delay in whole seconds, rounded up so
// a compliant client never comes back early.
func formatSeconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// writeEcho answers with an Entra-shaped error quoting the request: what
// an Echo fault sends.
func (x *exchange) writeEcho(status int) {
	var b strings.Builder
	fmt.Fprintf(&b, "AADSTS900144: request echoed by a gateway:\r\n%s %s\r\n", x.r.Method, x.r.URL.RequestURI())
	names := make([]string, 0, len(x.r.Header))
	for k := range x.r.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range x.r.Header[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	if x.form != nil {
		// The token endpoint has parsed the body already.
		b.WriteString(x.form.Encode())
	} else if x.r.Body != nil {
		body, _ := io.ReadAll(io.LimitReader(x.r.Body, maxFormBytes))
		b.Write(body)
	}
	if x.entry != nil {
		x.entry.ErrorCode = 900144
	}
	x.setNoCache()
	x.writeJSON(status, entraErrorBody{
		Error:            "invalid_request",
		ErrorDescription: b.String(),
		ErrorCodes:       []int{900144},
		Timestamp:        x.s.now().UTC().Format(entraTimestamp),
		TraceID:          x.traceID,
		CorrelationID:    x.correlationID,
	})
}
