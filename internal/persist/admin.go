package persist

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/azid-go/azid/internal/msalcache"
)

// This file is the persistent cache's administration: what the azid
// command shows and deletes. None of it is on a credential's path, and
// none of it returns a token's value.

// ErrPartitioned is returned by the administration functions for a cache
// whose storage is a [Partitioner] (a fleet's Redis): its partitions cannot
// be enumerated, so the cache is administered with that storage's tools.
var ErrPartitioned = errors.New("persist: the cache's storage is partitioned; list or clear it with the storage's own tools")

// TokenInfo describes a stored access token, without its value.
type TokenInfo struct {
	HomeAccountID string // empty for an application's token
	Environment   string // the authority host
	Realm         string // the tenant
	ClientID      string
	Scopes        []string
	ExpiresOn     time.Time
	// CAE marks a token of the CAE sibling store.
	CAE bool
}

// AccountInfo describes a stored account.
type AccountInfo struct {
	HomeAccountID string
	Environment   string
	Realm         string
	Username      string
	// ClientIDs are the applications holding a refresh token for the
	// account, sorted.
	ClientIDs []string
}

// Listing is what a cache holds, without any secret.
type Listing struct {
	Accounts     []AccountInfo
	AccessTokens []TokenInfo
}

// partitions are c's stores: the named one and its CAE sibling.
func (c Cache) partitions() ([]*partition, error) {
	if c.impl == nil {
		return nil, nil
	}
	if c.impl.part != nil {
		return nil, ErrPartitioned
	}
	return []*partition{c.impl.partition(c.impl.name), c.impl.partition(c.impl.name + ".cae")}, nil
}

// List reads what c holds: accounts (with the clients that hold their
// refresh tokens) and access tokens (scopes, tenant, expiry). Expired
// access tokens are listed too; they are pruned on the next write.
func List[C CacheValue](ctx context.Context, cv C) (Listing, error) {
	c := Cache(cv)
	parts, err := c.partitions()
	if err != nil {
		return Listing{}, err
	}
	var l Listing
	accounts := map[string]*AccountInfo{}
	for i, p := range parts {
		s, err := c.impl.read(ctx, p, true)
		if err != nil {
			return Listing{}, err
		}
		cae := i == 1
		s.doc.Entries(msalcache.AccessToken, func(e *msalcache.Entry) bool {
			l.AccessTokens = append(l.AccessTokens, TokenInfo{
				HomeAccountID: e.HomeAccountID, Environment: e.Environment, Realm: e.Realm, ClientID: e.ClientID,
				Scopes: strings.Fields(e.Target), ExpiresOn: time.Unix(e.ExpiresOn, 0), CAE: cae,
			})
			return true
		})
		s.doc.Entries(msalcache.Account, func(e *msalcache.Entry) bool {
			k := strings.ToLower(e.HomeAccountID + "|" + e.Environment)
			if accounts[k] == nil || e.Realm == homeTenant(e.HomeAccountID) {
				prev := accounts[k]
				a := &AccountInfo{HomeAccountID: e.HomeAccountID, Environment: e.Environment, Realm: e.Realm, Username: e.Username}
				if prev != nil {
					a.ClientIDs = prev.ClientIDs
				}
				accounts[k] = a
			}
			return true
		})
		s.doc.Entries(msalcache.RefreshToken, func(e *msalcache.Entry) bool {
			k := strings.ToLower(e.HomeAccountID + "|" + e.Environment)
			a := accounts[k]
			if a == nil {
				// A refresh token whose account entry another program did
				// not write: still an account signed in here.
				a = &AccountInfo{HomeAccountID: e.HomeAccountID, Environment: e.Environment}
				accounts[k] = a
			}
			if !slices.Contains(a.ClientIDs, e.ClientID) {
				a.ClientIDs = append(a.ClientIDs, e.ClientID)
			}
			return true
		})
	}
	for _, a := range accounts {
		slices.Sort(a.ClientIDs)
		l.Accounts = append(l.Accounts, *a)
	}
	slices.SortFunc(l.Accounts, func(a, b AccountInfo) int {
		return strings.Compare(a.Username+a.HomeAccountID, b.Username+b.HomeAccountID)
	})
	slices.SortStableFunc(l.AccessTokens, func(a, b TokenInfo) int {
		return strings.Compare(a.HomeAccountID+a.ClientID+strings.Join(a.Scopes, " "), b.HomeAccountID+b.ClientID+strings.Join(b.Scopes, " "))
	})
	return l, nil
}

