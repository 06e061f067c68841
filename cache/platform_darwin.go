package cache

import (
	"fmt"
	"os"
)

// platformStorage is the macOS store: a generic password in the user's
// login Keychain named after the cache (see keychainStorage), written and
// read with /usr/bin/security so that no cgo is needed.
func platformStorage(o *Options) (Storage, error) {
	name := platformStoreName(o)
	if _, err := os.Stat(keychainTool); err != nil {
		return nil, fmt.Errorf("cache: the macOS Keychain is not usable: %s is missing (%w); set AllowUnencryptedStorage or provide a key to use a file instead", keychainTool, err)
	}
	return newKeychainStorage(keychainTool, name), nil
}
