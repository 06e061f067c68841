package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/entratest"
)

// The --emulator demo keeps its tokens in a persistent cache of its own, so
// that a second run is served from disk. A persistent cache keys tokens by
// authority host, and each emulator listens on a new port; so the demo's
// credential talks to a fixed, made-up authority host, and its transport
// sends those requests to wherever this run's emulator listens. The
// emulator's signing key is new each run too, which does not matter: the
// cache serves what it stored without verifying it (verifying is the
// resource's business), exactly as it serves Entra's tokens.
const (
	demoCacheName = "azid-emulator"
	demoHost      = "azid-emulator.localhost"
)

// openNamedCache opens the persistent cache called name; the demo's may
// fall back to an unencrypted file (see openDemoCache).
func openNamedCache(name string, e *env) (cache.Cache, error) {
	if name == demoCacheName {
		c, _, err := openDemoCache(e)
		return c, err
	}
	c, err := cache.New(cacheOptions(name, e.getenv, warnLogger(e)))
	if err != nil {
		return cache.Cache{}, withCacheHint(err)
	}
	return c, nil
}

// openDemoCache opens the demo's cache: encrypted when this machine can,
// else (an emulator's tokens are good for nothing but the demo) a plain
// 0600 file. unencrypted says which.
func openDemoCache(e *env) (c cache.Cache, unencrypted bool, err error) {
	o := cacheOptions(demoCacheName, e.getenv, slog.New(slog.DiscardHandler))
	if c, err = cache.New(o); err == nil {
		return c, o.AllowUnencryptedStorage, nil
	}
	if o.Key != nil {
		// The user gave a key that does not work: say so.
		return cache.Cache{}, false, err
	}
	o.AllowUnencryptedStorage = true
	c, err = cache.New(o)
	return c, true, err
}

// lazyEmulator is the demo's transport: it starts the emulator on the
// first request, so that a run served from the persistent cache never
// starts one, and routes demoHost to it.
type lazyEmulator struct {
	started func(*entratest.Server)

	once sync.Once
	srv  *entratest.Server
	err  error
}

func (l *lazyEmulator) Do(req *http.Request) (*http.Response, error) {
	l.once.Do(func() {
		l.srv, l.err = entratest.NewServer(nil)
		if l.err == nil {
			l.started(l.srv)
		}
	})
	if l.err != nil {
		return nil, l.err
	}
	if strings.EqualFold(req.URL.Host, demoHost) {
		r := req.Clone(req.Context())
		r.URL.Host = strings.TrimPrefix(l.srv.URL(), "https://")
		r.Host = ""
		req = r
	}
	return l.srv.Client().Do(req)
}

func (l *lazyEmulator) close() {
	if l.srv != nil {
		_ = l.srv.Close()
	}
}

// demoCredential is the emulator's test app, reached through em, with
// the demo's persistent cache c.
func demoCredential(em *lazyEmulator, c cache.Cache) (*azid.ClientSecretCredential, error) {
	return azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&azid.ClientSecretCredentialOptions{
			ClientOptions: azcore.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: "https://" + demoHost + "/"},
				Transport: em,
			},
			DisableInstanceDiscovery: true,
			Cache:                    c,
		})
}

// emulatorDemo is "azid token --emulator": it calls GetToken --calls times
// and says, for each call, where the token came from and how long it took.
func emulatorDemo(ctx context.Context, e *env, f tokenFlags) int {
	c, unencrypted, err := openDemoCache(e)
	if err != nil {
		fmt.Fprintf(e.stderr, "azid token: the demo's persistent cache: %v; tokens are kept in memory only\n", err)
	} else if unencrypted {
		fmt.Fprintln(e.stderr, "cache: no encrypted storage here; the demo keeps its emulator tokens (valid nowhere else) in an unencrypted file")
	}
	em := &lazyEmulator{started: func(s *entratest.Server) {
		fmt.Fprintf(e.stderr, "emulator: Entra ID emulator listening at %s (authority host %s)\n", s.AuthorityHost(), "https://"+demoHost+"/")
	}}
	defer em.close()
	cred, err := demoCredential(em, c)
	if err != nil {
		fmt.Fprintf(e.stderr, "azid token: %v\n", err)
		return exitInternal
	}
	n := max(f.calls, 1)
	opts := policy.TokenRequestOptions{Scopes: f.scopes, TenantID: f.tenant}
	var tok azcore.AccessToken
	for i := 1; i <= n; i++ {
		before := cred.CacheStats()
		start := time.Now()
		t, err := cred.GetToken(ctx, opts)
		took := time.Since(start)
		if err != nil {
			if em.err != nil {
				fmt.Fprintf(e.stderr, "azid token: starting the emulator: %v\n", em.err)
				return exitInternal
			}
			fmt.Fprintf(e.stderr, "azid token: %v\n", err)
			return exitCodeOf(ctx, err)
		}
		tok = t
		after := cred.CacheStats()
		how := "cache hit (memory)"
		switch {
		case after.TokenRequests > before.TokenRequests:
			how = "network acquisition (token request to the emulator)"
		case after.StoreHits > before.StoreHits:
			how = "served from the persistent cache (no token request; the emulator was not started)"
		}
		fmt.Fprintf(e.stderr, "call %d: %s in %s\n", i, how, elapsed(took))
	}
	st := cred.CacheStats()
	fmt.Fprintf(e.stderr, "cache: %d calls, %d token request(s), %d from the persistent cache, %d hit(s); token valid until %s\n",
		n, st.TokenRequests, st.StoreHits, st.Hits, tok.ExpiresOn.Local().Format(time.RFC3339))
	return printToken(e.stdout, tok, f.output, f.tenant)
}
