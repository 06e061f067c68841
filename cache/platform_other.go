//go:build !linux && !darwin && !windows

package cache

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/azid-go/azid/internal/persist/file"
)

// platformStorage on other systems has no platform key store: a provided
// key or AllowUnencryptedStorage is required.
func platformStorage(o *Options) (Storage, error) {
	dir, err := cacheDir(os.Getenv)
	if err != nil {
		return nil, err
	}
	if o.Key != nil {
		k, err := o.Key.Key(context.Background())
		if err != nil {
			return nil, err
		}
		return &file.Store{Dir: dir, Codec: staticKeyCodec{key: k}, Unreadable: ErrUnreadable}, nil
	}
	reason := fmt.Errorf("no platform key store on %s", runtime.GOOS)
	if o.AllowUnencryptedStorage {
		return unencryptedStorage(o, dir, reason), nil
	}
	return nil, fmt.Errorf("%w: %v; provide a key (cache.Options.Key) or set cache.Options.AllowUnencryptedStorage", ErrStorageUnavailable, reason)
}
