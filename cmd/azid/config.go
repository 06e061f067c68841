package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/cache"
)

// defaultCacheName is the persistent cache azid's sign-in uses unless
// AZID_CACHE_NAME names another: azidentity's default name, so Go programs
// given the same AuthenticationRecord and the default cache share the
// sign-in with the command.
const defaultCacheName = "msal.cache"

// cacheName is the persistent cache's name: AZID_CACHE_NAME, else
// defaultCacheName.
func cacheName(getenv func(string) string) string {
	if n := getenv("AZID_CACHE_NAME"); n != "" {
		return n
	}
	return defaultCacheName
}

// recordFile is the saved sign-in's file name in the config directory.
const recordFile = "authentication-record.json"

// configDir is where azid keeps its sign-in: AZID_CONFIG_DIR, else the
// user's config directory (XDG_CONFIG_HOME or ~/.config on Linux) + /azid.
func configDir(getenv func(string) string) (string, error) {
	if d := getenv("AZID_CONFIG_DIR"); d != "" {
		return d, nil
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "azid"), nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the config directory (set AZID_CONFIG_DIR): %w", err)
	}
	return filepath.Join(d, "azid"), nil
}

func recordPath(getenv func(string) string) (string, error) {
	d, err := configDir(getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(d, recordFile), nil
}

// loadRecord returns the saved sign-in; ok is false when there is none.
func loadRecord(getenv func(string) string) (rec azid.AuthenticationRecord, path string, ok bool, err error) {
	path, err = recordPath(getenv)
	if err != nil {
		return rec, "", false, err
	}
	rec, err = azid.LoadAuthenticationRecord(path)
	if errors.Is(err, fs.ErrNotExist) {
		return rec, path, false, nil
	}
	if err != nil {
		return rec, path, false, fmt.Errorf("%w (delete the file, or run \"azid logout\", then \"azid login\")", err)
	}
	return rec, path, true, nil
}

// cacheOptions are the persistent cache's options from the environment:
// a provided key (AZID_CACHE_KEY, AZID_CACHE_KEY_FILE) for machines without
// a keyring, or AZID_CACHE_UNENCRYPTED=1.
func cacheOptions(name string, getenv func(string) string, logger *slog.Logger) *cache.Options {
	o := &cache.Options{Name: name, Logger: logger}
	switch {
	case getenv("AZID_CACHE_KEY") != "":
		o.Key = cache.KeyFromEnv("AZID_CACHE_KEY")
	case getenv("AZID_CACHE_KEY_FILE") != "":
		o.Key = cache.KeyFromFile(getenv("AZID_CACHE_KEY_FILE"))
	}
	if v := getenv("AZID_CACHE_UNENCRYPTED"); v == "1" || strings.EqualFold(v, "true") {
		o.AllowUnencryptedStorage = true
	}
	return o
}

// openCache opens the persistent cache, with an error that says what to do
// when this machine has no storage for it.
func openCache(getenv func(string) string, logger *slog.Logger) (cache.Cache, error) {
	if cacheName(getenv) == demoCacheName {
		// The emulator's exports name its own cache, which holds nothing
		// but an emulator's tokens: it opens where no keyring does.
		c, _, err := openDemoCache(&env{stderr: io.Discard, getenv: getenv})
		if err != nil {
			return cache.Cache{}, fmt.Errorf("opening the persistent token cache: %w", withCacheHint(err))
		}
		return c, nil
	}
	c, err := cache.New(cacheOptions(cacheName(getenv), getenv, logger))
	if err != nil {
		return cache.Cache{}, fmt.Errorf("opening the persistent token cache: %w", withCacheHint(err))
	}
	return c, nil
}

// withCacheHint adds, to an error saying this machine has no storage for
// the cache, how to give azid one.
func withCacheHint(err error) error {
	if !errors.Is(err, cache.ErrStorageUnavailable) {
		return err
	}
	return fmt.Errorf("%w\n(for azid: set AZID_CACHE_KEY to a key from `head -c 32 /dev/urandom | base64`, or AZID_CACHE_UNENCRYPTED=1)", err)
}

// warnLogger writes the persistent cache's warnings (a damaged file, an
// unencrypted store; never tokens) to stderr as one line each.
func warnLogger(e *env) *slog.Logger {
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// clientOptions point a credential at the authority host the user chose
// (AZURE_AUTHORITY_HOST is read by the credentials themselves) or, for a
// saved sign-in, at the host that issued it.
func clientOptions(host string) azcore.ClientOptions {
	if host == "" {
		return azcore.ClientOptions{}
	}
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	if !strings.HasSuffix(host, "/") {
		host += "/"
	}
	return azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: host}}
}

// customHost reports whether the authority host is not one of Entra's
// public or national clouds, where instance discovery cannot validate it
// (an emulator, Azure Stack).
func customHost(host string) bool {
	if host == "" {
		return false
	}
	h := strings.ToLower(host)
	h = strings.TrimPrefix(h, "https://")
	h = strings.TrimSuffix(h, "/")
	switch h {
	case "login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn", "login.partner.microsoftonline.cn":
		return false
	}
	return true
}

// recordHost is the authority host of a saved sign-in.
func recordHost(rec azid.AuthenticationRecord) string {
	h := rec.Authority
	if i := strings.Index(h, "://"); i >= 0 {
		h = h[i+3:]
	}
	h, _, _ = strings.Cut(h, "/")
	return strings.ToLower(h)
}
