package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// platformStorage is the Windows store: a file at
// %LOCALAPPDATA%\.IdentityService\<name> encrypted with DPAPI for the
// current user, the same file and format as azidentity/cache, so the two
// share tokens.
func platformStorage(o *Options) (Storage, error) {
	dir, err := windows.KnownFolderPath(windows.FOLDERID_LocalAppData, 0)
	if err != nil || dir == "" {
		dir = os.Getenv("LOCALAPPDATA")
	}
	if dir == "" {
		return nil, fmt.Errorf("cache: cannot locate the local application data folder (%v); set LOCALAPPDATA", err)
	}
	return newDPAPIStorage(filepath.Join(dir, ".IdentityService", platformStoreName(o))), nil
}

// dpapiStorage keeps the cache in one file sealed by CryptProtectData for
// the current user. The file holds a single blob: partition names are
// ignored.
type dpapiStorage struct {
	path string
}

func newDPAPIStorage(path string) *dpapiStorage { return &dpapiStorage{path: path} }

// Read implements Storage. A file that does not unprotect (another user's,
// another machine's, truncated) is an error naming the file; the next Write
// replaces it.
func (d *dpapiStorage) Read(ctx context.Context, _ string) ([]byte, error) {
	sealed, err := readShared(ctx, d.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cache: reading %s: %w", d.path, err)
	}
	if len(sealed) == 0 {
		return nil, nil
	}
	data, err := dpapi(false, sealed)
	if err != nil {
		return nil, fmt.Errorf("cache: %s does not decrypt for this Windows user (DPAPI: %w); it will be replaced on the next write", d.path, err)
	}
	return data, nil
}

// Write implements Storage: the sealed data goes to a temporary file in the
// same folder, flushed, then renamed over the cache file, so a reader (or a
// crash) sees the old file or the new one, never a mix.
func (d *dpapiStorage) Write(ctx context.Context, _ string, data []byte, _ time.Time) error {
	sealed, err := dpapi(true, data)
	if err != nil {
		return fmt.Errorf("cache: encrypting for %s (DPAPI): %w", d.path, err)
	}
	dir := filepath.Dir(d.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cache: creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(d.path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("cache: writing next to %s: %w", d.path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	_, err = tmp.Write(sealed)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cache: writing %s: %w", tmp.Name(), err)
	}
	return replaceFile(ctx, tmp.Name(), d.path)
}

// readShared reads the file at path, letting other processes rename over
// it or delete it meanwhile (FILE_SHARE_DELETE, which os.ReadFile does not
// grant), so a reader never makes a writer fail. While a writer's rename is
// under way, opening fails with a sharing violation for a moment; that is
// retried briefly.
func readShared(ctx context.Context, path string) ([]byte, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var h windows.Handle
	err = retryBusy(ctx, func() error {
		var err error
		h, err = windows.CreateFile(p, windows.GENERIC_READ,
			windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
			nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
		return err
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(h), path)
	defer f.Close()
	return io.ReadAll(f)
}

// retryBusy runs op until it succeeds, fails for another reason than a
// file being busy (sharing violation, access denied during a rename), or
// a few attempts (about a second in all) have passed.
func retryBusy(ctx context.Context, op func() error) error {
	wait := 5 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := op()
		if err == nil || attempt == 7 || !(errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_SHARING_VIOLATION)) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
}

// replaceFile renames src over dst (MoveFileEx with MOVEFILE_REPLACE_EXISTING).
// Windows refuses while another process has dst open without sharing
// delete access (azidentity reads it that way), so a refusal is retried
// briefly.
func replaceFile(ctx context.Context, src, dst string) error {
	if err := retryBusy(ctx, func() error { return os.Rename(src, dst) }); err != nil {
		return fmt.Errorf("cache: replacing %s: %w", dst, err)
	}
	return nil
}

// Delete implements Storage.
func (d *dpapiStorage) Delete(context.Context, string) error {
	err := os.Remove(d.path)
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("cache: deleting %s: %w", d.path, err)
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
