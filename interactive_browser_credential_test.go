package azid

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/azid-go/azid/entratest"
	"github.com/chromedp/chromedp"
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

// headlessChromium starts a fresh headless Chromium for one test. It fails
// the test (never skips) when Chromium is missing.
func headlessChromium(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/chromium"); serr != nil {
			t.Fatalf("this test drives a real browser: chromium is not installed (Debian package chromium, /usr/bin/chromium): %v", err)
		}
		path = "/usr/bin/chromium"
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// The emulator's certificate comes from its own per-run CA.
		chromedp.IgnoreCertErrors,
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium (%s): %v", path, err)
	}
	return ctx
}

func TestInteractiveBrowserCredentialWithChromium(t *testing.T) {
	srv := newUserEmulator(t)
	browser := headlessChromium(t)
	type outcome struct{ hint, errorText, result string }
	var seen outcome
	signIn := func(password, action string) func(context.Context, string) error {
		return func(_ context.Context, authURL string) error {
			redirect := redirectOf(t, authURL)
			if u, _ := url.Parse(redirect); u.Hostname() != "localhost" || u.Port() == "" {
				return fmt.Errorf("redirect URI %q is not http://localhost:PORT", redirect)
			}
			// A forged redirect (another state) is refused, and the
			// listener keeps waiting for the real one.
			resp, err := http.Get(loopbackURL(redirect) + "?code=forged&state=not-the-state")
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "state") {
				return fmt.Errorf("forged redirect answered %d: %s", resp.StatusCode, body)
			}
			ctx, cancel := context.WithTimeout(browser, 30*time.Second)
			defer cancel()
			if err := chromedp.Do(ctx, chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.ID("username"))); err != nil {
				return err
			}
			if seen.hint, err = chromedp.Run(ctx, chromedp.Value(chromedp.ID("username"))); err != nil {
				return err
			}
			if password != entratest.DefaultPassword {
				// A wrong password first: the page says so and stays.
				if err := chromedp.Do(ctx,
					chromedp.SetValue(chromedp.ID("username"), entratest.DefaultUsername),
					chromedp.SetValue(chromedp.ID("password"), password),
					chromedp.Click(chromedp.ID("signin")),
					chromedp.WaitVisible(chromedp.ID("error"))); err != nil {
					return err
				}
				if seen.errorText, err = chromedp.Run(ctx, chromedp.Text(chromedp.ID("error"))); err != nil {
					return err
				}
			}
			if err := chromedp.Do(ctx,
				chromedp.WaitVisible(chromedp.ID("password")),
				chromedp.SetValue(chromedp.ID("username"), entratest.DefaultUsername),
				chromedp.SetValue(chromedp.ID("password"), entratest.DefaultPassword),
				chromedp.Click(chromedp.ID(action)),
				// The loopback listener's page.
				chromedp.WaitVisible(chromedp.ID("result"))); err != nil {
				return err
			}
			seen.result, err = chromedp.Run(ctx, chromedp.Text(chromedp.ID("result")))
			return err
		}
	}

	t.Run("sign in", func(t *testing.T) {
		seen = outcome{}
		cred := newBrowserCred(t, srv, &InteractiveBrowserCredentialOptions{LoginHint: "hint@entratest.example"}, signIn("wrong-password-123", "signin"))
		tok, err := cred.GetToken(context.Background(), storageScope)
		if err != nil {
			t.Fatal(err)
		}
		if c := mustClaims(t, srv, tok.Token); c["upn"] != entratest.DefaultUsername {
			t.Fatalf("claims = %v", c)
		}
		if seen.hint != "hint@entratest.example" || !strings.Contains(seen.errorText, "50126") || seen.result != "Authentication complete" {
			t.Fatalf("browser saw %+v", seen)
		}
		// Silent from now on: a new scope is one refresh token request.
		srv.ResetCounts()
		if _, err := cred.GetToken(context.Background(), vaultScope); err != nil {
			t.Fatal(err)
		}
		if g := grantCounts(srv); g["refresh_token"] != 1 || len(g) != 1 || srv.Requests(entratest.EndpointAuthorize) != 0 {
			t.Fatalf("grants = %v", g)
		}
	})

	t.Run("user cancels", func(t *testing.T) {
		seen = outcome{}
		cred := newBrowserCred(t, srv, nil, signIn(entratest.DefaultPassword, "deny"))
		_, err := cred.GetToken(context.Background(), storageScope)
		var afe *AuthenticationFailedError
		if !errors.As(err, &afe) || afe.ErrorCode != "access_denied" {
			t.Fatalf("GetToken = %v", err)
		}
		if seen.result != "Authentication failed" {
			t.Fatalf("browser saw %+v", seen)
		}
	})
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
