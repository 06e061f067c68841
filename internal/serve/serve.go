// Package serve is the HTTP handler behind "azid serve": App Service's
// managed identity endpoint, answered with tokens from any azid credential,
// so that an unmodified program using ManagedIdentityCredential or
// DefaultAzureCredential, in any language, gets the developer's identity.
//
// Two protocol versions are spoken on one path, as App Service did when it
// set IDENTITY_ENDPOINT and MSI_ENDPOINT to the same URL:
//
//   - api-version 2019-08-01: the secret in X-IDENTITY-HEADER; the answer's
//     expires_on is Unix seconds in a string; identities are selected with
//     client_id, mi_res_id, object_id or principal_id.
//   - api-version 2017-09-01: the secret in a "secret" header; expires_on is
//     Unix seconds in a string too (see encodeAnswer); clientid selects.
//
// The handler is the only thing between any local process and the
// developer's tokens, so every request is checked before a credential is
// asked: a per-client rate limit, the Host header (DNS rebinding), no
// browser (Origin, Sec-Fetch-*, preflights), the secret in constant time,
// then the resource against an optional allow list.
package serve

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
)

// Path is where the endpoint answers; IDENTITY_ENDPOINT and MSI_ENDPOINT
// are this path on the server's address. A trailing slash and other case
// are accepted, as App Service's own endpoint (".../MSI/token/") was, because
// some clients append "/" before the query.
const Path = "/msi/token"

// The API versions and their secret headers.
const (
	APIVersion2019 = "2019-08-01"
	APIVersion2017 = "2017-09-01"
	header2019     = "X-Identity-Header"
	header2017     = "Secret"
)

// Default rate limit per client IP address. SDK clients cache tokens, so a
// well-behaved program asks a few times an hour; the burst lets a test
// suite or a fleet of containers behind one address start at once.
const (
	DefaultRate  = 50
	DefaultBurst = 200
)

// maxQuery bounds the query string: resources are URLs, never long.
const maxQuery = 4096

// Options configure a Handler.
type Options struct {
	// Credential gets the tokens. Required.
	Credential azcore.TokenCredential
	// Secret is what callers must send in X-IDENTITY-HEADER (or
	// "secret"); at least 32 characters. NewSecret makes one.
	Secret string
	// ClientID is reported in answers' client_id and is the only
	// client_id a request may select. Empty: the token's appid (or azp)
	// claim.
	ClientID string
	// TenantID, if set, is the tenant every token is requested from.
	TenantID string
	// Hosts are the host names (without port) the Host header may carry.
	// Loopback names (localhost, 127.0.0.1, ::1) are always accepted.
	Hosts []string
	// AllowResources, when not empty, lists the only resources served
	// (compared ignoring case and a trailing slash); others get 403.
	AllowResources []string
	// Rate is the requests per second allowed per client IP, with Burst
	// at once. 0 means DefaultRate and DefaultBurst; negative, no limit.
	Rate  float64
	Burst int
	// Log, if set, is called once per request, after the answer.
	Log func(Event)
}

// Event describes one request for the log. It never holds a token or
// the secret.
type Event struct {
	Remote   string // the caller's address
	Method   string
	Resource string // as requested; empty when refused before parsing
	Status   int
	// Source is "cache" (the credential's token request counter did not
	// move while it waited), "upstream" (it did), or "" when no token was
	// served or the credential keeps no statistics. The counter is the
	// credential's, so a hit that coincides with another resource's
	// acquisition reads "upstream": the log is for people, not accounting.
	Source string
	// Reason says why a request was refused or failed.
	Reason   string
	Duration time.Duration
}

// Handler serves the managed identity endpoint.
type Handler struct {
	cred     azcore.TokenCredential
	stats    interface{ CacheStats() azid.CacheStats }
	secret   []byte
	clientID string
	tenantID string
	hosts    map[string]bool
	allow    map[string]bool
	limiter  *limiter
	log      func(Event)
	now      func() time.Time

	// answers keeps the encoded answer of each resource's current token:
	// a hit then writes bytes it already has. Bounded by maxAnswers.
	answers  sync.Map // answerKey → *answer
	nAnswers atomic.Int32
}

type answerKey struct{ apiVersion, resource string }

// answer is an encoded token answer and its headers, shared by every
// request served the same token; never modified once stored.
type answer struct {
	token  string
	body   []byte
	header http.Header
}

// maxAnswers bounds the encoded answers kept: one per resource and API
// version asked for; past it, answers are encoded per request.
const maxAnswers = 1024

