package azid

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/entratest"
	"github.com/azid-go/azid/internal/account"
)

// The tests in this file run against an emulator that detects refresh-token
// reuse (newUserEmulator): a refresh token presented twice revokes the
// sign-in, so any overlap of two redemptions fails them, and the emulator's
// counters must show no reuse.

// scopesN returns n distinct scopes of n resources.
func scopesN(n int) []policy.TokenRequestOptions {
	out := make([]policy.TokenRequestOptions, n)
	for i := range out {
		out[i] = policy.TokenRequestOptions{Scopes: []string{fmt.Sprintf("api://rt-%d/.default", i)}}
	}
	return out
}

// getAll calls cred.GetToken for each request, callers goroutines each, all
// at once, and returns the first error.
func getAll(ctx context.Context, get func(context.Context, policy.TokenRequestOptions) error, reqs []policy.TokenRequestOptions, callers int) error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, len(reqs)*callers)
	for _, r := range reqs {
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if err := get(ctx, r); err != nil {
					errs <- err
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	return <-errs
}

func wantRefreshStats(t *testing.T, srv *entratest.Server, redeemed int) {
	t.Helper()
	if st := srv.RefreshTokenStats(); st != (entratest.RefreshTokenStats{Redeemed: redeemed}) {
		t.Fatalf("refresh tokens: %+v, want %d redeemed and none reused or revoked", st, redeemed)
	}
}

func TestConcurrentScopesNeverReuseARefreshToken(t *testing.T) {
	srv := newUserEmulator(t)
	a := &approver{srv: srv}
	cred := newDeviceCred(t, srv, a, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cred.Authenticate(ctx, &storageScope); err != nil {
		t.Fatal(err)
	}
	// 8 scopes, 10 callers each, twice: the second round is served from
	// the cache.
	const n = 8
	for range 2 {
		err := getAll(ctx, func(ctx context.Context, o policy.TokenRequestOptions) error {
			_, err := cred.GetToken(ctx, o)
			return err
		}, scopesN(n), 10)
		if err != nil {
			t.Fatal(err)
		}
	}
	if g := grantCounts(srv); g["refresh_token"] != n || g[deviceGrant] != 1 || a.count() != 1 {
		t.Fatalf("grants %v, prompts %d; want %d refreshes and 1 sign-in", g, a.count(), n)
	}
	wantRefreshStats(t, srv, n)
}

func TestCAEPlainAndClaimsAtOnceNeverReuseARefreshToken(t *testing.T) {
	srv := newUserEmulator(t)
	a := &approver{srv: srv}
	cred := newDeviceCred(t, srv, a, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cred.Authenticate(ctx, &graphScope); err != nil {
		t.Fatal(err)
	}
	challenge := func(i int) string {
		return fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, time.Now().Unix()+int64(i))
	}
	var reqs []policy.TokenRequestOptions
	for _, s := range []policy.TokenRequestOptions{storageScope, vaultScope} {
		reqs = append(reqs,
			policy.TokenRequestOptions{Scopes: s.Scopes},
			policy.TokenRequestOptions{Scopes: s.Scopes, EnableCAE: true},
			policy.TokenRequestOptions{Scopes: s.Scopes, EnableCAE: true, Claims: challenge(1)},
			policy.TokenRequestOptions{Scopes: s.Scopes, Claims: challenge(2)},
		)
	}
	err := getAll(ctx, func(ctx context.Context, o policy.TokenRequestOptions) error {
		_, err := cred.GetToken(ctx, o)
		return err
	}, reqs, 5)
	if err != nil {
		t.Fatal(err)
	}
	// Equal claims requests share one redemption; every distinct request
	// made at least one and at most one per caller.
	g := grantCounts(srv)
	if g[deviceGrant] != 1 || a.count() != 1 || g["refresh_token"] < len(reqs) || g["refresh_token"] > 4+4*5 {
		t.Fatalf("grants %v, prompts %d", g, a.count())
	}
	wantRefreshStats(t, srv, g["refresh_token"])
}

func TestUsernamePasswordConcurrentScopesSignInOnce(t *testing.T) {
	srv := newUserEmulator(t)
	cred, err := NewUsernamePasswordCredential("organizations", developerSignOnClientID, entratest.DefaultUsername, entratest.DefaultPassword,
		&UsernamePasswordCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Signed out: every caller queues for the one sign-in, then the other
	// scopes go through the refresh token one at a time.
	const n = 6
	err = getAll(ctx, func(ctx context.Context, o policy.TokenRequestOptions) error {
		_, err := cred.GetToken(ctx, o)
		return err
	}, scopesN(n), 5)
	if err != nil {
		t.Fatal(err)
	}
	g := grantCounts(srv)
	if g["password"] != 1 || g["refresh_token"] != n-1 {
		t.Fatalf("grants %v; want 1 password sign-in and %d refreshes", g, n-1)
	}
	wantRefreshStats(t, srv, n-1)
}

func TestCallersWaitingForAnInteractiveSignInLeaveWithTheirContext(t *testing.T) {
	srv := newUserEmulator(t)
	release := make(chan struct{})
	prompted := make(chan struct{})
	a := &approver{srv: srv}
	a.act = func(code string) error {
		close(prompted)
		<-release // the user takes their time
		return srv.ApproveDeviceCode(code, entratest.DefaultUsername)
	}
	cred := newDeviceCred(t, srv, a, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first := make(chan error, 1)
	go func() {
		_, err := cred.GetToken(ctx, storageScope)
		first <- err
	}()
	select {
	case <-prompted:
	case <-ctx.Done():
		t.Fatal("no prompt")
	}
	// The sign-in is in progress. Callers behind it, by GetToken and by
	// Authenticate, give up when their own context ends.
	gone, stop := context.WithCancel(ctx)
	stop()
	if _, err := cred.GetToken(gone, vaultScope); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetToken behind a sign-in: %v, want context.Canceled", err)
	}
	short, stop2 := context.WithTimeout(ctx, 10*time.Millisecond)
	defer stop2()
	if _, err := cred.Authenticate(short, &vaultScope); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Authenticate behind a sign-in: %v, want context.DeadlineExceeded", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// The sign-in that was waited for serves later callers silently.
	if _, err := cred.GetToken(ctx, vaultScope); err != nil {
		t.Fatal(err)
	}
	if a.count() != 1 {
		t.Fatalf("%d prompts, want 1", a.count())
	}
}

// lockFailingStore is a shared store whose lock is out of order (Redis
// unreachable for a moment): every lock fails, or with flaky every other.
type lockFailingStore struct {
	account.MemoryUserStore
	flaky bool
	calls atomic.Int64
	locks account.AccountLocks
}

func (s *lockFailingStore) LockUser(ctx context.Context, k account.UserKey) (account.UserLock, error) {
	if !s.flaky || s.calls.Add(1)%2 == 0 {
		return nil, errors.New("the lock server is unreachable")
	}
	l, err := s.locks.Lock(ctx, k)
	if err != nil {
		return nil, err
	}
	return &memUserLock{s: s, k: k, l: l}, nil
}

type memUserLock struct {
	s *lockFailingStore
	k account.UserKey
	l *account.AccountLock
}

func (m *memUserLock) Load(ctx context.Context) (account.UserTokens, bool, error) {
	return m.s.LoadUser(ctx, m.k)
}
func (m *memUserLock) Save(ctx context.Context, t account.UserTokens) error {
	return m.s.SaveUser(ctx, m.k, t)
}
func (m *memUserLock) Unlock() { m.l.Unlock() }

func TestRedemptionsStayOneAtATimeWhenTheStoreCannotLock(t *testing.T) {
	for _, flaky := range []bool{false, true} {
		t.Run(fmt.Sprint("flaky=", flaky), func(t *testing.T) { testStoreCannotLock(t, flaky) })
	}
}

func testStoreCannotLock(t *testing.T, flaky bool) {
	srv := newUserEmulator(t)
	a := &approver{srv: srv}
	store := &lockFailingStore{flaky: flaky}
	cred := newDeviceCred(t, srv, a, func(o *publicOptions) { o.users = store })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cred.Authenticate(ctx, &storageScope); err != nil {
		t.Fatal(err)
	}
	const n = 6
	err := getAll(ctx, func(ctx context.Context, o policy.TokenRequestOptions) error {
		_, err := cred.GetToken(ctx, o)
		return err
	}, scopesN(n), 5)
	if err != nil {
		t.Fatal(err)
	}
	wantRefreshStats(t, srv, n)
	// The store got the newest refresh token after all.
	rec := cred.client.record.Load()
	ut, ok, _ := store.LoadUser(ctx, cred.client.userKey(rec.HomeAccountID))
	if !ok {
		t.Fatal("no refresh token stored")
	}
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"api://last/.default"}}); err != nil {
		t.Fatal(err)
	}
	if now, _, _ := store.LoadUser(ctx, cred.client.userKey(rec.HomeAccountID)); now.RefreshToken == ut.RefreshToken {
		t.Fatal("the last rotation was not stored")
	}
	wantRefreshStats(t, srv, n+1)
}
