package authority

import (
	"net"
	"strings"
)

// isLoopback reports whether host names this machine and nothing else: a loopback
// IP literal or "localhost". Other names are not trusted to be local even if they
// resolve to a loopback address today, since resolution can change.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
