package cache

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azid-go/azid/internal/persist"
	"github.com/azid-go/azid/internal/persist/file"
	"github.com/azid-go/azid/internal/persist/jwe"
	"github.com/azid-go/azid/internal/tokencache"
)

// These tests run on Windows, and on Linux under Wine with
// scripts/wine-test.sh (Wine's DPAPI round-trips but does not write
// Windows's blob format, so byte compatibility with azidentity is not
// tested here).

var bg = context.Background()

func keyOf(scope string) tokencache.Key {
	return tokencache.Key{Authority: "login.example", ClientID: "client", TenantID: "tenant", Scopes: []string{scope}}
}

func storedTok(tok string) tokencache.Stored {
	now := time.Now().Truncate(time.Second)
	return tokencache.Stored{AccessToken: tok, CachedAt: now, ExpiresOn: now.Add(time.Hour)}
}

// dpapiCache opens the DPAPI storage in dir as New would, failing t on
// error.
func dpapiCache(t testing.TB, dir, name string, log *slog.Logger) Cache {
	t.Helper()
	st, err := windowsStorage(&Options{Name: name, Logger: log}, dir, dpapiCodec{})
	if err != nil {
		t.Fatal(err)
	}
	return Cache(persist.New(st, persist.Options{Name: name, Logger: log}))
}

