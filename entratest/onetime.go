package entratest

import (
	"container/heap"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxRememberedAssertions bounds the one-time assertion register. It holds
// one entry per certificate-signed assertion still within its lifetime;
// at ten minutes each that is 166 requests a second sustained, far beyond
// any test. Past it the entries closest to expiry are forgotten first, so
// only a replay of one of those could slip through.
const maxRememberedAssertions = 100_000

// usedAssertions remembers the jti of every certificate-signed client
// assertion accepted, per client, until the assertion expires: what a
// server that enforces one-time use (OpenID Connect Core §9, RFC 7523 §3)
// keeps. The lock is held only for map and heap updates, never across I/O.
type usedAssertions struct {
	limit int // maxRememberedAssertions, smaller in tests
	mu    sync.Mutex
	seen  map[usedKey]int64 // jti → exp (Unix seconds)
	queue expiryHeap        // the same entries, soonest expiry first
}

// usedKey scopes a jti to its client: two apps may pick the same one.
type usedKey struct{ clientID, jti string }

func newUsedAssertions() *usedAssertions {
	return &usedAssertions{limit: maxRememberedAssertions, seen: make(map[usedKey]int64)}
}

// use records the assertion (clientID, jti) valid until exp and reports
// whether it was new. Entries whose exp has passed are dropped first:
// an expired assertion is refused for its time range anyway.
func (u *usedAssertions) use(clientID, jti string, exp int64, now time.Time) bool {
	k := usedKey{strings.ToLower(clientID), jti}
	u.mu.Lock()
	defer u.mu.Unlock()
	for len(u.queue) > 0 && u.queue[0].exp <= now.Unix() {
		u.forget(heap.Pop(&u.queue).(expiryEntry))
	}
	if _, ok := u.seen[k]; ok {
		return false
	}
	for len(u.queue) >= u.limit {
		u.forget(heap.Pop(&u.queue).(expiryEntry))
	}
	u.seen[k] = exp
	heap.Push(&u.queue, expiryEntry{key: k, exp: exp})
	return true
}

// forget removes a popped entry from the map.
func (u *usedAssertions) forget(e expiryEntry) {
	if u.seen[e.key] == e.exp {
		delete(u.seen, e.key)
	}
}

type expiryEntry struct {
	key usedKey
	exp int64
}

// expiryHeap is a min-heap of entries by exp (container/heap).
type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// checkOneTime applies Options.OneTimeClientAssertions to a verified
// certificate-signed assertion: it needs a jti, and the jti must be new
// for the client.
func (s *Server) checkOneTime(app App, j *parsedJWT) *entraError {
	if s.usedAssertions == nil {
		return nil
	}
	if j.claims.Jti == "" {
		return errAssertionNoJti()
	}
	_, exp, _ := j.times() // checked by checkAssertionTimes already
	if !s.usedAssertions.use(app.ClientID, j.claims.Jti, exp, s.now()) {
		return errAssertionReplayed()
	}
	return nil
}

// spendAssertion records the jti of a token request's certificate-signed
// client assertion before a fault answers the request. A strict server
// records a jti once it has read and verified the assertion, and what goes
// wrong after that (a 5xx, a lost answer, a stuck backend) does not give
// the jti back: the client's retry of the same body is a replay. The
// assertion is verified as the token endpoint would verify it, so a
// forged or malformed one spends nothing; its errors are dropped because
// the fault answers instead.
func (s *Server) spendAssertion(x *exchange) {
	if s.usedAssertions == nil || x.r.Method != http.MethodPost || x.form.Get("client_assertion") == "" {
		return
	}
	_, _ = s.authenticateClient(x, strings.ToLower(x.r.PathValue("tenant")))
}

// Entra does not enforce one-time assertions, so it has no code of its own
// for a replay. The emulator answers as Entra answers every other client
// assertion it refuses after parsing it: invalid_client, AADSTS700027,
// with the reason in brackets. A client handles it as it would any
// rejected credential.

func errAssertionReplayed() *entraError {
	return &entraError{status: http.StatusUnauthorized, oauth: "invalid_client", code: 700027,
		message: "Client assertion failed signature validation. [Reason - The assertion was already used: its jti has been presented before. Sign a new client assertion, with a new jti, for every token request.]"}
}

func errAssertionNoJti() *entraError {
	return &entraError{status: http.StatusUnauthorized, oauth: "invalid_client", code: 700027,
		message: "Client assertion failed signature validation. [Reason - The assertion has no jti claim; a one-time client assertion needs a unique jti.]"}
}