// NewSecret returns a random 256-bit secret, hex-encoded so that it is
// safe in a header and a shell.
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("making the secret: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// New returns a Handler.
func New(o Options) (*Handler, error) {
	if o.Credential == nil {
		return nil, errors.New("serve: a credential is required")
	}
	if len(o.Secret) < 32 {
		return nil, errors.New("serve: the secret must be at least 32 characters (use NewSecret)")
	}
	h := &Handler{
		cred:     o.Credential,
		secret:   []byte(o.Secret),
		clientID: o.ClientID,
		tenantID: o.TenantID,
		hosts:    map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true},
		log:      o.Log,
		now:      time.Now,
	}
	h.stats, _ = o.Credential.(interface{ CacheStats() azid.CacheStats })
	for _, n := range o.Hosts {
		h.hosts[strings.ToLower(strings.Trim(n, "[]"))] = true
	}
	if len(o.AllowResources) > 0 {
		h.allow = map[string]bool{}
		for _, r := range o.AllowResources {
			h.allow[normalResource(r)] = true
		}
	}
	rate, burst := o.Rate, o.Burst
	if rate == 0 {
		rate, burst = DefaultRate, DefaultBurst
	}
	if rate > 0 {
		h.limiter = newLimiter(rate, max(burst, 1))
	}
	return h, nil
}

func normalResource(r string) string { return strings.ToLower(strings.TrimRight(r, "/")) }

// refusal is an answer other than a token.
type refusal struct {
	status     int
	message    string // to the caller
	reason     string // to the log
	retryAfter int    // seconds, for 429
}

// ServeHTTP answers one token request: a token in App Service's shape, or
// App Service's error shape; then it calls Options.Log.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ev := Event{Remote: r.RemoteAddr, Method: r.Method}
	tok, req, ref := h.serve(r, &ev)
	if ref != nil {
		ev.Status, ev.Reason = ref.status, ref.reason
		writeError(w, *ref)
	} else {
		ev.Status = http.StatusOK
		h.writeToken(w, req, tok)
	}
	if h.log != nil {
		ev.Duration = time.Since(start)
		h.log(ev)
	}
}

// request is a parsed token request.
type request struct {
	apiVersion string
	resource   string
}

func (h *Handler) serve(r *http.Request, ev *Event) (azcore.AccessToken, request, *refusal) {
	if h.limiter != nil {
		if wait, ok := h.limiter.allow(clientIP(r.RemoteAddr), h.now()); !ok {
			return azcore.AccessToken{}, request{}, &refusal{status: http.StatusTooManyRequests,
				message: "Too many requests from this client; retry after the time in Retry-After.",
				reason:  "rate limited", retryAfter: wait}
		}
	}
	if !h.hostAllowed(r.Host) {
		return azcore.AccessToken{}, request{}, &refusal{status: http.StatusForbidden,
			message: "The Host header names a host this server does not serve (start azid serve with --allow-host NAME to add one).",
			reason:  fmt.Sprintf("Host %q not allowed (DNS rebinding?)", truncate(r.Host, 100))}
	}
	if isBrowser(r) {
		return azcore.AccessToken{}, request{}, &refusal{status: http.StatusForbidden,
			message: "Browsers may not call this endpoint.", reason: "browser request (Origin, Sec-Fetch or preflight)"}
	}
	if !strings.EqualFold(strings.TrimSuffix(r.URL.Path, "/"), Path) {
		return azcore.AccessToken{}, request{}, &refusal{status: http.StatusNotFound,
			message: "Not found: the endpoint is " + Path + ".", reason: "unknown path"}
	}
	if r.Method != http.MethodGet {
		return azcore.AccessToken{}, request{}, &refusal{status: http.StatusMethodNotAllowed,
			message: "The request method is not supported; use GET.", reason: "method not allowed"}
	}
	// The secret is checked before anything about the query is said, so
	// a caller without it learns nothing but 401; an over-long query is
	// not parsed at all, and the secret may then be in either header.
	tooLong := len(r.URL.RawQuery) > maxQuery
	var q Query
	var qerr error
	if !tooLong {
		q, qerr = ParseQuery(r.URL.RawQuery)
	}
	if !h.secretOK(r, q.APIVersion) {
		msg := "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER."
		if q.APIVersion == APIVersion2017 {
			msg = "The secret header is missing or does not match MSI_SECRET."
		}
		return azcore.AccessToken{}, request{}, &refusal{status: http.StatusUnauthorized, message: msg, reason: "missing or wrong secret"}
	}
	if tooLong {
		return azcore.AccessToken{}, request{}, &refusal{status: http.StatusBadRequest,
			message: "The query string is too long.", reason: "query too long"}
	}
	if qerr != nil {
		return azcore.AccessToken{}, request{}, &refusal{status: http.StatusBadRequest, message: qerr.Error(), reason: qerr.Error()}
	}
	ev.Resource = q.Resource
	if q.Selector.Param != "" && !h.selects(q.Selector) {
		return azcore.AccessToken{}, request{}, &refusal{status: http.StatusBadRequest,
			message: "Unable to load the proper Managed Identity. This server serves one identity; leave out " + q.Selector.Param + ".",
			reason:  "asked for identity " + q.Selector.Param + "=" + strconv.Quote(truncate(q.Selector.Value, 100))}
	}
	if h.allow != nil && !h.allow[normalResource(q.Resource)] {
		return azcore.AccessToken{}, request{}, &refusal{status: http.StatusForbidden,
			message: "This server does not serve tokens for the resource (see azid serve's --allow-resource).",
			reason:  "resource not allowed"}
	}
	var before uint64
	if h.stats != nil {
		before = h.stats.CacheStats().TokenRequests
	}
	tok, err := h.cred.GetToken(r.Context(), policy.TokenRequestOptions{Scopes: []string{Scope(q.Resource)}, TenantID: h.tenantID})
	if err != nil {
		return azcore.AccessToken{}, request{}, failure(r.Context(), err)
	}
	if h.stats != nil {
		ev.Source = "cache"
		if h.stats.CacheStats().TokenRequests != before {
			ev.Source = "upstream"
		}
	}
	return tok, request{apiVersion: q.APIVersion, resource: q.Resource}, nil
}