// TestDPAPIFileStore: tokens saved by one cache instance are found by
// another (another process's view), in a DPAPI-sealed file with
// azidentity's name and lock file; CAE tokens go to the ".cae" sibling.
func TestDPAPIFileStore(t *testing.T) {
	dir := filepath.Join(testDir(t), ".IdentityService")
	a := persist.TokenStore(dpapiCache(t, dir, "msal.cache", nil))
	if err := a.Save(bg, keyOf("api://x/.default"), storedTok("SECRET-ACCESS-TOKEN")); err != nil {
		t.Fatal(err)
	}
	cae := keyOf("api://x/.default")
	cae.CAE = true
	if err := a.Save(bg, cae, storedTok("cae-token")); err != nil {
		t.Fatal(err)
	}
	b := persist.TokenStore(dpapiCache(t, dir, "msal.cache", nil))
	for _, k := range []tokencache.Key{keyOf("api://x/.default"), cae} {
		if _, ok, err := b.Load(bg, k); !ok || err != nil {
			t.Fatalf("another instance does not find %+v: %v %v", k, ok, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "msal.cache"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("SECRET-ACCESS-TOKEN")) || bytes.Contains(raw, []byte("AccessToken")) {
		t.Fatal("the file holds the plaintext")
	}
	pt, err := dpapi(false, raw)
	if err != nil || !bytes.Contains(pt, []byte(`"secret":"SECRET-ACCESS-TOKEN"`)) {
		t.Fatalf("the file does not unprotect with DPAPI to the MSAL schema: %v", err)
	}
	if pt, err := readDPAPI(filepath.Join(dir, "msal.cache.cae")); err != nil || !bytes.Contains(pt, []byte("cae-token")) || bytes.Contains(raw, []byte("cae-token")) {
		t.Fatalf("CAE token not in the sibling file alone: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := "msal.cache msal.cache.cae msal.cache.cae.lockfile msal.cache.lockfile"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("the folder holds %q; want %q (no temporary files, lock files kept)", got, want)
	}
}

func readDPAPI(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return dpapi(false, raw)
}

// TestDPAPIDamagedFiles: each kind of damage makes a load fail with an
// ErrUnreadable naming the file, without the data; the next save replaces
// the file.
func TestDPAPIDamagedFiles(t *testing.T) {
	for what, damage := range map[string]func(sealed []byte) []byte{
		"corrupt":     func([]byte) []byte { return []byte("garbage\x00\xff") },
		"truncated":   func(s []byte) []byte { return s[:len(s)/2] },
		"flipped bit": func(s []byte) []byte { return append(bytes.Clone(s[:len(s)-1]), s[len(s)-1]^1) },
		"plain JSON":  func([]byte) []byte { return []byte(`{"AccessToken":{"k":{"secret":"SECRET"}}}`) },
	} {
		t.Run(what, func(t *testing.T) {
			dir := testDir(t)
			path := filepath.Join(dir, "msal.cache")
			s := persist.TokenStore(dpapiCache(t, dir, "msal.cache", nil))
			if err := s.Save(bg, keyOf("api://a/.default"), storedTok("a")); err != nil {
				t.Fatal(err)
			}
			sealed, _ := os.ReadFile(path)
			if err := os.WriteFile(path, damage(sealed), 0o600); err != nil {
				t.Fatal(err)
			}
			fresh := persist.TokenStore(dpapiCache(t, dir, "msal.cache", nil))
			_, ok, err := fresh.Load(bg, keyOf("api://a/.default"))
			if ok || !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("load of a damaged file: ok=%v err=%v; want ErrUnreadable with the path", ok, err)
			}
			if err := fresh.Save(bg, keyOf("api://b/.default"), storedTok("b")); err != nil {
				t.Fatal("save over a damaged file:", err)
			}
			again := persist.TokenStore(dpapiCache(t, dir, "msal.cache", nil))
			if got, ok, err := again.Load(bg, keyOf("api://b/.default")); !ok || err != nil || got.AccessToken != "b" {
				t.Fatalf("damaged file not replaced: %v %v", ok, err)
			}
		})
	}
}

// TestDPAPIDirectoryInPlaceOfFile: the first load fails with the path; the
// directory is reported once, so a later save is skipped quietly; nothing
// panics, nothing is deleted.
func TestDPAPIDirectoryInPlaceOfFile(t *testing.T) {
	dir := testDir(t)
	path := filepath.Join(dir, "msal.cache")
	if err := os.MkdirAll(filepath.Join(path, "keep"), 0o700); err != nil {
		t.Fatal(err)
	}
	s := persist.TokenStore(dpapiCache(t, dir, "msal.cache", nil))
	if _, _, err := s.Load(bg, keyOf("api://a/.default")); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("load: %v", err)
	}
	if err := s.Save(bg, keyOf("api://a/.default"), storedTok("a")); err != nil {
		t.Fatalf("save after the directory was reported: %v, want it skipped quietly", err)
	}
	if _, err := os.Stat(filepath.Join(path, "keep")); err != nil {
		t.Fatal("the directory was changed")
	}
}

// TestDPAPIConcurrentWriters: goroutines with their own cache instances
// (as separate processes would be) save distinct tokens at once while
// reading; nothing is lost and no read fails.
func TestDPAPIConcurrentWriters(t *testing.T) {
	dir := testDir(t)
	const writers, each = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		s := persist.TokenStore(dpapiCache(t, dir, "msal.cache", nil))
		wg.Go(func() {
			for i := range each {
				if err := s.Save(bg, keyOf(fmt.Sprintf("api://w%d/s%d/.default", w, i)), storedTok("t")); err != nil {
					errs <- err
				}
				if _, _, err := s.Load(bg, keyOf("api://absent/.default")); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkAllStored(t, dir, writers, each)
}

func checkAllStored(t *testing.T, dir string, writers, each int) {
	t.Helper()
	s := persist.TokenStore(dpapiCache(t, dir, "msal.cache", nil))
	for w := range writers {
		for i := range each {
			if _, ok, err := s.Load(bg, keyOf(fmt.Sprintf("api://w%d/s%d/.default", w, i))); !ok || err != nil {
				t.Fatalf("token %d/%d lost: %v %v", w, i, ok, err)
			}
		}
	}
}

// winHelperEnv makes the test binary a writer process of
// TestDPAPIManyProcesses: "<dir>|<writer>|<count>".
const winHelperEnv = "AZID_CACHE_WIN_WRITER"

func init() {
	spec := os.Getenv(winHelperEnv)
	if spec == "" {
		return
	}
	parts := strings.Split(spec, "|")
	w, _ := strconv.Atoi(parts[1])
	n, _ := strconv.Atoi(parts[2])
	st, err := windowsStorage(&Options{Name: "msal.cache"}, parts[0], dpapiCodec{})
	if err == nil {
		s := persist.TokenStore(persist.New(st, persist.Options{Name: "msal.cache"}))
		for i := range n {
			if err = s.Save(bg, keyOf(fmt.Sprintf("api://w%d/s%d/.default", w, i)), storedTok("t")); err != nil {
				break
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestDPAPIManyProcesses: processes saving distinct tokens at once through
// the lock file and atomic replace: all are present afterwards.
func TestDPAPIManyProcesses(t *testing.T) {
	dir := testDir(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const procs, each = 4, 25
	var wg sync.WaitGroup
	for w := range procs {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%d|%d", winHelperEnv, dir, w, each))
		wg.Go(func() {
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("writer %d: %v\n%s", w, err, out)
			}
		})
	}
	wg.Wait()
	checkAllStored(t, dir, procs, each)
}

// TestDPAPIProvidedKey: with Options.Key the file is a JWE sealed with
// that key (readable on any platform with the key), not DPAPI.
func TestDPAPIProvidedKey(t *testing.T) {
	dir := testDir(t)
	key := bytes.Repeat([]byte{7}, KeySize)
	t.Setenv("AZID_TEST_WIN_KEY", base64.StdEncoding.EncodeToString(key))
	st, err := windowsStorage(&Options{Name: "msal.cache", Key: KeyFromEnv("AZID_TEST_WIN_KEY")}, dir, dpapiCodec{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(*file.Store); !ok {
		t.Fatalf("storage %T; want the lock-file store", st)
	}
	s := persist.TokenStore(persist.New(st, persist.Options{Name: "msal.cache"}))
	if err := s.Save(bg, keyOf("api://k/.default"), storedTok("keyed")); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "msal.cache"))
	if pt, err := jwe.Decrypt(key, raw); err != nil || !bytes.Contains(pt, []byte("keyed")) {
		t.Fatalf("not a JWE sealed with the provided key: %v", err)
	}
	if _, err := windowsStorage(&Options{Name: "msal.cache", Key: KeyFromEnv("AZID_TEST_NO_SUCH_VAR")}, dir, dpapiCodec{}); err == nil {
		t.Fatal("a missing key variable was accepted")
	}
}

// failingCodec stands for DPAPI on an account without a usable profile.
type failingCodec struct{}

func (failingCodec) Seal(context.Context, string, []byte) ([]byte, error) {
	return nil, errors.New("the profile is not loaded")
}
func (failingCodec) Open(context.Context, string, []byte) ([]byte, error) {
	return nil, errors.New("the profile is not loaded")
}

// TestDPAPIUnavailable: without DPAPI, New fails with the ways out unless
// AllowUnencryptedStorage is set; then a plain file, logged once.
func TestDPAPIUnavailable(t *testing.T) {
	dir := testDir(t)
	_, err := windowsStorage(&Options{Name: "msal.cache"}, dir, failingCodec{})
	if !errors.Is(err, ErrStorageUnavailable) {
		t.Fatalf("error %v; want ErrStorageUnavailable", err)
	}
	for _, want := range []string{"DPAPI", "profile is not loaded", "KeyFromFile", "AllowUnencryptedStorage"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	st, err := windowsStorage(&Options{Name: "msal.cache", AllowUnencryptedStorage: true, Logger: log}, dir, failingCodec{})
	if err != nil {
		t.Fatal(err)
	}
	s := persist.TokenStore(persist.New(st, persist.Options{Name: "msal.cache"}))
	if err := s.Save(bg, keyOf("api://u/.default"), storedTok("plain")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "msal.cache.unencrypted")
	if raw, err := os.ReadFile(p); err != nil || !bytes.Contains(raw, []byte(`"secret":"plain"`)) {
		t.Fatalf("unencrypted file: %v", err)
	}
	if strings.Count(logs.String(), "NOT encrypted") != 1 || !strings.Contains(logs.String(), "msal.cache.unencrypted") {
		t.Fatalf("log: %s", logs.String())
	}
	// DPAPI works here, so AllowUnencryptedStorage changes nothing.
	st, err = windowsStorage(&Options{Name: "msal.cache", AllowUnencryptedStorage: true, Logger: log}, dir, dpapiCodec{})
	if fs, ok := st.(*file.Store); err != nil || !ok || fs.Codec != (dpapiCodec{}) {
		t.Fatalf("storage %T %v; want the DPAPI file store", st, err)
	}
}

func TestDPAPIUnreadableWrapsErrUnreadable(t *testing.T) {
	_, err := dpapiCodec{}.Open(bg, "msal.cache", []byte("not a DPAPI blob"))
	if !errors.Is(err, ErrUnreadable) || !errors.Is(err, errDPAPIUnreadable) {
		t.Fatalf("Open error %v; want errDPAPIUnreadable wrapping ErrUnreadable", err)
	}
}

// TestPlatformStorage: New's storage is the DPAPI file store in
// %LOCALAPPDATA%\.IdentityService, named after the cache.
func TestPlatformStorage(t *testing.T) {
	s, err := platformStorage(&Options{Name: "azid-test.cache"})
	if err != nil {
		t.Fatal(err)
	}
	fs, ok := s.(*file.Store)
	if !ok || fs.Codec != (dpapiCodec{}) {
		t.Fatalf("storage %T; want the DPAPI file store", s)
	}
	if p := fs.Location("azid-test.cache"); !strings.HasSuffix(p, `\AppData\Local\.IdentityService\azid-test.cache`) {
		t.Fatalf("path %q; want %%LOCALAPPDATA%%\\.IdentityService\\azid-test.cache", p)
	}
	for _, n := range []string{`..\x`, "a/b", "..", `c:x`, strings.Repeat("x", 300)} {
		if _, err := New(&Options{Name: n}); err == nil {
			t.Errorf("name %q accepted", n)
		}
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
