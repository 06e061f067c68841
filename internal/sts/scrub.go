package sts

import (
	"bytes"
	"encoding/json"
	"html"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// redactedSecret replaces a secret wherever it is found in text we keep.
const redactedSecret = "[REDACTED]"

// minSecretLen is the shortest secret that is scrubbed. Replacing every "a" or
// "12" in an error message would mangle it without protecting anything: a value
// that short is not a secret worth the name.
const minSecretLen = 4

// scrubber removes the secrets of one request from text that outlives it. A
// server may echo a secret back (some proxies reflect the request, some error
// pages quote it), and not always verbatim, so each secret is also looked for in
// the encodings an echo is likely to use: form/query escaping, path escaping,
// JSON string escaping and HTML escaping.
type scrubber struct {
	r *strings.Replacer // nil when there is nothing to scrub
}

// newScrubber prepares a scrubber for secrets. Secrets shorter than minSecretLen
// are ignored.
func newScrubber(secrets []string) scrubber {
	var needles []string
	for _, s := range secrets {
		if len(s) < minSecretLen {
			continue
		}
		needles = append(needles, s, url.QueryEscape(s), url.PathEscape(s), html.EscapeString(s))
		needles = append(needles, jsonEscaped(s, true), jsonEscaped(s, false))
	}
	if len(needles) == 0 {
		return scrubber{}
	}
	// strings.Replacer tries patterns in argument order at each position, so the
	// longest go first: an encoded form that contains the plain secret must be
	// replaced whole, not leave its escape characters around a marker.
	slices.SortFunc(needles, func(a, b string) int { return len(b) - len(a) })
	needles = slices.Compact(needles)
	args := make([]string, 0, 2*len(needles))
	for _, n := range needles {
		if n == "" {
			continue
		}
		args = append(args, n, redactedSecret)
	}
	return scrubber{r: strings.NewReplacer(args...)}
}

// jsonEscaped returns s as it appears between the quotes of a JSON string.
func jsonEscaped(s string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(s) // encoding a string cannot fail
	out := strings.TrimSuffix(b.String(), "\n")
	return strings.TrimSuffix(strings.TrimPrefix(out, `"`), `"`)
}

// active reports whether the scrubber has any secret to remove.
func (s scrubber) active() bool { return s.r != nil }

// String returns v with every secret, and anything shaped like a JSON Web
// Token, replaced.
func (s scrubber) String(v string) string {
	if v == "" {
		return v
	}
	if s.r != nil {
		v = s.r.Replace(v)
	}
	return redactJWTs(v)
}

// found reports whether v contains a secret or a JWT.
func (s scrubber) found(v string) bool {
	return s.String(v) != v
}

// foundInDecodedViews reports whether a secret or a JWT appears in v once v
// is decoded the way a reader might decode it: HTML entities resolved, form
// escaping undone, whitespace collapsed. Literal scrubbing cannot remove
// such an echo in place, so a caller that gets true should drop the text.
func (s scrubber) foundInDecodedViews(v string) bool {
	unescaped := html.UnescapeString(v)
	views := []string{unescaped, oneLine(v), oneLine(unescaped)}
	if q, err := url.QueryUnescape(v); err == nil {
		views = append(views, q)
	}
	for _, view := range views {
		if s.found(view) {
			return true
		}
	}
	return false
}

// Bytes returns b with every secret and JWT replaced. It returns b itself
// when nothing changes.
func (s scrubber) Bytes(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	out := s.String(string(b))
	if out == string(b) {
		return b
	}
	return []byte(out)
}

// jwtShaped matches a compact JWS or JWT (a header that starts as JSON's
// "{" does in base64url, then at least a payload). An error page may quote
// a token the request never carried as a secret of its own (an access
// token from elsewhere, an id_token), and none belongs in an error text.
var jwtShaped = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(\.[A-Za-z0-9_-]*)?`)

// redactJWTs replaces every JWT-shaped run of v.
func redactJWTs(v string) string {
	if !strings.Contains(v, "eyJ") {
		return v
	}
	return jwtShaped.ReplaceAllString(v, redactedSecret)
}

// Scrub returns text with every one of secrets (of at least four bytes)
// replaced by "[REDACTED]", in each encoding an echo is likely to use
// (form and path escaping, JSON and HTML escaping), as Token does for its
// own errors. It is for errors built outside this package from an answer
// to a request that carried secrets, such as a managed identity endpoint's.
func Scrub(text string, secrets ...string) string {
	return newScrubber(secrets).String(text)
}
