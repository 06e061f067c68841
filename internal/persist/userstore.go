package persist

import (
	"context"
	"sync"

	"github.com/azid-go/azid/internal/account"
	"github.com/azid-go/azid/internal/msalcache"
	"github.com/azid-go/azid/internal/tokencache"
)

// userStore keeps user flows' refresh tokens, id tokens and accounts in the
// schema's RefreshToken, IdToken, Account and AppMetadata sections, where
// MSAL (and so azidentity) keeps them.
type userStore struct{ i *impl }

func (u userStore) partitionOf(k account.UserKey) *partition {
	if u.i.part != nil {
		return u.i.partition(u.i.part.Partition(PartitionKey{Environment: k.Authority, ClientID: k.ClientID, HomeAccountID: k.HomeAccountID}))
	}
	return u.i.partition(u.i.name)
}

func userQuery(k account.UserKey) msalcache.UserQuery {
	return msalcache.UserQuery{HomeAccountID: k.HomeAccountID, Environment: k.Authority, ClientID: k.ClientID}
}

// LoadUser implements account.UserStore. Without a partitioner it looks
// in the CAE sibling too: azidentity keeps a CAE client's refresh token
// there.
func (u userStore) LoadUser(ctx context.Context, k account.UserKey) (account.UserTokens, bool, error) {
	return u.loadUser(ctx, k, true, nil)
}

func (u userStore) loadUser(ctx context.Context, k account.UserKey, trustVersion bool, held *partition) (account.UserTokens, bool, error) {
	parts := []*partition{u.partitionOf(k)}
	if u.i.part == nil {
		parts = append(parts, u.i.partition(u.i.name+".cae"))
	}
	var firstErr error
	for _, p := range parts {
		s, err := u.i.loadVersioned(ctx, p, trustVersion, held != nil && held.name == p.name)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		found, ok := s.doc.FindUser(userQuery(k))
		if !ok {
			continue
		}
		t := account.UserTokens{RefreshToken: found.RefreshToken.Secret, FamilyID: found.FamilyID}
		if found.IDToken != nil {
			t.IDToken = found.IDToken.Secret
		}
		if a := found.Account; a != nil {
			t.Account = account.Account{
				HomeAccountID: a.HomeAccountID, Environment: a.Environment, Realm: a.Realm,
				LocalAccountID: a.LocalAccountID, Username: a.Username,
			}
		}
		return t, true, nil
	}
	return account.UserTokens{}, false, firstErr
}

// SaveUser implements account.UserStore.
func (u userStore) SaveUser(ctx context.Context, k account.UserKey, t account.UserTokens) error {
	return u.i.update(ctx, u.partitionOf(k), saveUser(k, t))
}

// saveUser is the change that stores t under k.
func saveUser(k account.UserKey, t account.UserTokens) func(*msalcache.Document) {
	return func(d *msalcache.Document) {
		if t.RefreshToken != "" {
			d.Put(msalcache.RefreshToken, &msalcache.Entry{
				HomeAccountID: k.HomeAccountID, Environment: k.Authority, ClientID: k.ClientID,
				Secret: t.RefreshToken, FamilyID: t.FamilyID,
			})
		}
		a := t.Account
		if a.HomeAccountID != "" {
			env := a.Environment
			if env == "" {
				env = k.Authority
			}
			d.Put(msalcache.Account, &msalcache.Entry{
				HomeAccountID: a.HomeAccountID, Environment: env, Realm: a.Realm,
				LocalAccountID: a.LocalAccountID, Username: a.Username, AuthorityType: "MSSTS",
			})
		}
		if t.IDToken != "" {
			d.Put(msalcache.IDToken, &msalcache.Entry{
				HomeAccountID: k.HomeAccountID, Environment: k.Authority, ClientID: k.ClientID,
				Realm: a.Realm, Secret: t.IDToken,
			})
		}
		d.Put(msalcache.AppMetadata, &msalcache.Entry{Environment: k.Authority, ClientID: k.ClientID, FamilyID: t.FamilyID})
	}
}

// DeleteUser implements account.UserStore.
func (u userStore) DeleteUser(ctx context.Context, k account.UserKey) error {
	return u.i.update(ctx, u.partitionOf(k), func(d *msalcache.Document) { d.DeleteUser(userQuery(k)) })
}

// LockUser implements account.LockingUserStore: it takes the lock of
// the partition holding k's refresh token (this process's queue, then the
// storage's lock file or Redis lock), so that a redemption anywhere that
// shares the storage waits for this one and then reads the refresh token
// it stored. Without a partitioner that is the one partition of the whole
// cache, so other writers of that cache wait for the redemption's token
// request too; a fleet's Redis has a small partition per account.
//
// The engine's fleet lock for a user's access token (tokenStore.Lock),
// passed as held, may already hold the same partition; it is then used as
// it is.
func (u userStore) LockUser(ctx context.Context, k account.UserKey, held tokencache.StoreLock) (account.UserLock, error) {
	p := u.partitionOf(k)
	l := &userLock{u: u, k: k, p: p, unlock: func() {}}
	if sl, ok := held.(*storeLock); !ok || !sl.holds(u.i, p.name) {
		unlock, err := u.i.lock(ctx, p)
		if err != nil {
			return nil, err
		}
		l.unlock = unlock
	}
	return l, nil
}

// userLock is a held lock of one account's partition.
type userLock struct {
	u      userStore
	k      account.UserKey
	p      *partition
	once   sync.Once
	unlock func()
}

// Load implements account.UserLock. It reads the storage whatever its
// version says: a refresh token is redeemed once, so a stale view would
// present a spent one, and one read per token request costs little.
func (l *userLock) Load(ctx context.Context) (account.UserTokens, bool, error) {
	return l.u.loadUser(ctx, l.k, false, l.p)
}

// Save implements account.UserLock.
func (l *userLock) Save(ctx context.Context, t account.UserTokens) error {
	return l.u.i.updateHeld(ctx, l.p, saveUser(l.k, t))
}

// Unlock implements account.UserLock.
func (l *userLock) Unlock() { l.once.Do(l.unlock) }

var (
	_ account.UserStore        = userStore{}
	_ account.LockingUserStore = userStore{}
)
