//go:build unix

package file

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
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
// writer from renaming over it. The open neither follows a symbolic link
// (ELOOP) nor waits: opening a FIFO without O_NONBLOCK blocks until a
// writer appears, which may be never. The caller checks the type before
// reading.
func openShared(_ context.Context, path string) (*os.File, error) {
	fd, err := openNoFollow(path, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

func openNoFollow(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, flags|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// createTemp creates a new file for an atomic replace: exclusive, 0600,
// and never through a symbolic link someone planted at the name.
func createTemp(dir, prefix string) (*os.File, error) {
	for range 100 {
		path := filepath.Join(dir, prefix+strconv.FormatUint(uint64(rand.Uint32()), 36))
		fd, err := openNoFollow(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// Held until the file is closed after its rename: see
		// removeIfStale. A cleaner may have found the file in the moment
		// before it was locked, locked it and removed it: then use
		// another name.
		if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
			unix.Close(fd)
			if errors.Is(err, unix.EWOULDBLOCK) {
				continue
			}
			os.Remove(path)
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Nlink == 0 {
			unix.Close(fd)
			continue
		}
		return os.NewFile(uintptr(fd), path), nil
	}
	return nil, fmt.Errorf("creating a temporary file in %s: too many name collisions", dir)
}

// closeBeforeReplace: on Unix the temporary file stays open (and locked)
// until it has been renamed.
const closeBeforeReplace = false

// removeIfStale removes the temporary file at path unless a live writer
// holds its lock (the kernel releases a dead writer's). The removal
// happens under the lock, so a writer that locks the file afterwards sees
// that it was unlinked.
func removeIfStale(path string) {
	fd, err := openNoFollow(path, unix.O_RDONLY)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
		os.Remove(path)
	}
}

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
	replaced := 0
	for {
		f, err := openLockFile(path)
		if errors.Is(err, errNotALockFile) && replaced < 8 {
			// Not a file azid or azidentity would have created, so no one
			// holds a lock on it: remove it (a link is removed, never its
			// target) and create the real one.
			replaced++
			if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				return nil, fmt.Errorf("locking %s: removing what is there (%w): %w", path, err, rerr)
			}
			continue
		}
		if err != nil {
			return nil, err
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
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Lstat(path, &now) == nil && held.Ino == now.Ino && held.Dev == now.Dev {
			return func() { f.Close() }, nil
		}
		f.Close()
	}
}

// errNotALockFile marks a lock path holding something other than a regular
// file or a directory.
var errNotALockFile = errors.New("not a regular file")

// openLockFile opens or creates the lock file at path without following a
// symbolic link (a dangling one would otherwise make the open create its
// target) and without waiting on a FIFO, and checks that it is a regular
// file.
func openLockFile(path string) (*os.File, error) {
	fd, err := openNoFollow(path, unix.O_RDWR|unix.O_CREAT)
	if err != nil {
		if isDir(path) {
			return nil, &NotAFileError{Path: path}
		}
		if kind := damaged(path); kind != "" {
			return nil, fmt.Errorf("locking %s: it is %s: %w", path, kind, errNotALockFile)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return nil, &NotAFileError{Path: path}
		}
		return nil, fmt.Errorf("locking %s: %w", path, errNotALockFile)
	}
	// Clear O_NONBLOCK: it only served the open.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}
