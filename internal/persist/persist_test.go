package persist

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/azid-go/azid/internal/account"
	"github.com/azid-go/azid/internal/persist/file"
	"github.com/azid-go/azid/internal/tokencache"
)

// countingStorage counts reads of a file.Store.
type countingStorage struct {
	*file.Store
	reads atomic.Int64
}

func (c *countingStorage) Read(ctx context.Context, p string) ([]byte, error) {
	c.reads.Add(1)
	return c.Store.Read(ctx, p)
}

func newFileCache(t *testing.T, dir string, log *slog.Logger) (Cache, *countingStorage) {
	t.Helper()
	s := &countingStorage{Store: &file.Store{Dir: dir, Unreadable: ErrUnreadable}}
	return New(s, Options{Name: "test.cache", Logger: log}), s
}

var ctx = context.Background()

func key(scope string) tokencache.Key {
	return tokencache.Key{Authority: "login.example", ClientID: "client", TenantID: "tenant", Scopes: []string{scope}}
}

func stored(tok string) tokencache.Stored {
	now := time.Now().Truncate(time.Second)
	return tokencache.Stored{AccessToken: tok, CachedAt: now, ExpiresOn: now.Add(time.Hour), RefreshOn: now.Add(30 * time.Minute)}
}

func TestSaveLoadAcrossInstances(t *testing.T) {
	dir := t.TempDir()
	a, _ := newFileCache(t, dir, nil)
	b, bs := newFileCache(t, dir, nil)
	want := stored("tok-a")
	if err := TokenStore(a).Save(ctx, key("api://x/.default"), want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := TokenStore(b).Load(ctx, key("api://x/.default"))
	if err != nil || !ok || got != want {
		t.Fatalf("Load = %+v %v %v, want %+v", got, ok, err, want)
	}
	// Unchanged file: the version matches, nothing is re-read.
	for range 10 {
		if _, ok, _ := TokenStore(b).Load(ctx, key("api://other/.default")); ok {
			t.Fatal("found a token never stored")
		}
	}
	if n := bs.reads.Load(); n != 1 {
		t.Fatalf("%d reads for an unchanged file, want 1", n)
	}
	// A change by another writer is seen.
	if err := TokenStore(a).Save(ctx, key("api://other/.default"), stored("tok-b")); err != nil {
		t.Fatal(err)
	}
	if got, ok, _ := TokenStore(b).Load(ctx, key("api://other/.default")); !ok || got.AccessToken != "tok-b" {
		t.Fatalf("change not seen: %+v %v", got, ok)
	}
	fi, err := os.Stat(filepath.Join(dir, "test.cache"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v %v", fi.Mode(), err)
	}
}

// Concurrent writers through separate instances lose nothing.
func TestConcurrentWritersLoseNothing(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	const writers, each = 4, 25
	for w := range writers {
		c, _ := newFileCache(t, dir, nil)
		wg.Go(func() {
			for i := range each {
				if err := TokenStore(c).Save(ctx, key(scopeN(w, i)), stored("t")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	c, _ := newFileCache(t, dir, nil)
	for w := range writers {
		for i := range each {
			if _, ok, err := TokenStore(c).Load(ctx, key(scopeN(w, i))); !ok || err != nil {
				t.Fatalf("token %d/%d lost (%v)", w, i, err)
			}
		}
	}
}

func scopeN(w, i int) string {
	return "api://w" + string(rune('a'+w)) + "/" + strings.Repeat("x", i) + ".default"
}

func TestCAETokensInSibling(t *testing.T) {
	dir := t.TempDir()
	c, _ := newFileCache(t, dir, nil)
	k := key("api://x/.default")
	k.CAE = true
	if err := TokenStore(c).Save(ctx, k, stored("cae")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "test.cache.cae")); err != nil {
		t.Fatal("no CAE sibling file:", err)
	}
	if _, ok, _ := TokenStore(c).Load(ctx, key("api://x/.default")); ok {
		t.Fatal("a CAE token served for a non-CAE key")
	}
	if got, ok, _ := TokenStore(c).Load(ctx, k); !ok || got.AccessToken != "cae" {
		t.Fatal("CAE token not found")
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// Bad entries are skipped and logged with the path; an unreadable file is
// an ErrUnreadable on load and replaced on the next save.
func TestDamagedData(t *testing.T) {
	dir := t.TempDir()
	var logs syncBuf
	log := slog.New(slog.NewTextHandler(&logs, nil))
	path := filepath.Join(dir, "test.cache")
	os.WriteFile(path, []byte(`{"AccessToken":{"bad":{"secret":5},"good":{"environment":"login.example","client_id":"client","realm":"tenant","target":"api://x/.default","secret":"kept","credential_type":"AccessToken","cached_at":"1","expires_on":"9999999999"}},"Mine":{"x":1}}`), 0o600)
	c, _ := newFileCache(t, dir, log)
	if got, ok, err := TokenStore(c).Load(ctx, key("api://x/.default")); !ok || err != nil || got.AccessToken != "kept" {
		t.Fatalf("good entry: %+v %v %v", got, ok, err)
	}
	if !strings.Contains(logs.String(), path) || !strings.Contains(logs.String(), `entry=bad`) {
		t.Fatalf("bad entry not logged with the path: %s", logs.String())
	}
	if err := TokenStore(c).Save(ctx, key("api://y/.default"), stored("new")); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), `"Mine":{"x":1}`) || strings.Contains(string(data), `"bad"`) || !strings.Contains(string(data), "kept") {
		t.Fatalf("rewrite: %s", data)
	}

	os.WriteFile(path, []byte("not json at all"), 0o600)
	c2, _ := newFileCache(t, dir, log)
	if _, _, err := TokenStore(c2).Load(ctx, key("api://x/.default")); !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), path) {
		t.Fatalf("corrupt file: %v", err)
	}
	if err := TokenStore(c2).Save(ctx, key("api://z/.default"), stored("z")); err != nil {
		t.Fatal("save over a corrupt file:", err)
	}
	if got, ok, err := TokenStore(c2).Load(ctx, key("api://z/.default")); !ok || err != nil || got.AccessToken != "z" {
		t.Fatal("corrupt file not replaced")
	}
}

func TestDeleteByValue(t *testing.T) {
	c, _ := newFileCache(t, t.TempDir(), nil)
	ts := TokenStore(c).(tokencache.DeletingStore)
	k := key("api://x/.default")
	ts.Save(ctx, k, stored("old"))
	ts.Delete(ctx, k, "other")
	if _, ok, _ := ts.Load(ctx, k); !ok {
		t.Fatal("deleted a token that was not the rejected one")
	}
	ts.Delete(ctx, k, "old")
	if _, ok, _ := ts.Load(ctx, k); ok {
		t.Fatal("rejected token still stored")
	}
}

func TestUserStore(t *testing.T) {
	dir := t.TempDir()
	a, _ := newFileCache(t, dir, nil)
	b, _ := newFileCache(t, dir, nil)
	k := account.UserKey{Authority: "login.example", ClientID: "client", HomeAccountID: "uid.utid"}
	want := account.UserTokens{
		Account:      account.Account{HomeAccountID: "uid.utid", Environment: "login.example", Realm: "utid", LocalAccountID: "uid", Username: "u@example.com"},
		RefreshToken: "rt", FamilyID: "1", IDToken: "id.token.sig",
	}
	if err := UserStore(a).SaveUser(ctx, k, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := UserStore(b).LoadUser(ctx, k)
	if err != nil || !ok || got != want {
		t.Fatalf("LoadUser = %+v %v %v", got, ok, err)
	}
	if err := UserStore(b).DeleteUser(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := UserStore(a).LoadUser(ctx, k); ok {
		t.Fatal("user not deleted")
	}
	if UserStore(Cache{}) != nil || TokenStore(Cache{}) != nil || (Cache{}).Enabled() {
		t.Fatal("zero Cache is not 'no cache'")
	}
}

// fakeLocker counts lock holders per partition for a partitioned storage.
type partitioned struct {
	*file.Store
	mu     sync.Mutex
	holder map[string]bool
	locks  int
}

func (p *partitioned) Partition(k PartitionKey) string {
	return "part-" + strings.NewReplacer(":", "_", "/", "_").Replace(k.TenantID+"-"+k.Resource)
}

func (p *partitioned) Lock(ctx context.Context, name string) (func(), error) {
	return p.Store.Lock(ctx, name)
}

func TestPartitionedLocking(t *testing.T) {
	s := &partitioned{Store: &file.Store{Dir: t.TempDir(), Unreadable: ErrUnreadable}}
	c := New(s, Options{})
	ls := TokenStore(c).(tokencache.LockingStore)
	k := key("https://vault.azure.net/.default")
	held, err := ls.Lock(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	// Save under the held lock does not deadlock on it.
	if err := held.Save(ctx, stored("v")); err != nil {
		t.Fatal(err)
	}
	// Another caller waits for the lock.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := ls.Lock(short, k); err == nil {
		t.Fatal("lock taken twice")
	}
	held.Unlock()
	if _, err := os.Stat(filepath.Join(s.Dir, "part-tenant-https___vault.azure.net")); err != nil {
		t.Fatal("partition file:", err)
	}
}
