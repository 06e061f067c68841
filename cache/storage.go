package cache

import (
	"context"
	"time"

	"github.com/azid-go/azid/internal/persist"
	"github.com/azid-go/azid/internal/persist/file"
)

// Storage keeps a persistent cache's data by partition name. Write is
// given the partition's MSAL-schema JSON and Read returns it; a storage
// that keeps data where others could read it encrypts it on the way (the
// Linux storage seals it in a JWE). The platform stores (a JWE file with its key in the keyring, the
// macOS Keychain, a DPAPI file) and the Redis store implement it; so can a
// user's own store.
//
// Storages without a [Partitioner] are given two partition names: the
// cache's Name for most tokens and Name + ".cae" for CAE tokens (as
// azidentity keeps them apart); a file storage maps each to a file.
// Implementations must be safe for concurrent use.
//
// Read returns plaintext. Data that exists but cannot be used (it does not
// decrypt, or the key is gone) should be reported as an error wrapping
// [ErrUnreadable]: the cache then carries on without it and replaces it on
// its next write, instead of failing every write.
type Storage interface {
	// Read returns the blob stored for partition, or (nil, nil) when there
	// is none.
	Read(ctx context.Context, partition string) ([]byte, error)
	// Write replaces the blob for partition. expiresOn is a hint: the
	// latest time any access token in data is usable; zero means the blob
	// holds long-lived state (refresh tokens, accounts) only. Stores with
	// expiry (Redis) set the key's TTL from it.
	Write(ctx context.Context, partition string, data []byte, expiresOn time.Time) error
	// Delete removes the blob for partition; deleting nothing is no error.
	Delete(ctx context.Context, partition string) error
}

// Locker is implemented by storages that can serialise a read-merge-write
// of one partition across processes (a lock file) or machines (a Redis
// lock). The persistent cache holds the lock from before it reads until
// after it writes, so concurrent writers lose nothing. It also holds the
// lock of the partition with a user's refresh token while that token is
// redeemed (one token request), so that no two processes redeem the same
// refresh token.
type Locker interface {
	// Lock blocks until the lock for partition is held or ctx ends.
	Lock(ctx context.Context, partition string) (unlock func(), err error)
}

// PartitionKey describes what a cache lookup is about, so a partitioned
// storage can name the small blob that holds it. Fields: Environment (the
// authority host), ClientID, TenantID, Resource (the audience of the
// scopes, empty for refresh tokens and accounts), UserAssertionHash (set for
// on-behalf-of entries), HomeAccountID (set for user flows), and CAE (CAE
// tokens live apart from the others).
//
// It is declared in an internal package (which package cache builds on);
// this alias is the public name.
type PartitionKey = persist.PartitionKey

// Partitioner is implemented by storages that split the cache into many
// small blobs (Redis). Storages without it hold the whole cache in one blob.
type Partitioner interface {
	// Partition names the blob holding entries described by k.
	Partition(k PartitionKey) string
}

// Versioner is implemented by storages that can tell cheaply whether a
// partition changed since it was last read (a file's device, inode, size
// and modification time; a generation number). The cache then re-reads and
// re-decodes a partition only when its version changed; storages without it
// are read on every miss.
type Versioner interface {
	// Version returns an opaque string that changes whenever partition's
	// data does, or an error when it cannot tell.
	Version(ctx context.Context, partition string) (string, error)
}

// ErrUnreadable is wrapped by a [Storage]'s Read errors about data that
// exists but cannot be used: it does not decrypt (wrong or missing key), or
// it is not a token cache. The cache carries on with the network and
// replaces the data on its next write.
var ErrUnreadable = persist.ErrUnreadable

// NotAFileError reports a directory where the cache file (or its lock
// file) belongs: the cache keeps tokens in memory only until the directory
// is removed or renamed. A credential reports it once (its first store
// error), not on every miss. Path names the directory.
type NotAFileError = file.NotAFileError

// The storage interfaces are declared twice: here, where go doc shows
// their methods to whoever implements a store (an alias or an embedded
// interface would show only the internal name), and in internal/persist,
// which this package builds on and so cannot import from. Each assignment
// pair makes the compiler reject any difference between the two.
var (
	_ persist.Storage     = Storage(nil)
	_ Storage             = persist.Storage(nil)
	_ persist.Locker      = Locker(nil)
	_ Locker              = persist.Locker(nil)
	_ persist.Partitioner = Partitioner(nil)
	_ Partitioner         = persist.Partitioner(nil)
	_ persist.Versioner   = Versioner(nil)
	_ Versioner           = persist.Versioner(nil)
)
