package entratest

import (
	"time"
)

// Request is one request to any endpoint of the emulator, as recorded in
// [Server.RequestLog]. It holds no query string, header or body, so it
// never contains a secret, code or token and can be printed in a failing
// test.
type Request struct {
	// Time is when the request arrived, by the server's clock.
	Time time.Time
	// Endpoint is the endpoint that served it.
	Endpoint Endpoint
	// Method and Path are the HTTP method and the URL path (no query).
	Method string
	Path   string
	// Host is the Host the client addressed: the emulator's address, or a
	// public host name such as login.microsoftonline.com when the request
	// came through the proxy.
	Host string
	// Proxied is true when the request came through the CONNECT proxy.
	Proxied bool
	// Status is the HTTP status answered (0: dropped by a fault; -1: the
	// client went away during a latency fault).
	Status int
}

// RequestLog returns a copy of the log of requests to every endpoint, in
// completion order, at most the latest 10000, including requests answered
// by faults or outages. Paths that are no endpoint are not logged. It is
// emptied by [Server.ResetCounts]. [Server.TokenRequests] has more detail
// about token requests.
func (s *Server) RequestLog() []Request {
	return s.reqlog.snapshot()
}

// logRequest records x once it is answered.
func (x *exchange) logRequest(start time.Time) {
	x.s.reqlog.add(Request{
		Time:     start,
		Endpoint: x.ep,
		Method:   x.r.Method,
		Path:     x.r.URL.Path,
		Host:     x.r.Host,
		Proxied:  x.proxied(),
		Status:   x.status,
	})
}
