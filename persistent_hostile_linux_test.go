package azid

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/entratest"
	"golang.org/x/sys/unix"
)

// getTokenWithin calls GetToken with a deadline, and fails the test if the
// call has not returned shortly after it: a blocked open cannot be
// cancelled, so the test must not wait for it.
func getTokenWithin(t *testing.T, cred azcore.TokenCredential, scope string) (azcore.AccessToken, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type result struct {
		tok azcore.AccessToken
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
		done <- result{tok, err}
	}()
	select {
	case r := <-done:
		return r.tok, r.err
	case <-time.After(30 * time.Second):
		t.Fatal("GetToken blocked")
		return azcore.AccessToken{}, nil
	}
}

// Hostile things at the persistent cache's paths, through the public API:
// GetToken never blocks and keeps working, a second process-like cache
// opened afresh reads the token the first stored (the damaged file was
// replaced), and links are never followed.
func TestPersistentCacheHostilePaths(t *testing.T) {
	outside := func(t *testing.T) string { return filepath.Join(os.Getenv("XDG_CACHE_HOME"), "outside") }
	cases := []struct {
		name   string
		lock   bool
		make   func(t *testing.T, path string)
		target bool // outside(t) must stay as it was
	}{
		{name: "FIFO at cache path", make: func(t *testing.T, p string) { mustNoErr(t, unix.Mkfifo(p, 0o600)) }},
		{name: "FIFO at lock path", lock: true, make: func(t *testing.T, p string) { mustNoErr(t, unix.Mkfifo(p, 0o600)) }},
		{name: "socket at cache path", make: func(t *testing.T, p string) {
			l, err := net.Listen("unix", p)
			mustNoErr(t, err)
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			t.Cleanup(func() { l.Close() })
		}},
		{name: "device at cache path", make: func(t *testing.T, p string) {
			// /dev/null's numbers as root; a link to it otherwise.
			if unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))) != nil {
				mustNoErr(t, os.Symlink("/dev/null", p))
			}
		}},
		{name: "dangling symlink at lock path", lock: true, target: true, make: func(t *testing.T, p string) {
			mustNoErr(t, os.Symlink(outside(t), p))
		}},
		{name: "symlink at cache path", target: true, make: func(t *testing.T, p string) {
			mustNoErr(t, os.WriteFile(outside(t), []byte("not a cache"), 0o600))
			mustNoErr(t, os.Symlink(outside(t), p))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newEmulator(t, nil)
			persistentTestCache(t)
			dir := filepath.Join(os.Getenv("XDG_CACHE_HOME"), ".IdentityService")
			mustNoErr(t, os.MkdirAll(dir, 0o700))
			path := filepath.Join(dir, testCacheName)
			at := path
			if tc.lock {
				at += ".lockfile"
			}
			tc.make(t, at)
			before, _ := os.ReadFile(outside(t))
			first, err := getTokenWithin(t, hostileCred(t, srv, nil), "api://a/.default")
			if err != nil {
				t.Fatal(err)
			}
			second, err := getTokenWithin(t, hostileCred(t, srv, nil), "api://a/.default")
			if err != nil {
				t.Fatal(err)
			}
			if second.Token != first.Token || srv.Requests(entratest.EndpointToken) != 1 {
				t.Fatalf("a fresh cache did not read the stored token (%d token requests)", srv.Requests(entratest.EndpointToken))
			}
			for _, p := range []string{path, path + ".lockfile"} {
				if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
					t.Errorf("%s is not a regular file now: %v", p, err)
				}
			}
			if tc.target {
				after, err := os.ReadFile(outside(t))
				if before == nil && !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the link's target was created (%v)", err)
				}
				if before != nil && !bytes.Equal(after, before) {
					t.Errorf("the link's target was written")
				}
			}
		})
	}
	t.Run("directory at cache path", func(t *testing.T) {
		srv := newEmulator(t, nil)
		persistentTestCache(t)
		path := filepath.Join(os.Getenv("XDG_CACHE_HOME"), ".IdentityService", testCacheName)
		mustNoErr(t, os.MkdirAll(filepath.Join(path, "keep"), 0o700))
		var logs syncBuffer
		cred := hostileCred(t, srv, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
		for _, s := range []string{"api://a/.default", "api://b/.default", "api://c/.default"} {
			if _, err := getTokenWithin(t, cred, s); err != nil {
				t.Fatal(err)
			}
		}
		out := logs.String()
		if n := strings.Count(out, "level=WARN"); n != 1 || !strings.Contains(out, path) || !strings.Contains(out, "remove or rename") {
			t.Fatalf("want one warning naming %s and what to do, got %d:\n%s", path, n, out)
		}
		if _, err := os.Stat(filepath.Join(path, "keep")); err != nil {
			t.Fatal("the directory was changed")
		}
	})
}

func hostileCred(t *testing.T, srv *entratest.Server, log *slog.Logger) *ClientSecretCredential {
	t.Helper()
	c, err := cache.New(&cache.Options{Name: testCacheName, Key: cache.KeyFromEnv(testCacheKeyEnv), Logger: log})
	mustNoErr(t, err)
	cred, err := NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&ClientSecretCredentialOptions{ClientOptions: emulatorOptions(srv), DisableInstanceDiscovery: true, Cache: c, Logger: log})
	mustNoErr(t, err)
	return cred
}

func mustNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
