package persist

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/azid-go/azid/internal/persist/file"
	"github.com/azid-go/azid/internal/tokencache"
)

// A directory in the cache file's place is reported once, as a
// *file.NotAFileError naming it, and then treated as an empty cache that
// cannot be written (no error per miss) until it is gone; then the cache
// works again. The admin functions (cache show) always report it.
func TestDirectoryReportedOnce(t *testing.T) {
	dir := t.TempDir()
	c, _ := newFileCache(t, dir, nil)
	path := filepath.Join(dir, "test.cache")
	if err := os.MkdirAll(filepath.Join(path, "keep"), 0o700); err != nil {
		t.Fatal(err)
	}
	ts := TokenStore(c)
	var nf *file.NotAFileError
	if _, _, err := ts.Load(ctx, key("api://a/.default")); !errors.As(err, &nf) || nf.Path != path {
		t.Fatalf("first Load: %v; want a *NotAFileError for %s", err, path)
	}
	for i := range 3 {
		if _, ok, err := ts.Load(ctx, key("api://a/.default")); ok || err != nil {
			t.Fatalf("Load %d after the report: %v %v, want nothing and no error", i, ok, err)
		}
		if err := ts.Save(ctx, key("api://a/.default"), stored("a")); err != nil {
			t.Fatalf("Save %d after the report: %v, want it skipped quietly", i, err)
		}
	}
	if _, err := List(ctx, c); !errors.As(err, &nf) {
		t.Fatalf("List: %v; the admin functions must always report it", err)
	}
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := ts.Save(ctx, key("api://a/.default"), stored("a")); err != nil {
		t.Fatal("Save once the directory is gone:", err)
	}
	fresh, _ := newFileCache(t, dir, nil)
	if got, ok, err := TokenStore(fresh).Load(ctx, key("api://a/.default")); !ok || err != nil || got.AccessToken != "a" {
		t.Fatalf("Load from a fresh cache: %+v %v %v", got, ok, err)
	}
}

// Past MaxPartitions the least recently used partition is dropped from
// memory, never one whose lock is held; a save under a held lock still
// recognises it after other partitions came and went; a dropped partition
// is read again from storage.
func TestPartitionLRU(t *testing.T) {
	mem := &memStorage{m: map[string][]byte{}}
	c := New(mem, Options{MaxPartitions: 2})
	ts := TokenStore(c).(tokenStore)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	held, err := ts.Lock(cctx, oboKey(1))
	if err != nil {
		t.Fatal(err)
	}
	for u := 2; u <= 6; u++ {
		if err := ts.Save(cctx, oboKey(u), stored(fmt.Sprint("tok-", u))); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.impl.heldPartitions(); n > 2 {
		t.Fatalf("%d partitions held, bound 2", n)
	}
	if _, ok := c.impl.parts["user-000001"]; !ok {
		t.Fatal("the locked partition was dropped")
	}
	// Under the held lock: must not wait for itself.
	if err := held.Save(cctx, stored("tok-1")); err != nil {
		t.Fatal(err)
	}
	held.Unlock()
	for u := 1; u <= 6; u++ {
		got, ok, err := ts.Load(cctx, oboKey(u))
		if err != nil || !ok || got.AccessToken != fmt.Sprint("tok-", u) {
			t.Fatalf("user %d: %+v %v %v", u, got, ok, err)
		}
	}
	if n := c.impl.heldPartitions(); n > 2 {
		t.Fatalf("%d partitions held, bound 2", n)
	}
}

func oboKey(user int) tokencache.Key {
	k := key("api://downstream/.default")
	k.AssertionHash = fmt.Sprintf("user-%06d", user)
	return k
}

// memStorage is an in-memory Partitioner storage, to render one OBO
// partition's stored form.
type memStorage struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memStorage) Read(_ context.Context, p string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[p], nil
}

func (s *memStorage) Write(_ context.Context, p string, d []byte, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[p] = d
	return nil
}

func (s *memStorage) Delete(_ context.Context, p string) error { return nil }

func (s *memStorage) Partition(k PartitionKey) string { return k.UserAssertionHash }

// A writer that replaces the whole file from a copy read before others
// wrote (azidentity does) drops their tokens; the process that saved them
// puts them back at its next load or save that re-reads the file, unless
// the cache was cleared or the token replaced by a newer one.
func TestOwnTokensRestored(t *testing.T) {
	for _, via := range []string{"load", "save", "cleared", "replaced"} {
		t.Run(via, func(t *testing.T) {
			dir := t.TempDir()
			a, _ := newFileCache(t, dir, nil)
			ts := TokenStore(a)
			path := filepath.Join(dir, "test.cache")
			if err := ts.Save(ctx, key("api://one/.default"), stored("one")); err != nil {
				t.Fatal(err)
			}
			stale, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := ts.Save(ctx, key("api://two/.default"), stored("two")); err != nil {
				t.Fatal(err)
			}
			// The other program's whole-file write from its stale copy.
			foreign, _ := newFileCache(t, t.TempDir(), nil)
			switch via {
			case "cleared":
				stale = []byte(`{"AccessToken":{}}`)
			case "replaced":
				// It also got a newer token for "two".
				fs := TokenStore(foreign)
				fs.Save(ctx, key("api://one/.default"), stored("one"))
				fs.Save(ctx, key("api://two/.default"), stored("two-newer"))
				stale, _ = os.ReadFile(filepath.Join(foreign.impl.st.(*countingStorage).Dir, "test.cache"))
			}
			if err := os.WriteFile(path+".new", stale, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(path+".new", path); err != nil {
				t.Fatal(err)
			}
			switch via {
			case "save":
				if err := ts.Save(ctx, key("api://three/.default"), stored("three")); err != nil {
					t.Fatal(err)
				}
			default:
				if _, _, err := ts.Load(ctx, key("api://three/.default")); err != nil {
					t.Fatal(err)
				}
			}
			fresh, _ := newFileCache(t, dir, nil)
			got, ok, err := TokenStore(fresh).Load(ctx, key("api://two/.default"))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"load": "two", "save": "two", "cleared": "", "replaced": "two-newer"}[via]
			if got.AccessToken != want || ok != (want != "") {
				t.Fatalf("token two after the stale write: %q (found %v), want %q", got.AccessToken, ok, want)
			}
		})
	}
}
