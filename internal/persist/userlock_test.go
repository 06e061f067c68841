package persist

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azid-go/azid/internal/account"
	"github.com/azid-go/azid/internal/persist/file"
	"github.com/azid-go/azid/internal/tokencache"
)

var userKey = account.UserKey{Authority: "login.example", ClientID: "client", HomeAccountID: "uid.utid"}

func userTokens(rt string) account.UserTokens {
	return account.UserTokens{Account: account.Account{HomeAccountID: "uid.utid", Environment: "login.example", Realm: "utid"}, RefreshToken: rt}
}

func lockUser(t *testing.T, c Cache, ctx context.Context, held tokencache.StoreLock) account.UserLock {
	t.Helper()
	l, err := UserStore(c).(account.LockingUserStore).LockUser(ctx, userKey, held)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Two caches over one directory stand for two processes: the lock file
// keeps their redemptions apart, and each reads what the other stored.
func TestLockUserAcrossInstances(t *testing.T) {
	dir := t.TempDir()
	a, _ := newFileCache(t, dir, nil)
	b, _ := newFileCache(t, dir, nil)
	if err := UserStore(a).SaveUser(ctx, userKey, userTokens("rt1")); err != nil {
		t.Fatal(err)
	}
	// b has read rt1 before a's redemption.
	if got, ok, err := UserStore(b).LoadUser(ctx, userKey); err != nil || !ok || got.RefreshToken != "rt1" {
		t.Fatalf("b: %+v %v %v", got, ok, err)
	}
	la := lockUser(t, a, ctx, nil)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := UserStore(b).(account.LockingUserStore).LockUser(short, userKey, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("b locked the account while a held it: %v", err)
	}
	// Another instance in a's own process waits on a's queue, and leaves
	// with its context too.
	short2, cancel2 := context.WithCancel(ctx)
	cancel2()
	if _, err := UserStore(a).(account.LockingUserStore).LockUser(short2, userKey, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("a second lock in one process: %v", err)
	}
	if got, _, _ := la.Load(ctx); got.RefreshToken != "rt1" {
		t.Fatalf("a under the lock: %q", got.RefreshToken)
	}
	if err := la.Save(ctx, userTokens("rt2")); err != nil {
		t.Fatal(err)
	}
	la.Unlock()
	la.Unlock() // a second call does nothing
	lb := lockUser(t, b, ctx, nil)
	defer lb.Unlock()
	if got, ok, err := lb.Load(ctx); err != nil || !ok || got.RefreshToken != "rt2" {
		t.Fatalf("b under the lock: %+v %v %v; want the rotated rt2", got, ok, err)
	}
}

// Many redemptions from two instances: each reads the value the previous
// one stored, so no value is ever read twice.
func TestLockUserSerialisesRedemptions(t *testing.T) {
	dir := t.TempDir()
	a, _ := newFileCache(t, dir, nil)
	b, _ := newFileCache(t, dir, nil)
	if err := UserStore(a).SaveUser(ctx, userKey, userTokens("rt-0")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	const n = 40
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := UserStore(c).(account.LockingUserStore).LockUser(ctx, userKey, nil)
			if err != nil {
				errs <- err
				return
			}
			defer l.Unlock()
			cur, _, err := l.Load(ctx)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			dup := seen[cur.RefreshToken]
			seen[cur.RefreshToken] = true
			mu.Unlock()
			if dup {
				errs <- fmt.Errorf("%s was read by two redemptions", cur.RefreshToken)
				return
			}
			v, _ := strconv.Atoi(strings.TrimPrefix(cur.RefreshToken, "rt-"))
			if err := l.Save(ctx, userTokens(fmt.Sprint("rt-", v+1))); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got, _, _ := UserStore(b).LoadUser(ctx, userKey); got.RefreshToken != fmt.Sprint("rt-", n) {
		t.Fatalf("final refresh token %q, want rt-%d", got.RefreshToken, n)
	}
}

// accountPartitioned gives each account its own partition, as Redis does,
// so the engine's fleet lock for a user's access token is the account's
// lock too.
type accountPartitioned struct{ *file.Store }

func (p accountPartitioned) Partition(k PartitionKey) string {
	return "user-" + strings.ReplaceAll(k.HomeAccountID, ".", "_")
}

func TestLockUserUnderTheEnginesFleetLock(t *testing.T) {
	c := New(accountPartitioned{&file.Store{Dir: t.TempDir(), Unreadable: ErrUnreadable}}, Options{})
	ts := TokenStore(c).(tokencache.LockingStore)
	k := tokencache.Key{Authority: "login.example", ClientID: "client", TenantID: "utid", Scopes: []string{"https://vault.azure.net/.default"}, Account: "uid.utid"}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	held, err := ts.Lock(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Unlock()
	// The same partition's lock is already held by this acquisition: the
	// account lock uses it instead of waiting for itself.
	l := lockUser(t, c, ctx, held)
	if err := l.Save(ctx, userTokens("rt")); err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	// Anyone else waits for the fleet lock.
	short, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	if _, err := UserStore(c).(account.LockingUserStore).LockUser(short, userKey, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the account was locked while its partition was held: %v", err)
	}
}

// stuckVersion is a storage whose version never changes, as a file's can
// repeat when a same-size rewrite reuses the inode within the clock's
// granularity.
type stuckVersion struct{ *file.Store }

func (stuckVersion) Version(context.Context, string) (string, error) { return "v1", nil }

func TestLockUserReadsPastAnUnchangedVersion(t *testing.T) {
	dir := t.TempDir()
	a, _ := newFileCache(t, dir, nil)
	b := New(stuckVersion{&file.Store{Dir: dir, Unreadable: ErrUnreadable}}, Options{Name: "test.cache"})
	if err := UserStore(a).SaveUser(ctx, userKey, userTokens("rt1")); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := UserStore(b).LoadUser(ctx, userKey); got.RefreshToken != "rt1" {
		t.Fatalf("b: %q", got.RefreshToken)
	}
	if err := UserStore(a).SaveUser(ctx, userKey, userTokens("rt2")); err != nil {
		t.Fatal(err)
	}
	l := lockUser(t, b, ctx, nil)
	defer l.Unlock()
	if got, _, _ := l.Load(ctx); got.RefreshToken != "rt2" {
		t.Fatalf("under the lock b read %q, want rt2", got.RefreshToken)
	}
}
