package tokencache

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
)

// Request is what a credential asks the cache for. The engine derives the
// cache key from it; credentials fill in the fields that apply to them.
type Request struct {
	// TenantID is the tenant the token is for, already resolved and validated
	// by the credential.
	TenantID string
	// Scopes are the requested scopes as the caller gave them. Entries may
	// hold several space-separated scopes; duplicates and letter case do not
	// make a different key.
	Scopes []string
	// EnableCAE asks for a token that supports Continuous Access Evaluation.
	// CAE and non-CAE tokens never share an entry.
	EnableCAE bool
	// Claims, when set, is a claims challenge: the cached token is skipped
	// and the result of a fresh acquisition replaces it.
	Claims string
	// Account is the home account ID, for user flows.
	Account string
	// AssertionHash identifies the user assertion, for on-behalf-of.
	AssertionHash string
	// Identity identifies a managed identity (client, object or resource ID).
	Identity string
	// Background is set by the engine, never by a caller, on the Request it
	// hands to [Acquirer.Acquire] for a refresh started while a usable
	// token is still being served. Such a refresh is one step of the
	// engine's backoff, so the Acquirer should make a single attempt (no
	// retries of its own inside the step): the engine spaces the next one.
	// It is false for acquisitions that callers wait on, which keep the
	// credential's retry settings. It is not part of the key.
	Background bool
}

// Key identifies a cache entry across every layer, including a second-level
// [Store]. Scopes are normalised: split on spaces, lower-cased, de-duplicated
// and sorted. Key values handed to a Store are owned by the engine and must
// not be modified.
type Key struct {
	Authority     string
	ClientID      string
	TenantID      string
	Scopes        []string
	CAE           bool
	Account       string
	AssertionHash string
	Identity      string
}

// ScopeString is the key's scopes joined by spaces, the form token endpoints
// and the MSAL cache schema use.
func (k Key) ScopeString() string { return strings.Join(k.Scopes, " ") }

// ErrNoScopes is returned for a request without a single non-empty scope.
var ErrNoScopes = errors.New("at least one scope is required")

// canonical reports whether r's key fields are already in normal form, so the
// hit path can hash them as they are instead of building a normalised copy.
// In practice almost every request qualifies: one lower-case scope, a
// lower-case tenant ID.
func canonical(r *Request) bool {
	if len(r.Scopes) == 0 || !lowerNoSpace(r.TenantID) {
		return false
	}
	for i, s := range r.Scopes {
		if s == "" || !lowerNoSpace(s) {
			return false
		}
		if i > 0 && r.Scopes[i-1] >= s {
			return false
		}
	}
	return true
}

// lowerNoSpace reports whether s is ASCII with no upper-case letter and no
// space: the strings normalisation would leave unchanged. It runs on every
// hit, so it tests eight bytes at a time.
func lowerNoSpace(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if hasSpecialByte(binary.LittleEndian.Uint64([]byte(s[i : i+8]))) {
			return false
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c-'A' < 26 || c == ' ' || c >= 0x80 {
			return false
		}
	}
	return true
}

// hasSpecialByte reports whether any byte of x is non-ASCII, an upper-case
// letter or a space. For ASCII bytes b, b+(0x80-k) sets the high bit exactly
// when b >= k, and no carry crosses into the next byte.
func hasSpecialByte(x uint64) bool {
	const ones = 0x0101010101010101
	const high = 0x8080808080808080
	if x&high != 0 {
		return true
	}
	geA := x + ones*(0x80-'A')
	gtZ := x + ones*(0x80-'Z'-1)
	upper := geA &^ gtZ
	// A space (0x20) is the only byte that x ^ 0x20..20 turns to zero; a zero
	// byte z is found by z-1 borrowing into its high bit (exact since no
	// byte of x has its high bit set).
	sp := x ^ (ones * ' ')
	space := (sp - ones) &^ sp
	return (upper|space)&high != 0
}

// normalize returns a copy of r with its key fields in normal form. It
// allocates; the hit path calls it only for requests that are not canonical.
func normalize(r Request) (Request, error) {
	var scopes []string
	for _, s := range r.Scopes {
		for _, f := range strings.Fields(s) {
			scopes = append(scopes, strings.ToLower(f))
		}
	}
	if len(scopes) == 0 {
		return Request{}, ErrNoScopes
	}
	slices.Sort(scopes)
	r.Scopes = slices.Compact(scopes)
	r.TenantID = strings.ToLower(r.TenantID)
	return r, nil
}

