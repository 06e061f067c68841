//go:build unix

package interop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/azid-go/azid/entratest"
	"github.com/chromedp/chromedp"
)

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
		chromedp.NoSandbox, // needed as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		// No internet here: without these Chromium keeps retrying.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// The emulator's certificate comes from its own per-run CA.
		chromedp.IgnoreCertErrors,
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium (%s): %v", path, err)
	}
	return bctx
}

// fakeXDGOpen puts an xdg-open first on PATH that hands the URL it is asked
// to open to the test, and returns the URLs as they come. azidentity's
// InteractiveBrowserCredential has no hook for opening the browser: MSAL
// calls github.com/pkg/browser, which on Linux runs xdg-open. This is how
// the test gets the sign-in URL to its own browser while azidentity stays
// unmodified. It sets PATH, so the test cannot run in parallel.
func fakeXDGOpen(t *testing.T) <-chan string {
	t.Helper()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "urls")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Opened read-write, the FIFO always has a reader, so the script's
	// write never blocks and this open does not wait for a writer.
	f, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nprintf '%s\\n' \"$1\" > " + fifo + "\n"
	if err := os.WriteFile(filepath.Join(dir, "xdg-open"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	urls := make(chan string, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			urls <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		f.Close() // ends the scanner
		<-done
	})
	return urls
}

// InteractiveBrowserCredential with a real browser: azidentity opens the
// emulator's sign-in page (through xdg-open, here the test's), headless
// Chromium fills in the form, the emulator redirects to MSAL's loopback
// listener with a code, and MSAL redeems it with its PKCE verifier
// (authorization_code grant). Then a token for another scope comes
// silently from the refresh token, without the browser.
func TestAzidentityInteractiveBrowser(t *testing.T) {
	srv := newEmulator(t, nil)
	urls := fakeXDGOpen(t)
	browser := headlessChromium(t)

	cred, err := azidentity.NewInteractiveBrowserCredential(&azidentity.InteractiveBrowserCredentialOptions{
		ClientOptions: direct(srv), DisableInstanceDiscovery: true, TenantID: entratest.DefaultTenantID,
		LoginHint: entratest.DefaultUsername,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	var hint string
	signedIn := driveSignIn(c, browser, srv, urls, "signin", &hint)
	tok, err := cred.GetToken(c, storageScope)
	if berr := <-signedIn; berr != nil {
		t.Fatalf("driving Chromium: %v", berr)
	}
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	if hint != entratest.DefaultUsername {
		t.Errorf("the sign-in page had username %q, want the login hint", hint)
	}
	wantClaims(t, srv, tok.Token, map[string]any{"upn": entratest.DefaultUsername, "aud": "https://storage.azure.com", "appid": entratest.AzureCLIClientID})
	if g := grants(srv); g["authorization_code"] != 1 || len(g) != 1 {
		t.Fatalf("grants = %v, want one authorization_code", g)
	}
	if srv.Requests(entratest.EndpointAuthorize) < 2 {
		t.Errorf("authorize requests = %d, want the page and the form post", srv.Requests(entratest.EndpointAuthorize))
	}

	srv.ResetCounts()
	if _, err := cred.GetToken(c, vaultScope); err != nil {
		t.Fatal(err)
	}
	if g := grants(srv); g["refresh_token"] != 1 || len(g) != 1 || srv.Requests(entratest.EndpointAuthorize) != 0 {
		t.Fatalf("silent GetToken: grants %v, authorize requests %d", g, srv.Requests(entratest.EndpointAuthorize))
	}
	select {
	case u := <-urls:
		t.Errorf("the browser was opened again for %s", u)
	default:
	}

	// The user cancels on the sign-in page: the error reaches MSAL by
	// form_post and azidentity reports it; no token is requested.
	srv.ResetCounts()
	cred, err = azidentity.NewInteractiveBrowserCredential(&azidentity.InteractiveBrowserCredentialOptions{
		ClientOptions: direct(srv), DisableInstanceDiscovery: true, TenantID: entratest.DefaultTenantID,
	})
	if err != nil {
		t.Fatal(err)
	}
	signedIn = driveSignIn(c, browser, srv, urls, "deny", &hint)
	_, err = cred.GetToken(c, storageScope)
	if berr := <-signedIn; berr != nil {
		t.Fatalf("driving Chromium: %v", berr)
	}
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) || !strings.Contains(err.Error(), "AADSTS65004") {
		t.Fatalf("GetToken after cancel = %v (%T), want an AuthenticationFailedError with AADSTS65004", err, err)
	}
	if n := srv.Requests(entratest.EndpointToken); n != 0 {
		t.Errorf("%d token requests after the user cancelled", n)
	}
}

// driveSignIn waits for azidentity to open the sign-in URL, checks it, and
// has Chromium sign the default user in (action "signin") or cancel
// ("deny"). The username the page showed is stored in hint. Its result
// arrives on the returned channel.
func driveSignIn(c context.Context, browser context.Context, srv *entratest.Server, urls <-chan string, action string, hint *string) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			var authURL string
			select {
			case authURL = <-urls:
			case <-c.Done():
				return c.Err()
			}
			if !strings.HasPrefix(authURL, srv.URL()+"/"+entratest.DefaultTenantID+"/oauth2/v2.0/authorize?") ||
				!strings.Contains(authURL, "code_challenge_method=S256") || !strings.Contains(authURL, "response_mode=form_post") {
				return fmt.Errorf("azidentity opened %q, want the emulator's authorize endpoint with PKCE and form_post", authURL)
			}
			// The browser's own context (its tab), bounded like the test's.
			b, cancel := context.WithTimeout(browser, time.Minute)
			defer cancel()
			if err := chromedp.Do(b, chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.ID("password"))); err != nil {
				return fmt.Errorf("the sign-in page: %w", err)
			}
			var err error
			if *hint, err = chromedp.Run(b, chromedp.Value(chromedp.ID("username"))); err != nil {
				return err
			}
			// The emulator's form_post page posts to MSAL's loopback
			// listener, which answers with its own page; WaitReady on it
			// proves the browser got there.
			return chromedp.Do(b,
				chromedp.SetValue(chromedp.ID("username"), entratest.DefaultUsername),
				chromedp.SetValue(chromedp.ID("password"), entratest.DefaultPassword),
				chromedp.Click(chromedp.ID(action)),
				chromedp.WaitReady("body"),
			)
		}()
	}()
	return done
}
