package loopback

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestParseRedirect(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  Result
		err   bool
	}{
		{"code=abc&state=s1", Result{Code: "abc"}, false},
		{"error=access_denied&error_description=no&state=s1", Result{Error: "access_denied", Description: "no"}, false},
		{"code=abc&state=s2", Result{}, true},
		{"code=abc", Result{}, true},
		{"state=s1", Result{}, true},
		{"code=abc&state=s1&state=s1", Result{}, true},
		{"code=a&code=b&state=s1", Result{}, true},
		{"%zz", Result{}, true},
	} {
		got, err := ParseRedirect(tc.query, "s1")
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseRedirect(%q) = %+v, %v", tc.query, got, err)
		}
		if err != nil && !errors.Is(err, ErrRejected) {
			t.Errorf("error %v does not wrap ErrRejected", err)
		}
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestListenerServesOneValidRedirect(t *testing.T) {
	l, err := Listen("", "st")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	u, _ := url.Parse(l.RedirectURI())
	if u.Hostname() != "localhost" || u.Port() == "" {
		t.Fatalf("redirect URI %s", l.RedirectURI())
	}
	base := "http://127.0.0.1:" + u.Port() + "/"
	// A forged redirect (wrong state) and one without a code are refused;
	// the listener keeps waiting.
	if code, body := get(t, base+"?code=forged&state=evil"); code != 400 || !strings.Contains(body, "state") {
		t.Fatalf("forged: %d %s", code, body)
	}
	if code, _ := get(t, base+"?state=st"); code != 400 {
		t.Fatalf("no code: %d", code)
	}
	if code, body := get(t, base+"?code=real&state=st"); code != 200 || !strings.Contains(body, "Authentication complete") {
		t.Fatalf("valid: %d %s", code, body)
	}
	res, err := l.Wait(context.Background())
	if err != nil || res.Code != "real" {
		t.Fatalf("Wait = %+v, %v", res, err)
	}
	if code, _ := get(t, base+"?code=again&state=st"); code != http.StatusConflict {
		t.Fatalf("second valid redirect: %d", code)
	}
	l.Close()
	if _, err := http.Get(base + "?code=x&state=st"); err == nil {
		t.Fatal("the listener still answers after Close")
	}
}

func TestListenerFailurePageNamesTheError(t *testing.T) {
	l, err := Listen("http://localhost:0/cb", "st")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	u, _ := url.Parse(l.RedirectURI())
	if u.Path != "/cb" {
		t.Fatalf("redirect URI %s", l.RedirectURI())
	}
	code, body := get(t, "http://127.0.0.1:"+u.Port()+"/cb?error=access_denied&error_description=%3Cb%3Eno%3C%2Fb%3E&state=st")
	if code != 200 || !strings.Contains(body, "access_denied") || strings.Contains(body, "<b>no") {
		t.Fatalf("failure page: %d %s", code, body)
	}
	res, _ := l.Wait(context.Background())
	if res.Error != "access_denied" {
		t.Fatalf("result %+v", res)
	}
}

func TestListenRejectsBadRedirectURL(t *testing.T) {
	for _, u := range []string{"https://localhost:1234", "http://example.com:80", "http://localhost:99999", "::"} {
		if l, err := Listen(u, "s"); err == nil {
			l.Close()
			t.Errorf("Listen(%q) accepted", u)
		}
	}
}

func TestWaitStopsWithContext(t *testing.T) {
	l, err := Listen("", "s")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v", err)
	}
}

func FuzzParseRedirect(f *testing.F) {
	f.Add("code=abc&state=s1")
	f.Add("error=x&error_description=%00%01&state=s1")
	f.Add("state=s1&state=s2&code=")
	f.Fuzz(func(t *testing.T, q string) {
		res, err := ParseRedirect(q, "s1")
		if err != nil {
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("error %v does not wrap ErrRejected", err)
			}
			return
		}
		vals, perr := url.ParseQuery(q)
		if perr != nil || vals.Get("state") != "s1" {
			t.Fatalf("accepted %q without the right state", q)
		}
		if res.Code == "" && res.Error == "" {
			t.Fatalf("accepted %q with neither code nor error", q)
		}
	})
}
