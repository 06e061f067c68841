package persist

import (
	"context"

	"github.com/azid-go/azid/internal/msalcache"
	"github.com/azid-go/azid/internal/tokencache"
)

// userStore keeps user flows' refresh tokens, id tokens and accounts in the
// schema's RefreshToken, IdToken, Account and AppMetadata sections, where
// MSAL (and so azidentity) keeps them.
type userStore struct{ i *impl }

func (u userStore) partitionOf(k tokencache.UserKey) *partition {
	if u.i.part != nil {
		return u.i.partition(u.i.part.Partition(PartitionKey{Environment: k.Authority, ClientID: k.ClientID, HomeAccountID: k.HomeAccountID}))
	}
	return u.i.partition(u.i.name)
}

func userQuery(k tokencache.UserKey) msalcache.UserQuery {
	return msalcache.UserQuery{HomeAccountID: k.HomeAccountID, Environment: k.Authority, ClientID: k.ClientID}
}

// LoadUser implements tokencache.UserStore. Without a partitioner it looks
// in the CAE sibling too: azidentity keeps a CAE client's refresh token
// there.
func (u userStore) LoadUser(ctx context.Context, k tokencache.UserKey) (tokencache.UserTokens, bool, error) {
	parts := []*partition{u.partitionOf(k)}
	if u.i.part == nil {
		parts = append(parts, u.i.partition(u.i.name+".cae"))
	}
	var firstErr error
	for _, p := range parts {
		s, err := u.i.load(ctx, p)
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
		t := tokencache.UserTokens{RefreshToken: found.RefreshToken.Secret, FamilyID: found.FamilyID}
		if found.IDToken != nil {
			t.IDToken = found.IDToken.Secret
		}
		if a := found.Account; a != nil {
			t.Account = tokencache.Account{
				HomeAccountID: a.HomeAccountID, Environment: a.Environment, Realm: a.Realm,
				LocalAccountID: a.LocalAccountID, Username: a.Username,
			}
		}
		return t, true, nil
	}
	return tokencache.UserTokens{}, false, firstErr
}

// SaveUser implements tokencache.UserStore.
func (u userStore) SaveUser(ctx context.Context, k tokencache.UserKey, t tokencache.UserTokens) error {
	return u.i.update(ctx, u.partitionOf(k), func(d *msalcache.Document) {
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
	})
}

// DeleteUser implements tokencache.UserStore.
func (u userStore) DeleteUser(ctx context.Context, k tokencache.UserKey) error {
	return u.i.update(ctx, u.partitionOf(k), func(d *msalcache.Document) { d.DeleteUser(userQuery(k)) })
}

var _ tokencache.UserStore = userStore{}
