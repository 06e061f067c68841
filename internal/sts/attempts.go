package sts

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// DefaultTryTimeout bounds one HTTP try of a token request when the caller's
// retry options set no TryTimeout. A token endpoint answers in well under a
// second; a try silent for this long is on a lost connection or a hung
// server, and waiting the engine's whole acquisition limit on it would hold
// every caller of the key after the endpoint has recovered. Bounding the try
// keeps one request per key (callers still share one acquisition) while the
// next try, or the next call, reaches the recovered endpoint within seconds.
const DefaultTryTimeout = 5 * time.Second

// MaxWaitedRetryAfter is the longest Retry-After a foreground acquisition
// waits out inside the pipeline (azcore sleeps it, then retries). Callers
// would rather wait a second or two for a token than fail; a longer window
// ends the acquisition so that the cache engine fails the callers that
// arrive during it at once instead of holding them.
const MaxWaitedRetryAfter = 5 * time.Second

// retriedStatuses is azcore's documented default for RetryOptions.StatusCodes,
// used when the caller's options leave it nil.
var retriedStatuses = []int{
	http.StatusRequestTimeout,
	http.StatusTooManyRequests,
	http.StatusInternalServerError,
	http.StatusBadGateway,
	http.StatusServiceUnavailable,
	http.StatusGatewayTimeout,
}

// AttemptContext returns ctx set up for one token acquisition sent through
// an azcore pipeline built with retry as its retry options. It is the one
// place where azid adjusts azcore's retries for token requests, through
// azcore's own per-request mechanism (policy.WithRetryOptions):
//
//   - background (a refresh while the cached token is still served): a
//     single try. The cache engine's backoff is the retry schedule; the
//     pipeline's retries inside each step would multiply the requests sent
//     to an endpoint that is already failing.
//   - otherwise the caller's retry settings, with these changes. An answer
//     carrying a Retry-After longer than [MaxWaitedRetryAfter] ends the
//     acquisition instead of being waited out inside it: the engine records
//     the server's window, fails the callers that arrive during it at once,
//     and goes to the network as soon as it has passed. A try gets [DefaultTryTimeout] when the caller set
//     no TryTimeout, and a try that reaches it ends the acquisition too:
//     the engine starts a new one for the callers still waiting, so a call
//     made once a hung endpoint has recovered gets its token within one try
//     timeout rather than after the pipeline's retry delays.
func AttemptContext(ctx context.Context, retry policy.RetryOptions, background bool) context.Context {
	if retry.TryTimeout == 0 {
		retry.TryTimeout = DefaultTryTimeout
	}
	if background {
		retry.MaxRetries = -1
		return policy.WithRetryOptions(ctx, retry)
	}
	should, codes := retry.ShouldRetry, retry.StatusCodes
	if codes == nil {
		codes = retriedStatuses
	}
	retry.ShouldRetry = func(resp *http.Response, err error) bool {
		if resp != nil && retryAfter(resp.Header, time.Now()) > MaxWaitedRetryAfter {
			return false
		}
		// A try that hit its timeout hung. Sleeping the retry delay before
		// the next try would hold every caller joined to this acquisition
		// for longer still; the cache engine gives them a fresh
		// acquisition at once instead.
		if errors.Is(err, context.DeadlineExceeded) {
			return false
		}
		if should != nil {
			return should(resp, err)
		}
		if err != nil {
			return true
		}
		for _, c := range codes {
			if resp.StatusCode == c {
				return true
			}
		}
		return false
	}
	return policy.WithRetryOptions(ctx, retry)
}
