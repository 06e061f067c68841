package tokencache

import (
	"context"
	"strings"
	"sync"
)

// Account is a signed-in user as the MSAL cache schema's Account section
// records it. It holds no secret.
type Account struct {
	// HomeAccountID is "<uid>.<utid>" from the token response's
	// client_info: the user's object ID and home tenant. It is the key of
	// everything cached for the user.
	HomeAccountID string
	// Environment is the authority host, e.g. "login.microsoftonline.com".
	Environment string
	// Realm is the tenant the account signed in to.
	Realm string
	// LocalAccountID is the user's object ID (the id_token's oid).
	LocalAccountID string
	// Username is the id_token's preferred_username.
	Username string
}

// UserKey identifies one user's long-lived state for one client: the
// refresh token is shared across tenants and scopes, as in MSAL.
type UserKey struct {
	Authority     string // authority host (the schema's environment)
	ClientID      string
	HomeAccountID string
}

// UserTokens is what a user flow keeps besides access tokens: the account,
// its refresh token and its latest id_token.
type UserTokens struct {
	Account      Account
	RefreshToken string
	// FamilyID is the response's "foci" value ("1" for Microsoft's first
	// party family), empty otherwise.
	FamilyID string
	// IDToken is the raw id_token, for Account.Realm.
	IDToken string
}

// UserStore keeps user flows' refresh tokens and accounts. The in-memory
// [MemoryUserStore] is every user credential's default; a persistent cache
// provides one backed by storage so that another process can sign in
// silently. Errors never fail a GetToken on their own: a credential that
// cannot read a refresh token falls back to interaction (or reports that
// interaction is required).
type UserStore interface {
	// LoadUser returns the state stored for k, if any.
	LoadUser(ctx context.Context, k UserKey) (UserTokens, bool, error)
	// SaveUser stores t under k, replacing the refresh token (rotation) and
	// the account.
	SaveUser(ctx context.Context, k UserKey, t UserTokens) error
	// DeleteUser forgets k: its refresh token, account and id token.
	DeleteUser(ctx context.Context, k UserKey) error
}

// MemoryUserStore is a [UserStore] in memory, safe for concurrent use. The
// zero value is ready.
type MemoryUserStore struct {
	mu sync.Mutex
	m  map[UserKey]UserTokens
}

func canonicalUserKey(k UserKey) UserKey {
	return UserKey{
		Authority:     strings.ToLower(k.Authority),
		ClientID:      strings.ToLower(k.ClientID),
		HomeAccountID: strings.ToLower(k.HomeAccountID),
	}
}

// LoadUser implements [UserStore].
func (s *MemoryUserStore) LoadUser(_ context.Context, k UserKey) (UserTokens, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[canonicalUserKey(k)]
	return t, ok, nil
}

// SaveUser implements [UserStore].
func (s *MemoryUserStore) SaveUser(_ context.Context, k UserKey, t UserTokens) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[UserKey]UserTokens)
	}
	s.m[canonicalUserKey(k)] = t
	return nil
}

// DeleteUser implements [UserStore].
func (s *MemoryUserStore) DeleteUser(_ context.Context, k UserKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, canonicalUserKey(k))
	return nil
}
