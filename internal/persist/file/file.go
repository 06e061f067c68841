// Package file keeps persistent cache partitions as files in one
// directory, the way every azid platform storage does: one file per
// partition, replaced atomically (temporary file, fsync, rename, fsync of
// the directory), an exclusive lock on "<file>.lockfile" that is never
// deleted, and a version made of device, inode, size and modification time,
// so that a reader notices any writer's change, including writers that
// rewrite in place.
//
// What goes into a file is decided by a [Codec]: a JWE sealed with a key
// from the keyring, DPAPI, or nothing (plain JSON, for unencrypted
// storage).
//
// The directory may hold things this package did not put there. Nothing
// at a cache or lock path can block a call or redirect a write: files are
// opened without following a symbolic link in their last component and
// without waiting (a FIFO's open would wait for a writer), and their type
// is checked before a byte is read. A FIFO, socket, device or symbolic
// link at a cache path is damaged data (the next write replaces it); at a
// lock path it is replaced by a lock file. A directory at either path is
// not replaced (it may hold someone's files): it is a [*NotAFileError].
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Codec turns a partition's plaintext into the file's bytes and back.
type Codec interface {
	// Seal encrypts plaintext for partition. It is called with the
	// partition's lock held, so it may create a key without racing
	// another writer of this cache.
	Seal(ctx context.Context, partition string, plaintext []byte) ([]byte, error)
	// Open decrypts a file's content. Data that cannot be decrypted is an
	// error wrapping persist.ErrUnreadable.
	Open(ctx context.Context, partition string, data []byte) ([]byte, error)
}

// KeyRemover is implemented by codecs whose key lives outside the file
// (the keyring), so that removing a cache for good can remove the key too.
type KeyRemover interface {
	// RemoveKey deletes partition's key; deleting none is no error.
	RemoveKey(ctx context.Context, partition string) error
}

// NotAFileError reports a directory where a cache file or its lock file
// belongs. Nothing is stored there until it is removed or renamed.
type NotAFileError struct {
	// Path is the cache or lock file's path.
	Path string
}

func (e *NotAFileError) Error() string {
	return fmt.Sprintf("the token cache path %s is a directory, not a file: remove or rename it (tokens are kept in memory only until then)", e.Path)
}

// damaged describes what is at path when it is neither a regular file nor
// a directory ("a FIFO"), or "" when it is one of those or cannot be
// examined. It never follows a symbolic link.
func damaged(path string) string {
	fi, err := os.Lstat(path)
	if err != nil {
		return ""
	}
	return kindOf(fi.Mode())
}