// requestScopes returns the scopes to send to the token endpoint: split and
// de-duplicated, but in the caller's order and letter case, because the
// service, not the cache, decides whether case matters.
func requestScopes(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		for _, f := range strings.Fields(s) {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// hashKey hashes the key fields of a canonical request. The seed is per
// cache, so no outside party can choose keys that collide.
func hashKey(seed maphash.Seed, r *Request) uint64 { return hashKeyOf(seed, r, false) }

// hashKeyFold hashes a foldable request as hashKey hashes its normalised
// form, without building that form.
func hashKeyFold(seed maphash.Seed, r *Request) uint64 { return hashKeyOf(seed, r, true) }

func hashKeyOf(seed maphash.Seed, r *Request, fold bool) uint64 {
	h := mix(0, hashString(seed, r.TenantID, fold))
	for _, s := range r.Scopes {
		h = mix(h, hashString(seed, s, fold))
	}
	if r.EnableCAE {
		h = mix(h, 1)
	}
	// The rarely-set fields are hashed only when present; equality, not the
	// hash, decides a match, so the shortcut cannot confuse two keys.
	// Normalisation leaves them as they are.
	if r.Account != "" {
		h = mix(h^2, maphash.String(seed, r.Account))
	}
	if r.AssertionHash != "" {
		h = mix(h^3, maphash.String(seed, r.AssertionHash))
	}
	if r.Identity != "" {
		h = mix(h^4, maphash.String(seed, r.Identity))
	}
	return h
}

// hashString hashes s, or when fold is set the ASCII lower case of s,
// giving the same value maphash.String gives the lower-cased string.
func hashString(seed maphash.Seed, s string, fold bool) uint64 {
	if !fold || lowerNoSpace(s) {
		return maphash.String(seed, s)
	}
	// Lower-case into a stack buffer: maphash hashes a byte sequence the
	// same however it is split across writes.
	var buf [128]byte
	if len(s) <= len(buf) {
		n := copy(buf[:], s)
		lowerASCII(buf[:n])
		return maphash.Bytes(seed, buf[:n])
	}
	var h maphash.Hash
	h.SetSeed(seed)
	for len(s) > 0 {
		n := copy(buf[:], s)
		lowerASCII(buf[:n])
		h.Write(buf[:n])
		s = s[n:]
	}
	return h.Sum64()
}

func lowerASCII(b []byte) {
	for i, c := range b {
		if c-'A' < 26 {
			b[i] = c + ('a' - 'A')
		}
	}
}

// foldable reports whether r is canonical but for ASCII letter case: every
// string ASCII without spaces, scopes in strictly increasing order once
// lower-cased. Such a request's normal form is its lower-cased copy, so the
// hit path can hash and compare it case-insensitively instead of
// normalising it ("https://graph.microsoft.com/User.Read" is the common
// case).
func foldable(r *Request) bool {
	if len(r.Scopes) == 0 || !asciiNoSpace(r.TenantID) {
		return false
	}
	for i, s := range r.Scopes {
		if s == "" || !asciiNoSpace(s) {
			return false
		}
		if i > 0 && compareFold(r.Scopes[i-1], s) >= 0 {
			return false
		}
	}
	return true
}

// asciiNoSpace reports whether s is ASCII without whitespace, the strings
// whose normal form is their ASCII lower case.
func asciiNoSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || c == ' ' || (c >= '\t' && c <= '\r') {
			return false
		}
	}
	return true
}

func lowerByte(c byte) byte {
	if c-'A' < 26 {
		return c + ('a' - 'A')
	}
	return c
}

// compareFold compares the ASCII lower cases of a and b.
func compareFold(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if x, y := lowerByte(a[i]), lowerByte(b[i]); x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// equalLower reports whether canon (already lower case) is the ASCII lower
// case of s.
func equalLower(canon, s string) bool {
	if len(canon) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lowerByte(s[i]) != canon[i] {
			return false
		}
	}
	return true
}

func mix(h, x uint64) uint64 {
	return bits.RotateLeft64(h^x, 27)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
}

// matches reports whether canonical request r names key k.
func (k *Key) matches(r *Request) bool {
	if k.TenantID != r.TenantID || k.CAE != r.EnableCAE || len(k.Scopes) != len(r.Scopes) ||
		k.Account != r.Account || k.AssertionHash != r.AssertionHash || k.Identity != r.Identity {
		return false
	}
	for i, s := range k.Scopes {
		if s != r.Scopes[i] {
			return false
		}
	}
	return true
}

// matchesFold reports whether foldable request r names key k.
func (k *Key) matchesFold(r *Request) bool {
	if k.CAE != r.EnableCAE || len(k.Scopes) != len(r.Scopes) || !equalLower(k.TenantID, r.TenantID) ||
		k.Account != r.Account || k.AssertionHash != r.AssertionHash || k.Identity != r.Identity {
		return false
	}
	for i, s := range k.Scopes {
		if !equalLower(s, r.Scopes[i]) {
			return false
		}
	}
	return true
}
