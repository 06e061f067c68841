package account

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestAccountLocks(t *testing.T) {
	var l AccountLocks
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k := UserKey{Authority: "login.example", ClientID: "Client", HomeAccountID: "UID.utid"}
	a, err := l.Lock(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	// The same account, spelt in another case, waits; a waiter leaves
	// when its context ends.
	gone, stop := context.WithCancel(ctx)
	stop()
	if _, err := l.Lock(gone, UserKey{Authority: "LOGIN.example", ClientID: "client", HomeAccountID: "uid.utid"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a second holder: %v", err)
	}
	// Another account does not wait.
	other, err := l.Lock(ctx, UserKey{Authority: "login.example", ClientID: "client", HomeAccountID: "other"})
	if err != nil {
		t.Fatal(err)
	}
	other.Unlock()

	// What a redemption learnt survives the store: a stale read of the
	// spent token gives its successor.
	spent, next := UserTokens{RefreshToken: "rt1"}, UserTokens{RefreshToken: "rt2", IDToken: "id"}
	a.Redeemed(spent, next)
	a.Unlock()
	a.Unlock() // a second call does nothing
	b, err := l.Lock(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Newest(spent); got != next {
		t.Fatalf("Newest(spent) = %+v", got)
	}
	if got := b.Newest(UserTokens{RefreshToken: "rt9"}); got.RefreshToken != "rt9" {
		t.Fatalf("a token another process stored was replaced: %+v", got)
	}
	// A chain: the store may still hold any earlier token.
	b.Redeemed(next, UserTokens{RefreshToken: "rt3"})
	if got := b.Newest(spent); got.RefreshToken != "rt3" {
		t.Fatalf("Newest(rt1) after two rotations = %+v", got)
	}
	// A new sign-in forgets them.
	b.Redeemed(UserTokens{}, UserTokens{RefreshToken: "new"})
	if got := b.Newest(spent); got != spent {
		t.Fatalf("after a sign-in, Newest(rt1) = %+v", got)
	}
	b.Unlock()
}

func TestAccountLocksSerialise(t *testing.T) {
	var l AccountLocks
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k := UserKey{HomeAccountID: "a"}
	var wg sync.WaitGroup
	inside, most := 0, 0
	var mu sync.Mutex
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := l.Lock(ctx, k)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			most = max(most, inside)
			mu.Unlock()
			runtime.Gosched() // let another goroutine try to get in
			mu.Lock()
			inside--
			mu.Unlock()
			h.Unlock()
		}()
	}
	wg.Wait()
	if most != 1 {
		t.Fatalf("%d holders at once", most)
	}
}
