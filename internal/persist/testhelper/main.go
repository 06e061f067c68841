//go:build unix

// Command testhelper is the other process in the persistent cache's
// multi-process, crash and failure tests (package cache): the tests build
// it without the race detector, so that eight of them writing at once
// take seconds, not minutes, under "go test -race".
//
//	testhelper <mode> <cache name> [args...]
//
// The cache directory comes from $XDG_CACHE_HOME, as for any user. It
// drops privileges and sets resource limits, so it is built on Unix only.
package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/internal/persist"
	"github.com/azid-go/azid/internal/tokencache"
)

var bg = context.Background()

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: testhelper <mode> <cache name> [args...]")
		os.Exit(2)
	}
	arg := func(i int) string {
		if i+2 < len(os.Args) {
			return os.Args[i+2]
		}
		return ""
	}
	if err := runHelper(os.Args[1], os.Args[2], arg); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
}

func keyOf(scope string) tokencache.Key {
	return tokencache.Key{Authority: "login.example", ClientID: "client", TenantID: "tenant", Scopes: []string{scope}}
}

func storedTok(tok string) tokencache.Stored {
	now := time.Now().Truncate(time.Second)
	return tokencache.Stored{AccessToken: tok, CachedAt: now, ExpiresOn: now.Add(time.Hour)}
}

func runHelper(mode, name string, arg func(int) string) error {
	switch mode {
	case "writer":
		// Store n tokens under distinct scopes, each its own save.
		w, n := arg(1), atoi(arg(2))
		c, err := cache.New(&cache.Options{Name: name})
		if err != nil {
			return err
		}
		s := persist.TokenStore(c)
		for i := range n {
			k := keyOf(fmt.Sprintf("api://w%s/s%d/.default", w, i))
			if err := s.Save(bg, k, storedTok(fmt.Sprintf("tok-%s-%d", w, i))); err != nil {
				return err
			}
		}
		return nil
	case "crash":
		// Save forever; the parent kills this process at a random point.
		c, err := cache.New(&cache.Options{Name: name})
		if err != nil {
			return err
		}
		s := persist.TokenStore(c)
		out := bufio.NewWriter(os.Stdout)
		for i := 0; ; i++ {
			k := keyOf(fmt.Sprintf("api://crash/%s/%d/.default", arg(1), i%50))
			if err := s.Save(bg, k, storedTok(fmt.Sprintf("tok-%d", i))); err != nil {
				return err
			}
			if i == 0 {
				out.WriteString("ready\n")
				out.Flush()
			}
		}
	case "nobody", "full-disk":
		// A GetToken through the engine with the persistent cache, where
		// the cache cannot be written: as an unprivileged user facing a
		// root-only directory, or with a file size limit of 64 bytes.
		if mode == "nobody" {
			if err := syscall.Setgid(65534); err != nil {
				return err
			}
			if err := syscall.Setuid(65534); err != nil {
				return err
			}
		} else if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 64, Max: 64}); err != nil {
			return err
		}
		log := slog.New(slog.NewTextHandler(os.Stdout, nil))
		c, err := cache.New(&cache.Options{Name: name, Logger: log, AllowUnencryptedStorage: true})
		if err != nil {
			return err
		}
		var calls int
		eng := tokencache.New(tokencache.AcquirerFunc(func(ctx2 context.Context, r tokencache.Request) (tokencache.Token, error) {
			calls++
			return tokencache.Token{AccessToken: "net-token", ExpiresIn: time.Hour}, nil
		}), tokencache.Options{Authority: "login.example", ClientID: "client", Store: persist.TokenStore(c), Logger: log})
		for range 3 {
			tok, err := eng.GetToken(bg, &tokencache.Request{TenantID: "tenant", Scopes: []string{"api://x/.default"}})
			if err != nil || tok.Token != "net-token" {
				return fmt.Errorf("GetToken = %q, %v", tok.Token, err)
			}
		}
		// Let the background store write finish and log.
		for eng.Stats().StoreErrors == 0 {
			time.Sleep(time.Millisecond)
		}
		fmt.Printf("RESULT calls=%d store_errors=%d\n", calls, eng.Stats().StoreErrors)
		return nil
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