func kindOf(m os.FileMode) string {
	switch {
	case m.IsRegular(), m.IsDir():
		return ""
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

func isDir(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.IsDir()
}

// MaxFileSize bounds what Read accepts.
const MaxFileSize = 64 << 20

// Store is a directory of partition files.
type Store struct {
	// Dir holds the files; it is created (0700) on the first write.
	Dir string
	// Codec seals and opens file content; nil stores plaintext.
	Codec Codec
	// Unreadable wraps errors about content that exists but cannot be
	// used (persist.ErrUnreadable; a parameter to keep this package free
	// of persist's imports).
	Unreadable error
}

// Path returns the file of partition, or an error when partition is not a
// plain file name.
func (s *Store) Path(partition string) (string, error) {
	if partition == "" || partition == "." || partition == ".." || len(partition) > 200 ||
		strings.ContainsAny(partition, "/\\\x00:") {
		return "", fmt.Errorf("the cache name %q cannot be a file name: use letters, digits, '.', '-' or '_'", partition)
	}
	return filepath.Join(s.Dir, partition), nil
}

// Location implements the persist package's locator: log messages name
// the file.
func (s *Store) Location(partition string) string {
	p, err := s.Path(partition)
	if err != nil {
		return partition
	}
	return p
}

// Read returns partition's plaintext, or nil when the file does not exist
// or is empty.
func (s *Store) Read(ctx context.Context, partition string) ([]byte, error) {
	p, err := s.Path(partition)
	if err != nil {
		return nil, err
	}
	f, err := openShared(ctx, p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		// A symbolic link (ELOOP) or a socket (ENXIO) cannot be opened
		// this way: say what it is.
		if isDir(p) {
			return nil, &NotAFileError{Path: p}
		}
		if kind := damaged(p); kind != "" {
			return nil, fmt.Errorf("%w: %s is %s, not a file; the next write replaces it", s.Unreadable, p, kind)
		}
		return nil, fmt.Errorf("reading the token cache %s: %w", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading the token cache %s: %w", p, err)
	}
	if fi.IsDir() {
		return nil, &NotAFileError{Path: p}
	}
	if kind := kindOf(fi.Mode()); kind != "" {
		return nil, fmt.Errorf("%w: %s is %s, not a file; the next write replaces it", s.Unreadable, p, kind)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the token cache %s: %w", p, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", s.Unreadable, p, MaxFileSize)
	}
	if len(data) == 0 {
		return nil, nil
	}
	if s.Codec == nil {
		return data, nil
	}
	pt, err := s.Codec.Open(ctx, partition, data)
	if err != nil {
		return nil, fmt.Errorf("reading the token cache %s: %w", p, err)
	}
	return pt, nil
}

// Write replaces partition's file with data, sealed by the codec.
func (s *Store) Write(ctx context.Context, partition string, data []byte, _ time.Time) error {
	p, err := s.Path(partition)
	if err != nil {
		return err
	}
	if s.Codec == nil {
		return s.write(ctx, partition, p, data)
	}
	kc, _ := s.Codec.(KeyChecker)
	for attempt := 0; ; attempt++ {
		sealed, err := s.Codec.Seal(ctx, partition, data)
		if err != nil {
			return fmt.Errorf("encrypting the token cache %s: %w", p, err)
		}
		if err := s.write(ctx, partition, p, sealed); err != nil {
			return err
		}
		if kc == nil || attempt == 3 || kc.Current(ctx, partition, sealed) {
			return nil
		}
	}
}

// KeyChecker is implemented by codecs whose key another program may
// replace while a write is under way. azidentity creates the kernel
// keyring key without a reliable lock (it deletes its lock file on unlock,
// so two processes can both believe they hold it): at a cold start an
// azidentity process may replace the key azid just created, making the
// file azid wrote unreadable to everyone. After each write the store asks
// whether the data was sealed with the key now in the key store, and seals
// and writes again when it was not.
type KeyChecker interface {
	// Current reports whether sealed opens with partition's current key.
	// Errors (no key store) count as current: nothing better can be done.
	Current(ctx context.Context, partition string, sealed []byte) bool
}

func (s *Store) write(ctx context.Context, partition, p string, data []byte) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("creating the token cache directory: %w", err)
	}
	if isDir(p) {
		return &NotAFileError{Path: p}
	}
	s.removeStaleTemps(partition)
	tmp, err := createTemp(s.Dir, "."+partition+".tmp-")
	if err != nil {
		return fmt.Errorf("writing the token cache %s: %w", p, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600; set it anyway in case of an unusual
	// umask-free platform.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("writing the token cache %s: %w", p, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("writing the token cache %s: %w", p, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing the token cache %s: %w", p, err)
	}
	if closeBeforeReplace {
		if err := tmp.Close(); err != nil {
			return fmt.Errorf("writing the token cache %s: %w", p, err)
		}
	}
	if err := replace(ctx, tmp.Name(), p); err != nil {
		if isDir(p) {
			return &NotAFileError{Path: p}
		}
		return fmt.Errorf("replacing the token cache %s: %w", p, err)
	}
	ok = true
	if !closeBeforeReplace {
		tmp.Close()
	}
	syncDir(s.Dir)
	return nil
}

// removeStaleTemps deletes temporary files a killed writer left behind. It
// runs with the partition's lock held, but that does not prove that no
// live writer owns them: azidentity deletes the lock file when it unlocks,
// and a process that locked that file a moment before and one that then
// creates a new lock file both hold "the" lock. So a writer keeps its
// temporary file locked until the rename (on Unix), and a locked one is
// left alone.
func (s *Store) removeStaleTemps(partition string) {
	matches, _ := filepath.Glob(filepath.Join(s.Dir, "."+globEscape(partition)+".tmp-*"))
	for _, m := range matches {
		removeIfStale(m)
	}
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

// Delete removes partition's file. The lock file stays.
func (s *Store) Delete(_ context.Context, partition string) error {
	p, err := s.Path(partition)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("deleting the token cache %s: %w", p, err)
	}
	return nil
}

// RemoveKey deletes partition's key where the codec keeps it apart from the
// file (see [KeyRemover]); other codecs have nothing to delete.
func (s *Store) RemoveKey(ctx context.Context, partition string) error {
	if r, ok := s.Codec.(KeyRemover); ok {
		return r.RemoveKey(ctx, partition)
	}
	return nil
}

// Version returns a string that changes whenever partition's file does:
// device, inode, size and modification time (of a symbolic link itself,
// which Read does not follow). A directory at the path is a
// [*NotAFileError].
func (s *Store) Version(_ context.Context, partition string) (string, error) {
	p, err := s.Path(partition)
	if err != nil {
		return "", err
	}
	fi, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return "absent", nil
	}
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return "", &NotAFileError{Path: p}
	}
	return version(fi), nil
}

// Lock takes the exclusive lock of partition: "<file>.lockfile", the lock
// file azidentity/cache uses, so that azid and azidentity writers exclude
// each other. The file is never deleted (deleting a lock file lets two
// holders in); if another program deletes it while this one waits, Lock
// notices and locks the new file. Something other than a regular file at
// the lock path (a FIFO, a socket, a device, a symbolic link, dangling or
// not) is removed and replaced by a lock file, never followed or waited
// on; a directory there is a [*NotAFileError].
func (s *Store) Lock(ctx context.Context, partition string) (func(), error) {
	p, err := s.Path(partition)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the token cache directory: %w", err)
	}
	return lockFile(ctx, p+".lockfile")
}

// pollLock retries try, which attempts a non-blocking lock, with a growing
// pause until it succeeds or ctx ends.
func pollLock(ctx context.Context, path string, try func() (func(), bool, error)) (func(), error) {
	delay := 500 * time.Microsecond
	for {
		unlock, locked, err := try()
		if err != nil {
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if locked {
			return unlock, nil
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for the lock %s: %w", path, context.Cause(ctx))
		}
		delay = min(delay*2, 20*time.Millisecond)
	}
}
