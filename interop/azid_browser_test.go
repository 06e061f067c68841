//go:build unix

package interop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
	"github.com/chromedp/chromedp"
)

// azid's InteractiveBrowserCredential with a real browser, through its
// public API only (the browser is opened with xdg-open, here the test's):
// a forged redirect is refused while the listener keeps waiting, a wrong
// password is reported on the page, the right one completes the sign-in
// (authorization code with PKCE), and the next scope comes silently from
// the refresh token. A user who cancels gets an AuthenticationFailedError.
// It lives here, not in azid's own module, so that azid's users do not
// carry chromedp in their module graph.
func TestAzidInteractiveBrowserWithChromium(t *testing.T) {
	srv := newEmulator(t, nil)
	urls := fakeXDGOpen(t)
	browser := headlessChromium(t)
	c := ctx(t)

	type outcome struct{ hint, errorText, result string }
	drive := func(password, action string) (<-chan error, *outcome) {
		seen := &outcome{}
		done := make(chan error, 1)
		go func() {
			done <- func() error {
				var authURL string
				select {
				case authURL = <-urls:
				case <-c.Done():
					return c.Err()
				}
				u, err := url.Parse(authURL)
				if err != nil {
					return err
				}
				redirect := u.Query().Get("redirect_uri")
				ru, _ := url.Parse(redirect)
				if ru == nil || ru.Hostname() != "localhost" || ru.Port() == "" {
					return fmt.Errorf("redirect URI %q is not http://localhost:PORT", redirect)
				}
				// A forged redirect (another state) is refused, and the
				// listener keeps waiting for the real one.
				forged := strings.Replace(redirect, "//localhost:", "//127.0.0.1:", 1) + "?code=forged&state=not-the-state"
				resp, err := http.Get(forged)
				if err != nil {
					return err
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "state") {
					return fmt.Errorf("forged redirect answered %d: %s", resp.StatusCode, body)
				}
				b, cancel := context.WithTimeout(browser, time.Minute)
				defer cancel()
				if err := chromedp.Do(b, chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.ID("username"))); err != nil {
					return err
				}
				if seen.hint, err = chromedp.Run(b, chromedp.Value(chromedp.ID("username"))); err != nil {
					return err
				}
				if password != entratest.DefaultPassword {
					// A wrong password first: the page says so and stays.
					if err := chromedp.Do(b,
						chromedp.SetValue(chromedp.ID("username"), entratest.DefaultUsername),
						chromedp.SetValue(chromedp.ID("password"), password),
						chromedp.Click(chromedp.ID("signin")),
						chromedp.WaitVisible(chromedp.ID("error"))); err != nil {
						return err
					}
					if seen.errorText, err = chromedp.Run(b, chromedp.Text(chromedp.ID("error"))); err != nil {
						return err
					}
				}
				if err := chromedp.Do(b,
					chromedp.WaitVisible(chromedp.ID("password")),
					chromedp.SetValue(chromedp.ID("username"), entratest.DefaultUsername),
					chromedp.SetValue(chromedp.ID("password"), entratest.DefaultPassword),
					chromedp.Click(chromedp.ID(action)),
					// The loopback listener's page.
					chromedp.WaitVisible(chromedp.ID("result"))); err != nil {
					return err
				}
				seen.result, err = chromedp.Run(b, chromedp.Text(chromedp.ID("result")))
				return err
			}()
		}()
		return done, seen
	}

	cred, err := azid.NewInteractiveBrowserCredential(&azid.InteractiveBrowserCredentialOptions{
		ClientOptions: direct(srv), DisableInstanceDiscovery: true, LoginHint: "hint@entratest.example",
	})
	if err != nil {
		t.Fatal(err)
	}
	done, seen := drive("wrong-password-123", "signin")
	tok, err := cred.GetToken(c, storageScope)
	if berr := <-done; berr != nil {
		t.Fatalf("driving Chromium: %v", berr)
	}
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	wantClaims(t, srv, tok.Token, map[string]any{"upn": entratest.DefaultUsername, "aud": "https://storage.azure.com"})
	if seen.hint != "hint@entratest.example" || !strings.Contains(seen.errorText, "50126") || seen.result != "Authentication complete" {
		t.Fatalf("browser saw %+v", *seen)
	}
	// Silent from now on: a new scope is one refresh token request.
	srv.ResetCounts()
	if _, err := cred.GetToken(c, vaultScope); err != nil {
		t.Fatal(err)
	}
	if g := grants(srv); g["refresh_token"] != 1 || len(g) != 1 || srv.Requests(entratest.EndpointAuthorize) != 0 {
		t.Fatalf("silent GetToken: grants %v", g)
	}

	// The user cancels on the sign-in page.
	cred, err = azid.NewInteractiveBrowserCredential(&azid.InteractiveBrowserCredentialOptions{
		ClientOptions: direct(srv), DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	done, seen = drive(entratest.DefaultPassword, "deny")
	_, err = cred.GetToken(c, storageScope)
	if berr := <-done; berr != nil {
		t.Fatalf("driving Chromium: %v", berr)
	}
	var afe *azid.AuthenticationFailedError
	if !errors.As(err, &afe) || afe.ErrorCode != "access_denied" {
		t.Fatalf("GetToken after cancel = %v", err)
	}
	if seen.result != "Authentication failed" {
		t.Fatalf("browser saw %+v", *seen)
	}
}
