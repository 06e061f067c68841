package cache

import (
	"context"
	"time"
)

// Storage keeps a persistent cache's data: opaque blobs (MSAL-schema JSON,
// already encrypted where the store does not encrypt itself) by partition
// name. The platform stores (a JWE file with its key in the keyring, the
// macOS Keychain, a DPAPI file) and the Redis store implement it; so can a
// user's own store.
//
// A storage with a single partition (a file) ignores the name's variety:
// every partition maps to the same blob. Implementations must be safe for
// concurrent use.
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
// after it writes, so concurrent writers lose nothing.
type Locker interface {
	// Lock blocks until the lock for partition is held or ctx ends.
	Lock(ctx context.Context, partition string) (unlock func(), err error)
}

// PartitionKey describes what a cache lookup is about, so a partitioned
// storage can name the small blob that holds it.
type PartitionKey struct {
	// Environment is the authority host.
	Environment string
	ClientID    string
	TenantID    string
	// Resource is the audience of the scopes (the part before the last
	// "/"), empty for refresh tokens and accounts.
	Resource string
	// UserAssertionHash is set for on-behalf-of entries.
	UserAssertionHash string
	// HomeAccountID is set for user flows.
	HomeAccountID string
	// CAE tells CAE tokens apart; they live in a sibling store.
	CAE bool
}

// Partitioner is implemented by storages that split the cache into many
// small blobs (Redis). Storages without it hold the whole cache in one blob.
type Partitioner interface {
	// Partition names the blob holding entries described by k.
	Partition(k PartitionKey) string
}
