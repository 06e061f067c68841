package account

import (
	"context"
	"strings"
	"sync"

	"github.com/azid-go/azid/internal/tokencache"
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

// UserLock is an account's lock, held while one refresh token is redeemed:
// Load reads the newest refresh token under the lock and Save stores the
// rotated one before Unlock lets the next redemption start, so no refresh
// token is ever presented twice (servers that detect reuse revoke the
// whole sign-in when one is). It is used by one goroutine.
type UserLock interface {
	// Load returns the state stored for the locked account, read under
	// the lock (another process may have rotated it).
	Load(ctx context.Context) (UserTokens, bool, error)
	// Save stores t for the locked account.
	Save(ctx context.Context, t UserTokens) error
	// Unlock releases the lock. Calls after the first do nothing.
	Unlock()
}

// LockingUserStore is implemented by UserStores shared beyond one
// credential (the persistent cache, shared by processes through a lock
// file or by a fleet through Redis): LockUser takes the account's lock
// there, so that a redemption in another process waits for this one and
// reads the refresh token it stored.
type LockingUserStore interface {
	UserStore
	// LockUser blocks until the lock for k is held or ctx ends. held is
	// a store lock the caller already holds (the engine's, see
	// tokencache.Request.Lock), or nil: when it covers k's storage it is
	// used instead of taking the same lock again.
	LockUser(ctx context.Context, k UserKey, held tokencache.StoreLock) (UserLock, error)
}

// AccountLocks is a set of per-account locks whose waiters leave when
// their context ends (a mutex would hold them for as long as a token
// request takes). The zero value is ready; it is safe for concurrent use.
type AccountLocks struct {
	mu sync.Mutex
	m  map[UserKey]*accountSlot
}

// accountSlot is one account's lock and what the redemptions under it
// learnt.
type accountSlot struct {
	sem chan struct{}
	// rotated maps refresh tokens redeemed under the lock to what the
	// server answered with. If a store could not keep an answer (a failed
	// or late write), the holder of the lock still knows it: see Newest.
	// Guarded by sem.
	rotated map[string]UserTokens
}

// maxRotations bounds accountSlot.rotated: only the latest few
// redemptions can be missing from a store.
const maxRotations = 16

// Lock takes k's lock, or returns ctx's error if it ends first.
func (l *AccountLocks) Lock(ctx context.Context, k UserKey) (*AccountLock, error) {
	k = canonicalUserKey(k)
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[UserKey]*accountSlot)
	}
	s := l.m[k]
	if s == nil {
		s = &accountSlot{sem: make(chan struct{}, 1)}
		l.m[k] = s
	}
	l.mu.Unlock()
	select {
	case s.sem <- struct{}{}:
		return &AccountLock{s: s}, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// AccountLock is one held lock of an [AccountLocks].
type AccountLock struct {
	s    *accountSlot
	once sync.Once
}

// Newest returns t, or, if t's refresh token was already redeemed under
// this lock, the newest token that replaced it (its successor has not
// reached the store, or was overwritten there by an older write).
func (a *AccountLock) Newest(t UserTokens) UserTokens {
	for range len(a.s.rotated) {
		next, ok := a.s.rotated[t.RefreshToken]
		if !ok {
			break
		}
		t = next
	}
	return t
}

// Redeemed records that spent's refresh token was redeemed and next came
// back. An empty spent (a new sign-in) forgets earlier rotations.
func (a *AccountLock) Redeemed(spent, next UserTokens) {
	if spent.RefreshToken == "" || len(a.s.rotated) >= maxRotations {
		clear(a.s.rotated)
	}
	if spent.RefreshToken == "" || next.RefreshToken == "" || spent.RefreshToken == next.RefreshToken {
		return
	}
	if a.s.rotated == nil {
		a.s.rotated = make(map[string]UserTokens)
	}
	a.s.rotated[spent.RefreshToken] = next
}

// Unlock releases the lock; calls after the first do nothing.
func (a *AccountLock) Unlock() {
	a.once.Do(func() { <-a.s.sem })
}
