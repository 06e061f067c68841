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
func hashKey(seed maphash.Seed, r *Request) uint64 {
	h := mix(0, maphash.String(seed, r.TenantID))
	for _, s := range r.Scopes {
		h = mix(h, maphash.String(seed, s))
	}
	if r.EnableCAE {
		h = mix(h, 1)
	}
	// The rarely-set fields are hashed only when present; equality, not the
	// hash, decides a match, so the shortcut cannot confuse two keys.
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