// failure turns a credential's error into an answer. Errors a retry
// cannot fix get 400 (SDKs retry 5xx and 429 with backoff, which would only
// delay the message); the others 500.
func failure(ctx context.Context, err error) *refusal {
	var (
		required *azid.AuthenticationRequiredError
		failed   *azid.AuthenticationFailedError
		nr       interface{ NonRetriable() }
	)
	switch {
	case ctx.Err() != nil:
		return &refusal{status: http.StatusServiceUnavailable, message: "The request was cancelled.", reason: "caller went away"}
	case errors.As(err, &required):
		return &refusal{status: http.StatusBadRequest,
			message: "azid serve: the sign-in needs you again: run \"azid login\" where azid serve runs, then retry (azid serve keeps running).",
			reason:  "sign-in needed: run \"azid login\""}
	case errors.As(err, &failed), errors.As(err, &nr):
		msg := oneLine(err.Error())
		return &refusal{status: http.StatusBadRequest, message: "azid serve: the credential could not get a token: " + msg, reason: msg}
	default:
		msg := oneLine(err.Error())
		return &refusal{status: http.StatusInternalServerError, message: "azid serve: getting a token failed: " + msg, reason: msg}
	}
}

// Scope is the scope of an App Service resource: resource + "/.default".
// A trailing slash is kept ("https://management.core.windows.net/" gives
// "https://management.core.windows.net//.default"), because Entra puts the
// resource, slash and all, in the token's audience, and the scope →
// resource conversion of every SDK (trim "/.default") gives it back exactly.
func Scope(resource string) string {
	if strings.HasSuffix(resource, "/.default") {
		return resource
	}
	return resource + "/.default"
}

func (h *Handler) secretOK(r *http.Request, apiVersion string) bool {
	var got string
	switch apiVersion {
	case APIVersion2019:
		got = r.Header.Get(header2019)
	case APIVersion2017:
		got = r.Header.Get(header2017)
	default:
		// An unknown version gets a 400, but only after the secret
		// (in either header) is shown to be known.
		if got = r.Header.Get(header2019); got == "" {
			got = r.Header.Get(header2017)
		}
	}
	return subtle.ConstantTimeCompare([]byte(got), h.secret) == 1
}

func (h *Handler) hostAllowed(host string) bool {
	if host == "" {
		return false
	}
	name := host
	if n, _, err := net.SplitHostPort(host); err == nil {
		name = n
	}
	return h.hosts[strings.ToLower(strings.Trim(name, "[]"))]
}

// isBrowser is true for requests only a browser sends: SDKs send no
// Origin and no Sec-Fetch-* headers, and never preflight.
func isBrowser(r *http.Request) bool {
	if r.Method == http.MethodOptions || r.Header.Get("Origin") != "" ||
		r.Header.Get("Access-Control-Request-Method") != "" {
		return true
	}
	for k := range r.Header {
		if strings.HasPrefix(k, "Sec-Fetch-") {
			return true
		}
	}
	return false
}

// selects says whether sel names the one identity this server serves: only
// its client ID can, when it is known.
func (h *Handler) selects(sel Selector) bool {
	switch sel.Param {
	case "client_id", "clientid":
		return h.clientID != "" && strings.EqualFold(sel.Value, h.clientID)
	}
	return false
}

