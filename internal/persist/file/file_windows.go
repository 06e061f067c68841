//go:build windows

package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/windows"
)

func version(fi os.FileInfo) string {
	// Windows has no inode in FileInfo; size and the 100 ns modification
	// time change on every rename-replace.
	return fmt.Sprintf("%d:%d", fi.Size(), fi.ModTime().UnixNano())
}

func syncDir(string) {}

func lockFile(ctx context.Context, path string) (func(), error) {
	return pollLock(ctx, path, func() (func(), bool, error) {
		// Never open through a link (its target would be created) and
		// never take a directory for the lock file.
		if fi, err := os.Lstat(path); err == nil {
			switch {
			case fi.IsDir():
				return nil, false, &NotAFileError{Path: path}
			case !fi.Mode().IsRegular():
				if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
					return nil, false, err
				}
			}
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			if errors.Is(err, windows.ERROR_SHARING_VIOLATION) || errors.Is(err, os.ErrPermission) {
				return nil, false, nil
			}
			return nil, false, err
		}
		ol := new(windows.Overlapped)
		err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
		if err != nil {
			f.Close()
			if errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING) {
				return nil, false, nil
			}
			return nil, false, err
		}
		return func() {
			_ = windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, ol)
			f.Close()
		}, true, nil
	})
}

// openShared opens path for reading while letting other processes rename
// over it or delete it (FILE_SHARE_DELETE, which os.Open does not grant):
// readers run without the lock, and an open that refused deletion would
// make a concurrent writer's rename fail. While a writer's rename is under
// way the open may fail with a sharing violation for a moment; that is
// retried briefly.
func openShared(ctx context.Context, path string) (*os.File, error) {
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
	return os.NewFile(uintptr(h), path), nil
}

// replace renames src over dst (MoveFileEx with MOVEFILE_REPLACE_EXISTING).
// Windows refuses while another program has dst open without sharing
// delete access (azidentity reads the file that way), so a refusal is
// retried briefly.
func replace(ctx context.Context, src, dst string) error {
	return retryBusy(ctx, func() error { return os.Rename(src, dst) })
}

// retryBusy runs op until it succeeds, fails for another reason than a
// file being busy (a sharing violation, or access denied while a rename
// is under way), or about a second has passed.
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

// createTemp creates a new file for an atomic replace: exclusive (so never
// through anything already at the name).
func createTemp(dir, prefix string) (*os.File, error) {
	return os.CreateTemp(dir, prefix+"*")
}

// closeBeforeReplace: Windows does not rename a file that is open without
// delete sharing.
const closeBeforeReplace = true

// removeIfStale removes the temporary file at path: Windows refuses to
// delete a file another process has open, which protects a live writer's
// temporary file while it writes.
func removeIfStale(path string) { os.Remove(path) }
