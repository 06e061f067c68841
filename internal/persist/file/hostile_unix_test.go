//go:build unix

package file

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var errUnreadable = errors.New("unreadable")

// within runs f and fails the test if it has not returned by the deadline:
// a blocked open cannot be cancelled, so the test must not wait for it.
func within(t *testing.T, d time.Duration, f func(ctx context.Context)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(ctx)
	}()
	select {
	case <-done:
	case <-time.After(d + 5*time.Second):
		t.Fatal("blocked: the call did not return")
	}
}

// hostile places something that is not a regular file at path.
type hostile struct {
	name string
	// lock: at "<file>.lockfile" instead of the cache file.
	lock bool
	make func(t *testing.T, path string)
	// target, when set, is a path outside the directory that must be left
	// as it was (not created, not written).
	target func(dir string) string
}

func hostiles() []hostile {
	fifo := func(t *testing.T, path string) {
		if err := unix.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sock := func(t *testing.T, path string) {
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		// Keep the socket file when the listener closes.
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		t.Cleanup(func() { l.Close() })
	}
	device := func(t *testing.T, path string) {
		// /dev/null's numbers; only root may mknod. Elsewhere a link to it.
		if err := unix.Mknod(path, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))); err != nil {
			if err := os.Symlink("/dev/null", path); err != nil {
				t.Fatal(err)
			}
		}
	}
	outside := func(dir string) string { return filepath.Join(filepath.Dir(dir), "outside") }
	dangling := func(t *testing.T, path string) {
		if err := os.Symlink(outside(filepath.Dir(path)), path); err != nil {
			t.Fatal(err)
		}
	}
	linked := func(t *testing.T, path string) {
		o := outside(filepath.Dir(path))
		if err := os.WriteFile(o, []byte("not yours"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(o, path); err != nil {
			t.Fatal(err)
		}
	}
	return []hostile{
		{name: "FIFO at cache path", make: fifo},
		{name: "FIFO at lock path", lock: true, make: fifo},
		{name: "socket at cache path", make: sock},
		{name: "socket at lock path", lock: true, make: sock},
		{name: "device at cache path", make: device},
		{name: "device at lock path", lock: true, make: device},
		{name: "dangling symlink at lock path", lock: true, make: dangling, target: outside},
		{name: "dangling symlink at cache path", make: dangling, target: outside},
		{name: "symlink at cache path", make: linked, target: outside},
		{name: "symlink at lock path", lock: true, make: linked, target: outside},
	}
}

// Nothing at a cache or lock path blocks a call or redirects a write: a
// special file at the cache path is damaged data that the next write
// replaces; at the lock path it is replaced by a lock file. Links are
// never followed: their targets are neither created nor written.
func TestHostilePaths(t *testing.T) {
	for _, h := range hostiles() {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "cache")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			s := &Store{Dir: dir, Unreadable: errUnreadable}
			path := filepath.Join(dir, "c")
			at := path
			if h.lock {
				at += ".lockfile"
			}
			h.make(t, at)
			var before []byte
			if h.target != nil {
				before, _ = os.ReadFile(h.target(dir))
			}
			within(t, 10*time.Second, func(ctx context.Context) {
				if _, err := s.Version(ctx, "c"); err != nil {
					t.Errorf("Version: %v", err)
				}
				data, err := s.Read(ctx, "c")
				switch {
				case h.lock && (err != nil || data != nil):
					t.Errorf("Read with a hostile lock path = %q, %v", data, err)
				case !h.lock && !errors.Is(err, errUnreadable):
					t.Errorf("Read = %q, %v; want an error wrapping the unreadable sentinel", data, err)
				case !h.lock && !strings.Contains(err.Error(), path):
					t.Errorf("the error does not name the path: %v", err)
				}
				unlock, err := s.Lock(ctx, "c")
				if err != nil {
					t.Errorf("Lock: %v", err)
					return
				}
				err = s.Write(ctx, "c", []byte("new"), time.Time{})
				unlock()
				if err != nil {
					t.Errorf("Write: %v", err)
					return
				}
				if data, err := s.Read(ctx, "c"); err != nil || string(data) != "new" {
					t.Errorf("Read after Write = %q, %v", data, err)
				}
			})
			for _, p := range []string{path, path + ".lockfile"} {
				if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
					t.Errorf("%s is not a regular file now: %v", p, err)
				}
			}
			if h.target != nil {
				after, err := os.ReadFile(h.target(dir))
				if before == nil && !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the link's target was created (%v)", err)
				}
				if before != nil && string(after) != string(before) {
					t.Errorf("the link's target was written: %q", after)
				}
			}
		})
	}
}

// A directory at the cache path or the lock path is not removed (it may
// hold someone's files): every operation says so with a *NotAFileError
// naming the path.
func TestDirectoryAtPath(t *testing.T) {
	for _, lock := range []bool{false, true} {
		name := map[bool]string{false: "cache path", true: "lock path"}[lock]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := &Store{Dir: dir, Unreadable: errUnreadable}
			at := filepath.Join(dir, "c")
			if lock {
				at += ".lockfile"
			}
			if err := os.MkdirAll(filepath.Join(at, "keep"), 0o700); err != nil {
				t.Fatal(err)
			}
			within(t, 10*time.Second, func(ctx context.Context) {
				var nf *NotAFileError
				check := func(op string, err error) {
					t.Helper()
					if !errors.As(err, &nf) || nf.Path != at || !strings.Contains(err.Error(), "remove or rename") {
						t.Errorf("%s: %v; want a *NotAFileError for %s", op, err, at)
					}
				}
				if lock {
					_, err := s.Lock(ctx, "c")
					check("Lock", err)
					return
				}
				_, err := s.Version(ctx, "c")
				check("Version", err)
				_, err = s.Read(ctx, "c")
				check("Read", err)
				check("Write", s.Write(ctx, "c", []byte("x"), time.Time{}))
			})
			if _, err := os.Stat(filepath.Join(at, "keep")); err != nil {
				t.Fatal("the directory was changed:", err)
			}
		})
	}
}

// The temporary file of an atomic replace is never created through a
// link planted at its name.
func TestCreateTempRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	f, err := createTemp(dir, ".c.tmp-")
	if err != nil {
		t.Fatal(err)
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	target := filepath.Join(t.TempDir(), "target")
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
	if _, err := openNoFollow(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL); !errors.Is(err, os.ErrExist) {
		t.Fatalf("open through a link: %v", err)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the link's target was created")
	}
}

// Stale temporary files are removed, but not one a live writer holds: two
// processes can both believe they hold the partition's lock when
// azidentity deletes the lock file just after one of them locked it.
func TestStaleTempsSpareLiveWriters(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	live, err := createTemp(s.Dir, ".c.tmp-")
	if err != nil {
		t.Fatal(err)
	}
	dead, err := createTemp(s.Dir, ".c.tmp-")
	if err != nil {
		t.Fatal(err)
	}
	dead.Close() // its writer died: the kernel dropped its lock
	s.removeStaleTemps("c")
	if _, err := os.Stat(live.Name()); err != nil {
		t.Fatal("a live writer's temporary file was removed")
	}
	if _, err := os.Stat(dead.Name()); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a dead writer's temporary file was kept")
	}
	live.Close()
}
