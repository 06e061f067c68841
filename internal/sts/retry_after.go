package sts

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter bounds a server's Retry-After. Nothing longer means anything for
// a token that lives an hour or so, and the bound keeps absurd values from
// overflowing time.Duration.
const maxRetryAfter = 24 * time.Hour

// retryAfter reads how long the server asked us to wait, from the headers azcore
// honours, in azcore's order of preference: retry-after-ms, x-ms-retry-after-ms,
// then Retry-After in seconds or as an HTTP date. A date is measured against the
// response's own Date header when it has one, so that a skewed local clock does
// not stretch or cancel the wait; now is the fallback. 0 means no usable hint.
func retryAfter(h http.Header, now time.Time) time.Duration {
	for _, name := range []string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if d := parseWait(h.Get(name), time.Millisecond); d > 0 {
			return d
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if d := parseWait(v, time.Second); d > 0 {
		return d
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		now = date
	}
	return clampWait(at.Sub(now))
}

// parseWait reads a non-negative integer count of unit. Values too large for an
// int64 count as the maximum wait rather than as no hint: the server clearly
// meant "not soon".
func parseWait(v string, unit time.Duration) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) && n > 0 {
		return maxRetryAfter
	}
	if err != nil || n <= 0 {
		return 0
	}
	if n > int64(maxRetryAfter/unit) {
		return maxRetryAfter
	}
	return time.Duration(n) * unit
}

// clampWait keeps d within [0, maxRetryAfter].
func clampWait(d time.Duration) time.Duration {
	return min(max(d, 0), maxRetryAfter)
}