func (h *Handler) clientIDFor(token string) string {
	if h.clientID != "" {
		return h.clientID
	}
	return claimsClientID(token)
}

// claimsClientID reads appid (v1 tokens) or azp (v2) from a JWT, for the
// answer's client_id; nothing is verified (the token is the resource's
// business).
func claimsClientID(token string) string {
	_, rest, ok := strings.Cut(token, ".")
	if !ok {
		return ""
	}
	payload, _, ok := strings.Cut(rest, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return ""
	}
	var c struct {
		AppID string `json:"appid"`
		AZP   string `json:"azp"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	if c.AppID != "" {
		return c.AppID
	}
	return c.AZP
}

func (h *Handler) writeToken(w http.ResponseWriter, req request, tok azcore.AccessToken) {
	key := answerKey{req.apiVersion, req.resource}
	var a *answer
	if v, ok := h.answers.Load(key); ok && v.(*answer).token == tok.Token {
		a = v.(*answer)
	} else {
		a = encodeAnswer(req, tok, h.clientIDFor(tok.Token))
		if ok || h.nAnswers.Load() < maxAnswers {
			if _, loaded := h.answers.Swap(key, a); !loaded {
				h.nAnswers.Add(1)
			}
		}
	}
	hd := w.Header()
	for k, v := range a.header {
		// The slices are shared, read-only: net/http only reads them.
		hd[k] = v
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(a.body)
}

// encodeAnswer writes App Service's answer by hand rather than with
// encoding/json: the token is most of it, and copying it is all a hit
// should cost.
func encodeAnswer(req request, tok azcore.AccessToken, clientID string) *answer {
	body := make([]byte, 0, len(tok.Token)+len(req.resource)+len(clientID)+128)
	body = append(body, `{"access_token":`...)
	body = appendJSONString(body, tok.Token)
	// expires_on is Unix seconds in a string for both API versions, as the
	// 2019 API and Cloud Shell answer. App Service answered 2017-09-01 with
	// a date ("11/05/2021 15:18:31 +00:00") instead, but every client that
	// sends this version reads seconds: Python's azure-identity and the
	// Azure CLI try an integer before the date (Azure ML answers the same
	// request with seconds), and azidentity for Go, which takes MSI_ENDPOINT
	// with MSI_SECRET for Azure ML, accepts only seconds.
	body = append(body, `,"expires_on":"`...)
	body = strconv.AppendInt(body, tok.ExpiresOn.Unix(), 10)
	body = append(body, `","resource":`...)
	body = appendJSONString(body, req.resource)
	body = append(body, `,"token_type":"Bearer"`...)
	if req.apiVersion != APIVersion2017 && clientID != "" {
		body = append(body, `,"client_id":`...)
		body = appendJSONString(body, clientID)
	}
	body = append(body, '}')
	return &answer{token: tok.Token, body: body, header: http.Header{
		"Content-Type":   {"application/json; charset=utf-8"},
		"Cache-Control":  {"no-store"},
		"Content-Length": {strconv.Itoa(len(body))},
	}}
}

// appendJSONString appends s as a JSON string. Tokens and resources are
// nearly always plain ASCII, copied as they are; anything else goes
// through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// writeError answers in App Service's error shape.
func writeError(w http.ResponseWriter, ref refusal) {
	body, _ := json.Marshal(struct {
		StatusCode    int    `json:"statusCode"`
		Message       string `json:"message"`
		CorrelationID string `json:"correlationId"`
	}{ref.status, ref.message, correlationID()})
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	if ref.status == http.StatusMethodNotAllowed {
		hd.Set("Allow", http.MethodGet)
	}
	if ref.retryAfter > 0 {
		hd.Set("Retry-After", strconv.Itoa(ref.retryAfter))
	}
	w.WriteHeader(ref.status)
	_, _ = w.Write(body)
}

func correlationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func clientIP(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return truncate(s, 1000)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// limiter is a token bucket per client IP address.
type limiter struct {
	rate  float64
	burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the limiter's memory against many source addresses;
// past it, full (idle) buckets are dropped, and if none is, all are.
const maxBuckets = 4096

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), buckets: map[string]*bucket{}}
}

// allow takes one token from ip's bucket; when there is none, it says how
// many whole seconds until there is.
func (l *limiter) allow(ip string, now time.Time) (retryAfter int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[ip]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[ip] = b
	}
	if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = min(l.burst, b.tokens+d*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	wait := (1 - b.tokens) / l.rate
	return max(1, int(wait+0.999)), false
}

func (l *limiter) prune(now time.Time) {
	for ip, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, ip)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
	}
}
