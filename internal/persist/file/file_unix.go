//go:build unix

package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func version(fi os.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d:%d:%d", st.Dev, st.Ino, fi.Size(), fi.ModTime().UnixNano())
	}
	return fmt.Sprintf("%d:%d", fi.Size(), fi.ModTime().UnixNano())
}

// openShared opens path for reading. On Unix an open file never stops a
// writer from renaming over it.
func openShared(_ context.Context, path string) (*os.File, error) { return os.Open(path) }

// replace renames src over dst atomically.
func replace(_ context.Context, src, dst string) error { return os.Rename(src, dst) }

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// lockFile takes an exclusive flock on path. The blocking flock runs on
// its own goroutine so that the kernel wakes waiters as soon as the lock is
// free (no polling delay) while the caller can still give up when ctx
// ends; a lock obtained after that is released at once.
func lockFile(ctx context.Context, path string) (func(), error) {
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_CLOEXEC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		res := make(chan error, 1)
		go func() {
			for {
				err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
				if !errors.Is(err, unix.EINTR) {
					res <- err
					return
				}
			}
		}()
		select {
		case err = <-res:
		case <-ctx.Done():
			go func() {
				<-res
				f.Close()
			}()
			return nil, fmt.Errorf("waiting for the lock %s: %w", path, context.Cause(ctx))
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		// The lock is good only if the file is still the one at path:
		// azidentity deletes its lock file on unlock, and a lock on a
		// deleted file excludes nobody.
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(path, &now) == nil && held.Ino == now.Ino && held.Dev == now.Dev {
			return func() { f.Close() }, nil
		}
		f.Close()
	}
}
