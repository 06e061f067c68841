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

// LocalHost reports whether host (without port) is this machine: a loopback
// IP literal, "localhost", or a name under ".localhost", which resolvers
// answer with loopback addresses (RFC 6761). Such an authority is an
// emulator or a developer's own service: Entra's instance discovery cannot
// vouch for it, and secrets sent there stay on the machine, so it needs
// none.
func LocalHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	return isLoopback(h) || strings.HasSuffix(h, ".localhost")
}
