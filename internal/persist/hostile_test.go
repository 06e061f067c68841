package persist

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/azid-go/azid/internal/persist/file"
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
