package authority

import (
	"errors"
	"net"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// FailFastOnUnknownHost wraps a transport so that a request to a host name
// that does not exist (DNS answers "no such host") fails at once instead of
// going through azcore's retries: asking again in a few seconds gets the
// same answer, and a credential that waits ~10 s for it hides the real
// problem (a mistyped authority host, or no route to Entra). Temporary DNS
// failures (timeouts, a server failure) are still retried.
func FailFastOnUnknownHost(next policy.Transporter) policy.Transporter {
	if next == nil {
		next = http.DefaultClient
	}
	return failFastTransport{next: next}
}

type failFastTransport struct{ next policy.Transporter }

// Do sends req and marks a "no such host" failure as not retriable.
func (t failFastTransport) Do(req *http.Request) (*http.Response, error) {
	resp, err := t.next.Do(req)
	var dns *net.DNSError
	if err != nil && errors.As(err, &dns) && dns.IsNotFound {
		return resp, &UnknownHostError{err: err}
	}
	return resp, err
}

// UnknownHostError reports that a host name does not resolve. It wraps the
// transport's error.
type UnknownHostError struct{ err error }

// Error is the transport's error.
func (e *UnknownHostError) Error() string { return e.err.Error() }

// Unwrap returns the transport's error (a *net.DNSError inside).
func (e *UnknownHostError) Unwrap() error { return e.err }

// NonRetriable tells azcore's retry policy not to retry.
func (*UnknownHostError) NonRetriable() {}