// homeTenant is the tenant part of a home account ID ("oid.tid").
func homeTenant(homeAccountID string) string {
	_, t, _ := strings.Cut(homeAccountID, ".")
	return t
}

// Clear deletes every token and account c holds, under the cross-process
// lock, so that a concurrent writer's entries are not resurrected. Sections
// this package does not know are kept. An unreadable store is replaced by
// an empty one.
func Clear[C CacheValue](ctx context.Context, cv C) error {
	c := Cache(cv)
	parts, err := c.partitions()
	if err != nil {
		return err
	}
	all := func(*msalcache.Entry) bool { return true }
	kinds := []msalcache.Kind{msalcache.AccessToken, msalcache.RefreshToken, msalcache.IDToken, msalcache.Account, msalcache.AppMetadata}
	for _, p := range parts {
		// A partition with nothing to delete (one never written, such as
		// the CAE partition of most caches) is left as it is: writing
		// it would create a file, and a storage key, for nothing.
		if s, err := c.impl.load(ctx, p); err == nil && !hasEntries(s.doc, kinds) {
			continue
		}
		err := c.impl.apply(ctx, p, func(d *msalcache.Document) {
			for _, k := range kinds {
				d.Delete(k, all)
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// keyRemover is implemented by storages that keep a partition's key apart
// from its data (a file storage whose key is in the keyring).
type keyRemover interface {
	RemoveKey(ctx context.Context, partition string) error
}

// Remove deletes c's stored partitions for good, under their locks, and
// their keys where the storage keeps keys apart (the kernel keyring and
// its Secret Service copy): what [Clear] keeps (unknown sections, the key)
// goes too. Other programs sharing the cache (azidentity's, by the same
// name) start over with a new key.
func Remove[C CacheValue](ctx context.Context, cv C) error {
	c := Cache(cv)
	parts, err := c.partitions()
	if err != nil {
		return err
	}
	kr, _ := c.impl.st.(keyRemover)
	for _, p := range parts {
		unlock, err := c.impl.lock(ctx, p)
		if err != nil {
			return err
		}
		err = c.impl.st.Delete(ctx, p.name)
		if err == nil && kr != nil {
			err = kr.RemoveKey(ctx, p.name)
		}
		if err == nil {
			p.snap.Store(nil)
			p.good.Store(nil)
		}
		unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// hasEntries reports whether d holds an entry of any of kinds.
func hasEntries(d *msalcache.Document, kinds []msalcache.Kind) bool {
	found := false
	for _, k := range kinds {
		d.Entries(k, func(*msalcache.Entry) bool {
			found = true
			return false
		})
		if found {
			return true
		}
	}
	return false
}

// AccountKey names one account signed in to one application.
type AccountKey struct {
	HomeAccountID string
	// Environment is the authority host, e.g. "login.microsoftonline.com".
	Environment string
	ClientID    string
}

// Forget signs k out, as MSAL's RemoveAccount does: the client's refresh
// token, id tokens and access tokens for the account are deleted, and so is
// the account itself. Other applications' refresh tokens for the same
// person are kept (they were granted to them, not to this client). It
// returns how many entries were deleted.
func Forget[C CacheValue](ctx context.Context, cv C, k AccountKey) (int, error) {
	c := Cache(cv)
	parts, err := c.partitions()
	if err != nil {
		return 0, err
	}
	eq := strings.EqualFold
	mine := func(e *msalcache.Entry) bool {
		return eq(e.HomeAccountID, k.HomeAccountID) && eq(e.Environment, k.Environment) && eq(e.ClientID, k.ClientID)
	}
	account := func(e *msalcache.Entry) bool {
		return eq(e.HomeAccountID, k.HomeAccountID) && eq(e.Environment, k.Environment)
	}
	n := 0
	for _, p := range parts {
		err := c.impl.apply(ctx, p, func(d *msalcache.Document) {
			n += d.Delete(msalcache.RefreshToken, mine)
			n += d.Delete(msalcache.IDToken, mine)
			n += d.Delete(msalcache.AccessToken, mine)
			n += d.Delete(msalcache.Account, account)
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
