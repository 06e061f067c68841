package azid

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/azid-go/azid/entratest"
)

// newBrowserCred builds an InteractiveBrowserCredential against srv with
// the given opener.
func newBrowserCred(t *testing.T, srv *entratest.Server, o *InteractiveBrowserCredentialOptions, open func(context.Context, string) error) *InteractiveBrowserCredential {
	t.Helper()
	if o == nil {
		o = &InteractiveBrowserCredentialOptions{}
	}
	o.ClientOptions, o.DisableInstanceDiscovery = emulatorOptions(srv), true
	cred, err := newInteractiveBrowserCredential(o, open)
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// redirectOf returns the redirect_uri of an authorize URL.
func redirectOf(t *testing.T, authURL string) string {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("redirect_uri")
}

// loopbackURL rewrites a http://localhost redirect URI to 127.0.0.1, for
// Go's HTTP client in tests.
func loopbackURL(uri string) string {
	return strings.Replace(uri, "//localhost:", "//127.0.0.1:", 1)
}

func TestInteractiveBrowserCredentialFixedRedirectPort(t *testing.T) {
	srv := newUserEmulator(t)
	if err := srv.SetAutoApprove(secondUsername); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	redirect := fmt.Sprintf("http://localhost:%d", port)
	// Without a browser: follow the emulator's redirect with Go's client.
	open := func(_ context.Context, authURL string) error {
		if got := redirectOf(t, authURL); got != redirect {
			return fmt.Errorf("redirect_uri %q, want %q", got, redirect)
		}
		u, _ := url.Parse(authURL)
		q := u.Query()
		if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 32 {
			return fmt.Errorf("authorize request lacks PKCE S256 or a random state: %v", q)
		}
		c := *srv.Client()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Get(authURL)
		if err != nil {
			return err
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, redirect+"?") && !strings.HasPrefix(loc, redirect+"/?") {
			return fmt.Errorf("authorize answered %d, Location %q", resp.StatusCode, loc)
		}
		// The browser's part: deliver the redirect, in the background as a
		// browser would (the listener answers after the opener returns).
		go func() {
			if resp, err := http.Get(loopbackURL(loc)); err == nil {
				resp.Body.Close()
			}
		}()
		return nil
	}
	cred := newBrowserCred(t, srv, &InteractiveBrowserCredentialOptions{RedirectURL: redirect}, open)
	rec, err := cred.Authenticate(context.Background(), &storageScope)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Username != secondUsername {
		t.Fatalf("record = %+v", rec)
	}
	// The listener is closed after the one redirect.
	if _, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil {
		t.Fatal("the redirect listener still answers")
	}
}

func TestInteractiveBrowserCredentialContextAndTimeoutCloseTheListener(t *testing.T) {
	srv := newUserEmulator(t)
	var redirect string
	ctx, cancel := context.WithCancel(context.Background())
	cred := newBrowserCred(t, srv, nil, func(_ context.Context, authURL string) error {
		redirect = redirectOf(t, authURL)
		cancel() // the user gives up
		return nil
	})
	if _, err := cred.GetToken(ctx, storageScope); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetToken = %v", err)
	}
	if _, err := http.Get(loopbackURL(redirect) + "?code=x&state=y"); err == nil {
		t.Fatal("the redirect listener is still open after cancellation")
	}
	cred = newBrowserCred(t, srv, nil, func(context.Context, string) error { return nil })
	cred.client.flow.(*browserFlow).timeout = 10 * time.Millisecond
	if _, err := cred.GetToken(context.Background(), storageScope); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GetToken after the timeout = %v", err)
	}
	cred = newBrowserCred(t, srv, nil, func(context.Context, string) error { return errors.New("no display") })
	if _, err := cred.GetToken(context.Background(), storageScope); err == nil || !strings.Contains(err.Error(), "DeviceCodeCredential") {
		t.Fatalf("GetToken without a browser = %v", err)
	}
	if _, err := NewInteractiveBrowserCredential(&InteractiveBrowserCredentialOptions{RedirectURL: "https://example.com/cb"}); err == nil {
		t.Fatal("a non-loopback RedirectURL was accepted")
	}
}
