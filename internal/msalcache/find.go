package msalcache

import (
	"slices"
	"strings"
)

// TokenQuery names an access token the way a cache lookup does. Fields
// compare without letter case; Scopes match the entry's target as a set
// (split on spaces, case-insensitive).
type TokenQuery struct {
	HomeAccountID     string
	Environment       string
	ClientID          string
	Realm             string
	Scopes            []string
	UserAssertionHash string
	// Identity tells managed identities apart. MSAL has no field for it;
	// azid stores it as the extra field "azid_identity".
	Identity string
}

// IdentityField is the extra field that holds TokenQuery.Identity.
const IdentityField = "azid_identity"

// Index finds access tokens in a document in O(1). Build it once per
// document (the document must not change afterwards).
type Index struct {
	byIdent map[string]*Entry
}

// NewIndex indexes d's bearer access tokens.
func NewIndex(d *Document) *Index {
	ix := &Index{byIdent: make(map[string]*Entry, d.Len(AccessToken))}
	for _, e := range d.sections[AccessToken] {
		if !isBearer(e) {
			continue
		}
		id := ident(e.HomeAccountID, e.Environment, e.ClientID, e.Realm, normScopes(strings.Fields(e.Target)), e.UserAssertionHash, entryIdentity(e))
		if prev, ok := ix.byIdent[id]; !ok || e.CachedAt > prev.CachedAt {
			ix.byIdent[id] = e
		}
	}
	return ix
}

// Find returns the access token named by q, or nil.
func (ix *Index) Find(q TokenQuery) *Entry {
	return ix.byIdent[ident(q.HomeAccountID, q.Environment, q.ClientID, q.Realm, normScopes(q.Scopes), q.UserAssertionHash, q.Identity)]
}

// Matches reports whether e is the bearer access token q names.
func (q TokenQuery) Matches(e *Entry) bool {
	eq := strings.EqualFold
	// Cheap comparisons first: this runs over every entry on a save.
	if !eq(e.Realm, q.Realm) || !eq(e.ClientID, q.ClientID) || !eq(e.Environment, q.Environment) || !eq(e.HomeAccountID, q.HomeAccountID) {
		return false
	}
	return isBearer(e) && ident(e.HomeAccountID, e.Environment, e.ClientID, e.Realm, normScopes(strings.Fields(e.Target)), e.UserAssertionHash, entryIdentity(e)) ==
		ident(q.HomeAccountID, q.Environment, q.ClientID, q.Realm, normScopes(q.Scopes), q.UserAssertionHash, q.Identity)
}

// isBearer reports whether e is a plain bearer access token, the only kind
// azid uses: no PoP key, no extra cache key, token type bearer or absent.
func isBearer(e *Entry) bool {
	return e.Secret != "" && strings.EqualFold(e.CredentialType, "AccessToken") && e.KeyID == "" && e.ExtCacheKey == "" &&
		(e.TokenType == "" || strings.EqualFold(e.TokenType, "bearer"))
}

func entryIdentity(e *Entry) string {
	raw, ok := e.Extra[IdentityField]
	if !ok {
		return ""
	}
	s, err := parseString(raw)
	if err != nil {
		return ""
	}
	return s
}

func ident(home, env, client, realm, scopes, uah, identity string) string {
	return strings.ToLower(strings.Join([]string{home, env, client, realm, scopes, uah, identity}, "\x00"))
}

// normScopes splits, lower-cases, sorts and de-duplicates scopes and joins
// them with spaces.
func normScopes(in []string) string {
	var out []string
	for _, s := range in {
		for _, f := range strings.Fields(s) {
			out = append(out, strings.ToLower(f))
		}
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), " ")
}

// UserQuery names one user's long-lived state for one client.
type UserQuery struct {
	HomeAccountID string
	Environment   string
	ClientID      string
}

// User is what a document holds for a UserQuery.
type User struct {
	RefreshToken *Entry
	IDToken      *Entry
	Account      *Entry
	// FamilyID is the client's family from AppMetadata ("1" for Microsoft's
	// first-party family), or the refresh token's.
	FamilyID string
}

// FindUser returns the refresh token, id token and account stored for q.
// A client's own refresh token is preferred; a family refresh token is
// used when the client belongs to the family (as MSAL does).
func (d *Document) FindUser(q UserQuery) (User, bool) {
	var u User
	eq := strings.EqualFold
	for _, e := range d.sections[AppMetadata] {
		if eq(e.Environment, q.Environment) && eq(e.ClientID, q.ClientID) {
			u.FamilyID = e.FamilyID
		}
	}
	for _, e := range d.sections[RefreshToken] {
		if e.Secret == "" || !eq(e.HomeAccountID, q.HomeAccountID) || !eq(e.Environment, q.Environment) {
			continue
		}
		if eq(e.ClientID, q.ClientID) {
			u.RefreshToken = e
			break
		}
		if u.FamilyID != "" && eq(e.FamilyID, u.FamilyID) {
			u.RefreshToken = e
		}
	}
	if u.RefreshToken == nil {
		return User{}, false
	}
	if u.FamilyID == "" {
		u.FamilyID = u.RefreshToken.FamilyID
	}
	for _, e := range d.sections[IDToken] {
		if eq(e.HomeAccountID, q.HomeAccountID) && eq(e.Environment, q.Environment) && eq(e.ClientID, q.ClientID) &&
			(u.IDToken == nil || e.Realm < u.IDToken.Realm) {
			u.IDToken = e
		}
	}
	for _, e := range d.sections[Account] {
		if !eq(e.HomeAccountID, q.HomeAccountID) || !eq(e.Environment, q.Environment) {
			continue
		}
		// Prefer the account in the id token's realm; else any, stably.
		if u.Account == nil || (u.IDToken != nil && eq(e.Realm, u.IDToken.Realm)) ||
			((u.IDToken == nil || !eq(u.Account.Realm, u.IDToken.Realm)) && e.Realm < u.Account.Realm) {
			u.Account = e
		}
	}
	return u, true
}

// DeleteUser removes q's refresh token (the client's own), id tokens and
// access tokens for the client, and the account when no other client's
// refresh token still refers to it.
func (d *Document) DeleteUser(q UserQuery) {
	eq := strings.EqualFold
	mine := func(e *Entry) bool {
		return eq(e.HomeAccountID, q.HomeAccountID) && eq(e.Environment, q.Environment) && eq(e.ClientID, q.ClientID)
	}
	d.Delete(RefreshToken, mine)
	d.Delete(IDToken, mine)
	d.Delete(AccessToken, mine)
	others := false
	for _, e := range d.sections[RefreshToken] {
		if eq(e.HomeAccountID, q.HomeAccountID) && eq(e.Environment, q.Environment) {
			others = true
		}
	}
	if !others {
		d.Delete(Account, func(e *Entry) bool {
			return eq(e.HomeAccountID, q.HomeAccountID) && eq(e.Environment, q.Environment)
		})
	}
}

// PruneExpired drops access tokens that expired before now (Unix seconds),
// so that the file does not grow without bound.
func (d *Document) PruneExpired(now int64) int {
	return d.Delete(AccessToken, func(e *Entry) bool { return e.ExpiresOn > 0 && e.ExpiresOn < now })
}
