//go:build windows

package file

import (
	"context"
	"errors"
	"fmt"
	"os"

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
