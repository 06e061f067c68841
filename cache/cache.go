// Package cache is azid's persistent token cache: tokens kept encrypted on
// disk (or in a store of your choice), shared by processes and surviving
// restarts. Create one with [New] and pass it as the Cache option of any
// credential that supports persistence.
package cache

import (
	"errors"

	"github.com/azid-go/azid/internal/persist"
)

// Cache is a persistent cache. The zero value is no cache: credentials keep
// tokens in memory only. One Cache may be shared by many credentials.
type Cache = persist.Cache

// Options configure [New].
type Options struct {
	// Name names the cache; credentials with the same name share tokens,
	// within a process and across processes. Default "msal.cache".
	Name string
}

// New opens the persistent cache described by o (nil for defaults).
func New(o *Options) (Cache, error) {
	return Cache{}, errors.New("cache: not implemented yet")
}
