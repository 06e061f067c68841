package cache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/azid-go/azid/internal/persist/file"
	"golang.org/x/sys/windows"
)

// platformStorage is the Windows store: files in
// %LOCALAPPDATA%\.IdentityService named after the partition (the cache
// name, and its CAE sibling "<name>.cae"), encrypted with DPAPI for the
// current user: the same files and format as azidentity/cache, so the two
// share tokens. The files are kept by the persistent cache's file store,
// so writers take "<file>.lockfile" (azidentity's lock file) and replace
// the file atomically.
func platformStorage(o *Options) (Storage, error) {
	dir, err := windows.KnownFolderPath(windows.FOLDERID_LocalAppData, 0)
	if err != nil || dir == "" {
		dir = os.Getenv("LOCALAPPDATA")
	}
	if dir == "" {
		return nil, fmt.Errorf("cache: cannot locate the local application data folder (%v); set LOCALAPPDATA", err)
	}
	return windowsStorage(o, filepath.Join(dir, ".IdentityService"), dpapiCodec{})
}

// windowsStorage is platformStorage in dir, sealing with codec unless o
// provides a key. It is separate so that tests can choose the folder.
func windowsStorage(o *Options, dir string, codec file.Codec) (Storage, error) {
	if o.Key != nil {
		k, err := o.Key.Key(context.Background())
		if err != nil {
			return nil, err
		}
		return &file.Store{Dir: dir, Codec: staticKeyCodec{key: k}, Unreadable: ErrUnreadable}, nil
	}
	// DPAPI needs the user's profile; a service account without one (or
	// a broken profile) cannot use it. Find out now rather than on the
	// first write.
	if _, err := codec.Seal(context.Background(), "", []byte("{}")); err != nil {
		if o.AllowUnencryptedStorage {
			return unencryptedStorage(o, dir, err), nil
		}
		return nil, fmt.Errorf("%w: DPAPI cannot encrypt for this Windows user (%v). "+
			"Either provide a key (cache.Options.Key = cache.KeyFromFile(path) or cache.KeyFromEnv(name)) or opt into a plain-text file (cache.Options.AllowUnencryptedStorage)",
			ErrStorageUnavailable, err)
	}
	return &file.Store{Dir: dir, Codec: codec, Unreadable: ErrUnreadable}, nil
}

// dpapiCodec seals and opens a cache file's content with DPAPI for the
// current user, as azidentity/cache does (no entropy, no UI).
type dpapiCodec struct{}

// errDPAPIUnreadable is what Open wraps for content that does not decrypt:
// the persistent cache then carries on without it and replaces the file on
// its next write.
var errDPAPIUnreadable = fmt.Errorf("%w: the file does not decrypt for this Windows user (written by another user or machine, or damaged); it will be replaced on the next write", ErrUnreadable)

// Seal implements file.Codec.
func (dpapiCodec) Seal(_ context.Context, _ string, plaintext []byte) ([]byte, error) {
	sealed, err := dpapi(true, plaintext)
	if err != nil {
		return nil, fmt.Errorf("encrypting with DPAPI: %w", err)
	}
	return sealed, nil
}

// Open implements file.Codec; it opens data sealed by Seal or by
// azidentity/cache.
func (dpapiCodec) Open(_ context.Context, _ string, data []byte) ([]byte, error) {
	pt, err := dpapi(false, data)
	if err != nil {
		return nil, fmt.Errorf("%w (DPAPI: %w)", errDPAPIUnreadable, err)
	}
	return pt, nil
}

// dpapi protects (seal) or unprotects data for the current user, never
// showing UI (a service has no desktop to show it on).
func dpapi(seal bool, data []byte) ([]byte, error) {
	var zero byte
	in := windows.DataBlob{Size: uint32(len(data)), Data: &zero}
	if len(data) > 0 {
		in.Data = &data[0]
	}
	var out windows.DataBlob
	var err error
	if seal {
		err = windows.CryptProtectData(&in, nil, nil, 0, nil, windows.CRYPTPROTECT_UI_FORBIDDEN, &out)
	} else {
		err = windows.CryptUnprotectData(&in, nil, nil, 0, nil, windows.CRYPTPROTECT_UI_FORBIDDEN, &out)
	}
	if err != nil {
		return nil, err
	}
	defer windows.LocalFree(windows.Handle(unsafe.Pointer(out.Data)))
	if out.Size == 0 {
		return []byte{}, nil
	}
	return append([]byte(nil), unsafe.Slice(out.Data, out.Size)...), nil
}
