package cache

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var dpapiBlob = []byte(`{"AccessToken":{"k":{"secret":"SECRET-ACCESS-TOKEN","expires_on":"1790000000"}},"FutureSection":{}}`)

func TestDPAPIStorageRoundTrip(t *testing.T) {
	dir := filepath.Join(testDir(t), ".IdentityService")
	path := filepath.Join(dir, "msal.cache")
	d := newDPAPIStorage(dir, "msal.cache")
	ctx := context.Background()
	if got, err := d.Read(ctx, ""); got != nil || err != nil {
		t.Fatalf("Read without a file = %q, %v; want nil, nil", got, err)
	}
	if err := d.Delete(ctx, ""); err != nil {
		t.Fatalf("Delete without a file: %v", err)
	}
	for _, data := range [][]byte{dpapiBlob, {}, {0, 1, 2, 0xff}, []byte(`{"v":2}`)} {
		if err := d.Write(ctx, "msal.cache", data, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err := d.Read(ctx, "") // the default partition is the cache name
		if len(data) == 0 {
			// An empty blob leaves a sealed (non-empty) file that opens to
			// nothing.
			if err != nil || len(got) != 0 {
				t.Fatalf("Read of an empty blob = %q, %v", got, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Read = %q, %v; want %q", got, err, data)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(`"v":2`)) {
		t.Fatal("the file holds the plaintext")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("the folder holds %d files; want the cache file only (no temporary files left)", len(entries))
	}
	// The CAE sibling is its own file, as azidentity keeps it.
	if err := d.Write(ctx, "msal.cache.cae", []byte(`{"cae":1}`), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Read(ctx, "msal.cache"); string(got) != `{"v":2}` {
		t.Fatalf("the CAE write changed the main file: %q", got)
	}
	if got, _ := d.Read(ctx, "msal.cache.cae"); string(got) != `{"cae":1}` {
		t.Fatalf("CAE file = %q", got)
	}
	if err := d.Delete(ctx, "msal.cache.cae"); err != nil {
		t.Fatal(err)
	}
	// A partition cannot point outside the folder.
	for _, bad := range []string{`..\x`, "a/b", "..", `c:x`} {
		if err := d.Write(ctx, bad, dpapiBlob, time.Time{}); err == nil {
			t.Fatalf("Write to partition %q succeeded", bad)
		}
	}
	if err := d.Delete(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Read(ctx, ""); got != nil || err != nil {
		t.Fatalf("Read after Delete = %q, %v", got, err)
	}
}

func TestDPAPIStorageBadFiles(t *testing.T) {
	dir := testDir(t)
	path := filepath.Join(dir, "msal.cache")
	d := newDPAPIStorage(dir, "msal.cache")
	ctx := context.Background()
	if err := d.Write(ctx, "", dpapiBlob, time.Time{}); err != nil {
		t.Fatal(err)
	}
	sealed, _ := os.ReadFile(path)
	for name, content := range map[string][]byte{
		"plain JSON":  dpapiBlob,
		"truncated":   sealed[:len(sealed)/2],
		"flipped bit": append(append([]byte{}, sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1),
	} {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := d.Read(ctx, "")
		if err == nil || got != nil {
			t.Fatalf("%s: Read = %q, %v; want an error", name, got, err)
		}
		if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "SECRET") {
			t.Fatalf("%s: error %q; want the path and no data", name, err)
		}
		// The next write replaces the bad file.
		if err := d.Write(ctx, "", dpapiBlob, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if got, err := d.Read(ctx, ""); err != nil || !bytes.Equal(got, dpapiBlob) {
			t.Fatalf("%s: after a rewrite Read = %q, %v", name, got, err)
		}
	}
	// An empty file is no data.
	os.WriteFile(path, nil, 0o600)
	if got, err := d.Read(ctx, ""); got != nil || err != nil {
		t.Fatalf("Read of an empty file = %q, %v", got, err)
	}
	// A folder where the file should be: errors, no panic.
	os.Remove(path)
	os.Mkdir(path, 0o700)
	if _, err := d.Read(ctx, ""); err == nil {
		t.Fatal("Read of a folder succeeded")
	}
	if err := d.Write(ctx, "", dpapiBlob, time.Time{}); err == nil {
		t.Fatal("Write over a folder succeeded")
	}
}

// TestDPAPIStorageConcurrentWriters: writers replacing the file while
// readers read it; every read sees a whole blob.
func TestDPAPIStorageConcurrentWriters(t *testing.T) {
	d := newDPAPIStorage(testDir(t), "msal.cache")
	ctx := context.Background()
	if err := d.Write(ctx, "", []byte(`{"w":-1}`), time.Time{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				if err := d.Write(ctx, "", []byte(`{"w":`+string(rune('0'+w))+`,"i":`+string(rune('0'+i))+`}`), time.Time{}); err != nil {
					errs <- err
				}
				got, err := d.Read(ctx, "")
				if err != nil {
					errs <- err
				} else if !bytes.HasPrefix(got, []byte(`{"w":`)) {
					errs <- fmt.Errorf("Read = %q; want a whole blob", got)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestPlatformStoragePath(t *testing.T) {
	s, err := platformStorage(&Options{Name: "azid-test.cache"})
	if err != nil {
		t.Fatal(err)
	}
	d := s.(*dpapiStorage)
	p, _ := d.path("")
	if !strings.HasSuffix(p, `\.IdentityService\azid-test.cache`) {
		t.Fatalf("path %q; want %%LOCALAPPDATA%%\\.IdentityService\\azid-test.cache", p)
	}
	s, _ = platformStorage(&Options{})
	if p, _ := s.(*dpapiStorage).path(""); !strings.HasSuffix(p, `\msal.cache`) {
		t.Fatalf("default name: path %q", p)
	}
}

// testDir is t.TempDir for these tests: Go's os.RemoveAll uses a Windows
// call Wine does not implement ("Invalid function"), which would fail
// every test at cleanup under scripts/wine-test.sh. Files are removed one
// by one instead (Wine's prefix is discarded afterwards anyway).
func testDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "azid-cache-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeTree(dir) })
	return dir
}

func removeTree(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			removeTree(p)
		}
		os.Remove(p)
	}
	os.Remove(dir)
}
