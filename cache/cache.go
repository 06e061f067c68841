// Package cache is azid's persistent token cache: tokens kept encrypted on
// disk (or in a store of your choice), shared by processes and surviving
// restarts. Create one with [New] and pass it as the Cache option of any
// credential that supports persistence:
//
//	c, err := cache.New(nil)
//	if err != nil {
//		// No encrypted storage here: see the error for the ways out.
//	}
//	cred, err := azid.NewClientSecretCredential(tenant, client, secret,
//		&azid.ClientSecretCredentialOptions{Cache: c})
//
// The file format and place are azidentity/cache's on each platform, so
// programs using either library share tokens. Unlike azidentity, a cache
// hit is served from memory (the file is read only when a token is missing
// and another process may have stored it), a damaged file never fails a
// GetToken, and concurrent processes never lose each other's tokens.
//
// # Damaged and hostile paths
//
// Whatever is found at the cache file's path or its lock file's path, a
// GetToken neither blocks nor writes outside the cache directory: files are
// opened without waiting and without following a symbolic link, and their
// type is checked before anything is read. A FIFO, socket, device or link
// in the cache file's place is treated as damaged data and replaced by the
// next write; in the lock file's place it is replaced by a lock file. A
// directory in either place is left alone and reported once, as a
// [*NotAFileError] naming it (credentials log it as a warning); tokens are
// then kept in memory only until it is removed or renamed.
//
// # Sharing the cache with azidentity
//
// azid and azidentity/cache processes may use one cache, with two limits
// that come from azidentity's side:
//
//   - azidentity writes the whole file from the copy it read before its
//     token request, and reads without the lock. Each of its writes
//     therefore drops the tokens other processes stored while its request
//     was under way. When azid, at a later miss or save, finds that tokens
//     it stored are gone, it stores them again (app and on-behalf-of
//     tokens; a signed-in user's tokens are not put back, so that a
//     sign-out elsewhere holds). Until then, a process starting in the
//     meantime asks Entra for a token it could have read. A user's refresh
//     token that azidentity drops this way is not restored either: that
//     user signs in again.
//   - azidentity deletes the lock file when it unlocks, so its lock does
//     not always exclude other writers, and it keeps the encryption key it
//     first used in memory. On Linux, at a cold start (no key in the
//     keyring yet), an azidentity process can replace the key azid just
//     created. azid checks after each write that the file opens with the
//     key now in the keyring and writes it again if not, so a file azid
//     wrote never becomes unreadable; a file an azidentity process wrote
//     with a key it no longer shares is unreadable to everyone, and azid
//     replaces it (with its own tokens) on its next write.
//
// Fleets of azid processes alone lose nothing: their writes merge under a
// lock that excludes each other, and the first of them creates the key
// under it.
//
// # Memory
//
// The cache keeps the partitions it used last decoded in memory (bounded
// by [Options.MaxPartitions]), so that a miss re-reads storage only when
// another process changed it.
package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/azid-go/azid/internal/persist"
	"github.com/azid-go/azid/internal/persist/file"
)

// Cache is a persistent cache, made by [New] and given to credentials as
// their Cache option. The zero value is no cache: credentials keep tokens
// in memory only. A Cache is a small value, safe to copy and to use from
// many goroutines; every copy, and every credential given one, shares the
// same tokens, the same view of the storage and the same locks. Give one
// Cache to all the credentials of a process that use the same name, rather
// than calling New for each.
type Cache persist.Cache

// Enabled reports whether c is a persistent cache, as opposed to the zero
// Cache (tokens in memory only).
func (c Cache) Enabled() bool { return persist.Cache(c).Enabled() }

