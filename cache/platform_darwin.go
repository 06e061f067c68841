package cache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/azid-go/azid/internal/persist/file"
)

// platformStorage is the macOS store: a generic password in the user's
// login Keychain named after the cache (see keychainStorage), written and
// read with /usr/bin/security so that no cgo is needed, and locked with
// azidentity's lock file in ~/.IdentityService.
//
// With Options.Key, or where the Keychain cannot be used and
// AllowUnencryptedStorage is set, the cache is a file in
// ~/.IdentityService instead, as on other platforms.
func platformStorage(o *Options) (Storage, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, fmt.Errorf("cache: finding the home directory: %w", err)
	}
	dir := filepath.Join(home, ".IdentityService")
	if o.Key != nil {
		k, err := o.Key.Key(context.Background())
		if err != nil {
			return nil, err
		}
		return &file.Store{Dir: dir, Codec: staticKeyCodec{key: k}, Unreadable: ErrUnreadable}, nil
	}
	if _, err := os.Stat(keychainTool); err != nil {
		reason := fmt.Errorf("the macOS Keychain is not usable: %s is missing (%w)", keychainTool, err)
		if o.AllowUnencryptedStorage {
			return unencryptedStorage(o, dir, reason), nil
		}
		return nil, fmt.Errorf("%w: %v. Either provide a key (cache.Options.Key = cache.KeyFromFile(path) or cache.KeyFromEnv(name)) or opt into a plain-text file (cache.Options.AllowUnencryptedStorage)",
			ErrStorageUnavailable, reason)
	}
	return newKeychainStorage(keychainTool, platformStoreName(o), dir), nil
}
