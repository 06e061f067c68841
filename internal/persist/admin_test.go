package persist

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azid-go/azid/internal/account"
	"github.com/azid-go/azid/internal/persist/file"
	"github.com/azid-go/azid/internal/tokencache"
)

// seed stores, for two users of client "app" and one of client "other",
// refresh tokens and access tokens, plus an app token and a CAE token.
func seed(t *testing.T, c Cache) {
	t.Helper()
	us := UserStore(c)
	for _, u := range []struct{ home, client, name string }{
		{"u1.t", "app", "one@example"}, {"u2.t", "app", "two@example"}, {"u1.t", "other", "one@example"},
	} {
		k := account.UserKey{Authority: "login.example", ClientID: u.client, HomeAccountID: u.home}
		err := us.SaveUser(ctx, k, account.UserTokens{RefreshToken: "rt-" + u.home + u.client, IDToken: "idt",
			Account: account.Account{HomeAccountID: u.home, Realm: "t", Username: u.name}})
		if err != nil {
			t.Fatal(err)
		}
		tk := tokencache.Key{Authority: "login.example", ClientID: u.client, TenantID: "t", Account: u.home, Scopes: []string{"api://x/.default"}}
		if err := TokenStore(c).Save(ctx, tk, stored("at-"+u.home+u.client)); err != nil {
			t.Fatal(err)
		}
	}
	if err := TokenStore(c).Save(ctx, key("api://app/.default"), stored("at-app")); err != nil {
		t.Fatal(err)
	}
	cae := key("api://cae/.default")
	cae.CAE = true
	if err := TokenStore(c).Save(ctx, cae, stored("at-cae")); err != nil {
		t.Fatal(err)
	}
}

func TestListNeverShowsSecrets(t *testing.T) {
	c, _ := newFileCache(t, t.TempDir(), nil)
	seed(t, c)
	l, err := List(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Accounts) != 2 || l.Accounts[0].Username != "one@example" || !slices.Equal(l.Accounts[0].ClientIDs, []string{"app", "other"}) ||
		l.Accounts[1].Username != "two@example" || !slices.Equal(l.Accounts[1].ClientIDs, []string{"app"}) {
		t.Fatalf("accounts = %+v", l.Accounts)
	}
	if len(l.AccessTokens) != 5 {
		t.Fatalf("%d access tokens: %+v", len(l.AccessTokens), l.AccessTokens)
	}
	cae := 0
	for _, tok := range l.AccessTokens {
		if tok.CAE {
			cae++
			if tok.Scopes[0] != "api://cae/.default" {
				t.Errorf("CAE token %+v", tok)
			}
		}
		if tok.ExpiresOn.IsZero() || tok.Realm == "" {
			t.Errorf("token %+v", tok)
		}
	}
	if cae != 1 {
		t.Errorf("%d CAE tokens", cae)
	}
	if s := fmt.Sprintf("%+v", l); strings.Contains(s, "rt-") || strings.Contains(s, "at-") || strings.Contains(s, "idt") {
		t.Fatalf("the listing holds a secret: %s", s)
	}
}

// Forget removes one account's entries for one client, and the account,
// leaving other users' and other clients' tokens.
func TestForget(t *testing.T) {
	dir := t.TempDir()
	c, _ := newFileCache(t, dir, nil)
	seed(t, c)
	n, err := Forget(ctx, c, AccountKey{HomeAccountID: "U1.T", Environment: "LOGIN.example", ClientID: "app"})
	if err != nil {
		t.Fatal(err)
	}
	// The refresh token, id token and access token of (u1, app), and u1's
	// account entry.
	if n != 4 {
		t.Errorf("Forget deleted %d entries, want 4", n)
	}
	other, _ := newFileCache(t, dir, nil) // a fresh process's view
	if _, ok, _ := UserStore(other).LoadUser(ctx, account.UserKey{Authority: "login.example", ClientID: "app", HomeAccountID: "u1.t"}); ok {
		t.Error("u1's refresh token for app survived")
	}
	if got, ok, _ := UserStore(other).LoadUser(ctx, account.UserKey{Authority: "login.example", ClientID: "app", HomeAccountID: "u2.t"}); !ok || got.RefreshToken != "rt-u2.tapp" {
		t.Error("u2's refresh token was deleted")
	}
	if got, ok, _ := UserStore(other).LoadUser(ctx, account.UserKey{Authority: "login.example", ClientID: "other", HomeAccountID: "u1.t"}); !ok || got.RefreshToken != "rt-u1.tother" {
		t.Error("another client's refresh token for u1 was deleted")
	}
	l, err := List(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range l.AccessTokens {
		if tok.HomeAccountID == "u1.t" && tok.ClientID == "app" {
			t.Errorf("u1's access token for app survived: %+v", tok)
		}
	}
	if len(l.AccessTokens) != 4 {
		t.Errorf("%d access tokens left, want 4", len(l.AccessTokens))
	}
}

func TestClear(t *testing.T) {
	dir := t.TempDir()
	c, _ := newFileCache(t, dir, nil)
	seed(t, c)
	if err := Clear(ctx, c); err != nil {
		t.Fatal(err)
	}
	other, _ := newFileCache(t, dir, nil)
	l, err := List(ctx, other)
	if err != nil || len(l.Accounts) != 0 || len(l.AccessTokens) != 0 {
		t.Fatalf("after Clear: %+v, %v", l, err)
	}
	// The engine's view agrees: nothing to load.
	if _, ok, _ := TokenStore(other).Load(ctx, key("api://app/.default")); ok {
		t.Error("a token survived Clear")
	}
}

// An unreadable file: List reports it, Clear replaces it.
func TestClearReplacesUnreadable(t *testing.T) {
	dir := t.TempDir()
	c, _ := newFileCache(t, dir, nil)
	seed(t, c)
	fs := &file.Store{Dir: dir, Unreadable: ErrUnreadable}
	if err := fs.Write(ctx, "test.cache", []byte("{not json"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	other, _ := newFileCache(t, dir, nil)
	if _, err := List(ctx, other); !errors.Is(err, ErrUnreadable) {
		t.Fatalf("List of a damaged file: %v", err)
	}
	if err := Clear(ctx, other); err != nil {
		t.Fatal(err)
	}
	if l, err := List(ctx, other); err != nil || len(l.AccessTokens) != 0 {
		t.Fatalf("after Clear: %+v, %v", l, err)
	}
}

func TestAdminOfPartitionedStorage(t *testing.T) {
	c := New(&partitioned{Store: &file.Store{Dir: t.TempDir(), Unreadable: ErrUnreadable}}, Options{})
	if _, err := List(ctx, c); !errors.Is(err, ErrPartitioned) {
		t.Errorf("List: %v", err)
	}
	if err := Clear(ctx, c); !errors.Is(err, ErrPartitioned) {
		t.Errorf("Clear: %v", err)
	}
	if _, err := Forget(ctx, c, AccountKey{}); !errors.Is(err, ErrPartitioned) {
		t.Errorf("Forget: %v", err)
	}
	// The zero Cache holds nothing.
	if l, err := List(ctx, Cache{}); err != nil || len(l.AccessTokens) != 0 {
		t.Errorf("List(zero) = %+v, %v", l, err)
	}
}