// Options configure [New].
type Options struct {
	// Name names the cache; credentials with the same name share tokens,
	// within a process and across processes. Default "msal.cache", which is
	// also azidentity's default. CAE tokens are kept in a sibling named
	// Name + ".cae", as azidentity keeps them.
	Name string

	// AllowUnencryptedStorage lets New fall back to a plain-text file
	// (mode 0600, logged once as unencrypted) when no encrypted storage is
	// available, for example in a container whose seccomp profile blocks
	// the kernel keyring. Tokens in it can be read by anyone who can read
	// the file.
	AllowUnencryptedStorage bool

	// Key supplies the encryption key instead of the platform's key store:
	// for containers and CI, where there is no keyring or keychain. Use
	// [KeyFromFile] (a mounted secret) or [KeyFromEnv]. The cache file is a
	// JWE encrypted with this key.
	Key KeySource

	// Storage replaces the platform storage with your own (a database, a
	// secret store). It may also implement [Locker], [Versioner] and
	// [Partitioner]. Key and AllowUnencryptedStorage do not apply to it.
	Storage Storage

	// Logger receives problems with the stored data (a bad entry, an
	// unreadable file) with the file's path; tokens are never logged. Nil
	// discards them.
	Logger *slog.Logger

	// MaxPartitions bounds how many partitions the cache keeps decoded in
	// memory, so that a miss need not read and decode storage again when
	// nothing changed. A file storage has two partitions (Name and its
	// CAE sibling); a partitioned storage such as Redis has one per
	// application resource, signed-in user and on-behalf-of user
	// assertion, which would otherwise accumulate for the life of the
	// process. Past the bound, the least recently used partition is
	// dropped from memory (never from storage) and read again when next
	// needed. Hits are served by the credentials' own memory and are not
	// affected. Default 1,000.
	MaxPartitions int
}

// ErrStorageUnavailable is wrapped by [New]'s error when this machine has
// no storage the cache can encrypt with; the error says what to do.
var ErrStorageUnavailable = errors.New("persistent token cache storage is unavailable")

// New opens the persistent cache described by o (nil for defaults). It
// fails, with an error wrapping [ErrStorageUnavailable] that names the
// ways out, when no encrypted storage is available and o allows no
// alternative. Nothing is read or written until a credential needs a token.
func New(o *Options) (Cache, error) {
	opts := Options{}
	if o != nil {
		opts = *o
	}
	if opts.Name == "" {
		opts.Name = "msal.cache"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	fs := file.Store{Unreadable: ErrUnreadable}
	for _, n := range []string{opts.Name, opts.Name + ".cae"} {
		if _, err := fs.Path(n); err != nil {
			return Cache{}, fmt.Errorf("cache: %w", err)
		}
	}
	s := opts.Storage
	if s == nil {
		var err error
		if s, err = platformStorage(&opts); err != nil {
			return Cache{}, err
		}
	}
	return Cache(persist.New(s, persist.Options{Name: opts.Name, Logger: opts.Logger, MaxPartitions: opts.MaxPartitions})), nil
}

// cacheDir is the directory of the cache files outside Windows:
// $XDG_CACHE_HOME (or ~/.cache), then ".IdentityService", where
// azidentity/cache keeps them. Windows keeps them in the local application
// data folder instead (see platform_windows.go).
func cacheDir(getenv func(string) string) (string, error) {
	if d := getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, ".IdentityService"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cache: finding the cache directory: %w", err)
	}
	return filepath.Join(home, ".cache", ".IdentityService"), nil
}

// unencryptedStorage is the AllowUnencryptedStorage fallback: plain JSON in
// "<name>.unencrypted" files (a name of their own, so that azidentity never
// tries to decrypt them), logged once.
func unencryptedStorage(o *Options, dir string, reason error) Storage {
	o.Logger.LogAttrs(context.Background(), slog.LevelWarn,
		"the persistent token cache is NOT encrypted (AllowUnencryptedStorage); anyone who can read the file can use the tokens",
		slog.String("path", filepath.Join(dir, o.Name+".unencrypted")), slog.Any("reason", reason))
	return &suffixStorage{Store: &file.Store{Dir: dir, Unreadable: ErrUnreadable}, suffix: ".unencrypted"}
}

// suffixStorage maps partition p to the file p + suffix.
type suffixStorage struct {
	*file.Store
	suffix string
}

func (s *suffixStorage) Read(ctx context.Context, p string) ([]byte, error) {
	return s.Store.Read(ctx, p+s.suffix)
}

func (s *suffixStorage) Write(ctx context.Context, p string, data []byte, exp time.Time) error {
	return s.Store.Write(ctx, p+s.suffix, data, exp)
}

func (s *suffixStorage) Delete(ctx context.Context, p string) error {
	return s.Store.Delete(ctx, p+s.suffix)
}

func (s *suffixStorage) Version(ctx context.Context, p string) (string, error) {
	return s.Store.Version(ctx, p+s.suffix)
}

func (s *suffixStorage) Lock(ctx context.Context, p string) (func(), error) {
	return s.Store.Lock(ctx, p+s.suffix)
}

func (s *suffixStorage) Location(p string) string { return s.Store.Location(p + s.suffix) }
