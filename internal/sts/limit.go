package sts

import (
	"io"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// MaxResponseBytes is the most of a token endpoint's answer that is read. Real
// token responses are a few KiB; anything bigger is a misbehaving proxy or a
// hostile server, and reading it unbounded would let it exhaust memory.
const MaxResponseBytes = 1 << 20

// readCapped reads at most MaxResponseBytes+1 bytes of r. The extra byte is what
// distinguishes "exactly at the limit" from "over it"; tooLarge reports the latter.
func readCapped(r io.Reader) (body []byte, tooLarge bool, err error) {
	body, err = io.ReadAll(io.LimitReader(r, MaxResponseBytes+1))
	if err != nil {
		return nil, false, err
	}
	if len(body) > MaxResponseBytes {
		return nil, true, nil
	}
	return body, false, nil
}

// LimitResponseBodies wraps a transport so that no response body yields more than
// MaxResponseBytes+1 bytes.
//
// Client.Token caps what it reads itself, but azcore's pipeline downloads every
// error response (status 400 and above) in full before Token sees it, and its
// retry policy drains every retried response. Only a transport can bound those
// reads, so credentials should build their azcore client with
// Transport: LimitResponseBodies(userTransport). A nil next means
// http.DefaultClient, whose process-wide connection pool is what a credential
// without a custom transport should share.
func LimitResponseBodies(next policy.Transporter) policy.Transporter {
	if next == nil {
		next = http.DefaultClient
	}
	return limitedTransport{next: next}
}

// limitedTransport is the Transporter returned by LimitResponseBodies.
type limitedTransport struct {
	next policy.Transporter
}

// Do sends req with the wrapped transport and caps the response body.
func (t limitedTransport) Do(req *http.Request) (*http.Response, error) {
	resp, err := t.next.Do(req)
	if resp != nil && resp.Body != nil && resp.Body != http.NoBody {
		resp.Body = &cappedBody{rc: resp.Body, left: MaxResponseBytes + 1}
	}
	return resp, err
}

// cappedBody ends a body early, with io.EOF, once its budget is spent. Ending
// rather than failing lets azcore's policies finish normally; readCapped then sees
// the one byte over the limit and reports the response as too large. Closing the
// underlying body before it is exhausted drops the connection, which is what an
// oversized answer deserves.
type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

// Read reads from the underlying body until the budget is spent.
func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

// Close closes the underlying body.
func (b *cappedBody) Close() error {
	return b.rc.Close()
}
