package sts

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// checkEndpoint parses a token endpoint and refuses any that would expose the
// request: a token request carries credentials in its body, so it goes only over
// https, except to a loopback host when a test asked for that explicitly.
func checkEndpoint(endpoint string, allowInsecureLoopback bool) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		// url.Error repeats the input, which is only our own endpoint string.
		return nil, fmt.Errorf("sts: invalid token endpoint: %w", err)
	}
	if u.Host == "" || u.Hostname() == "" || !u.IsAbs() {
		return nil, fmt.Errorf("sts: token endpoint %q is not an absolute URL with a host", u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("sts: token endpoint %q must not contain user information", u.Redacted())
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if allowInsecureLoopback && isLoopback(u.Hostname()) {
			return u, nil
		}
		return nil, fmt.Errorf("sts: refusing to send a token request to %s://%s: token requests carry credentials and are sent only over https", u.Scheme, u.Host)
	default:
		return nil, fmt.Errorf("sts: refusing to send a token request to %q: the scheme must be https", u.Scheme+"://"+u.Host)
	}
}

// isLoopback reports whether host names this machine and nothing else: a loopback
// IP literal or "localhost". Other names are refused even if they resolve to a
// loopback address, because resolution can change between check and use.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
