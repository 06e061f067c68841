package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// platformStorage is the Windows store: files in
// %LOCALAPPDATA%\.IdentityService named after the partition (the cache
// name, and its CAE sibling "<name>.cae"), encrypted with DPAPI for the
// current user: the same files and format as azidentity/cache, so the two
// share tokens.
func platformStorage(o *Options) (Storage, error) {
	dir, err := windows.KnownFolderPath(windows.FOLDERID_LocalAppData, 0)
	if err != nil || dir == "" {
		dir = os.Getenv("LOCALAPPDATA")
	}
	if dir == "" {
		return nil, fmt.Errorf("cache: cannot locate the local application data folder (%v); set LOCALAPPDATA", err)
	}
	return newDPAPIStorage(filepath.Join(dir, ".IdentityService"), platformStoreName(o)), nil
}

// dpapiStorage keeps each partition in a file of dir sealed by
// CryptProtectData for the current user.
type dpapiStorage struct {
	dir string
	// name is the file of the empty partition.
	name string
}

func newDPAPIStorage(dir, name string) *dpapiStorage { return &dpapiStorage{dir: dir, name: name} }

// path is partition's file; a partition that is not a plain file name is
// refused rather than allowed to point elsewhere.
func (d *dpapiStorage) path(partition string) (string, error) {
	if partition == "" {
		partition = d.name
	}
	if partition == "." || partition == ".." || strings.ContainsAny(partition, `/\:`+"\x00") {
		return "", fmt.Errorf("cache: the cache name %q cannot be a file name: use letters, digits, '.', '-' or '_'", partition)
	}
	return filepath.Join(d.dir, partition), nil
}

// Read implements Storage. A file that does not unprotect (another user's,
// another machine's, truncated) is an error naming the file; the next Write
// replaces it.
func (d *dpapiStorage) Read(ctx context.Context, partition string) ([]byte, error) {
	path, err := d.path(partition)
	if err != nil {
		return nil, err
	}
	sealed, err := readShared(ctx, path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cache: reading %s: %w", path, err)
	}
	if len(sealed) == 0 {
		return nil, nil
	}
	data, err := dpapiCodec{}.Open(ctx, partition, sealed)
	if err != nil {
		return nil, fmt.Errorf("cache: %s: %w", path, err)
	}
	return data, nil
}

// dpapiCodec seals and opens a cache file's content with DPAPI. Its
// methods have the shape of the persistent cache's file codec, so the
// generic lock-file store can use it.
type dpapiCodec struct{}

// errDPAPIUnreadable is what Open wraps for content that does not
// decrypt. (Once the persistent cache's ErrUnreadable exists, wrap that.)
var errDPAPIUnreadable = errors.New("the file does not decrypt for this Windows user; it will be replaced on the next write")

// Seal encrypts plaintext for the current user.
func (dpapiCodec) Seal(_ context.Context, _ string, plaintext []byte) ([]byte, error) {
	sealed, err := dpapi(true, plaintext)
	if err != nil {
		return nil, fmt.Errorf("encrypting with DPAPI: %w", err)
	}
	return sealed, nil
}

// Open decrypts data sealed by Seal (or by azidentity/cache).
func (dpapiCodec) Open(_ context.Context, _ string, data []byte) ([]byte, error) {
	pt, err := dpapi(false, data)
	if err != nil {
		return nil, fmt.Errorf("%w (DPAPI: %v)", errDPAPIUnreadable, err)
	}
	return pt, nil
}

// Write implements Storage: the sealed data goes to a temporary file in the
// same folder, flushed, then renamed over the cache file, so a reader (or a
// crash) sees the old file or the new one, never a mix.
func (d *dpapiStorage) Write(ctx context.Context, partition string, data []byte, _ time.Time) error {
	path, err := d.path(partition)
	if err != nil {
		return err
	}
	sealed, err := dpapiCodec{}.Seal(ctx, partition, data)
	if err != nil {
		return fmt.Errorf("cache: %s: %w", path, err)
	}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return fmt.Errorf("cache: creating %s: %w", d.dir, err)
	}
	tmp, err := os.CreateTemp(d.dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("cache: writing next to %s: %w", path, err)
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
	return replaceFile(ctx, tmp.Name(), path)
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
func (d *dpapiStorage) Delete(_ context.Context, partition string) error {
	path, err := d.path(partition)
	if err != nil {
		return err
	}
	err = os.Remove(path)
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("cache: deleting %s: %w", path, err)
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
