// Package redis is a distributed second-level token cache on Redis, for
// services that run on many machines: a fleet of instances shares the
// tokens each one acquires, so N instances missing the same token ask Entra
// once instead of N times.
//
// A [Storage] implements [cache.Storage], [cache.Locker] and
// [cache.Partitioner]. Pass it as the Storage of a persistent cache and give
// that cache to credentials; each credential's in-memory cache stays the
// first level, so a cache hit never touches Redis:
//
//	rdb := goredis.NewUniversalClient(&goredis.UniversalOptions{Addrs: []string{"cache:6379"}})
//	s, err := redis.New(rdb, &redis.Options{
//		EncryptionKeys: []redis.EncryptionKey{{ID: "2026-11", Key: key}},
//	})
//	c, err := cache.New(&cache.Options{Storage: s})
//	cred, err := azid.NewClientSecretCredential(tenant, client, secret,
//		&azid.ClientSecretCredentialOptions{Cache: c})
//
// # Layout
//
// Entries are partitioned so that a lookup reads one small Redis key: app
// tokens by client, tenant and resource; on-behalf-of tokens by the hash of
// the user assertion; user flows by home account. Each key's TTL follows the
// tokens it holds (their expiry plus [Options.ExpirySlack]); keys holding
// refresh tokens and accounts live for [Options.RefreshTokenTTL], renewed on
// every write. Any go-redis [goredis.UniversalClient] works: a single node,
// Sentinel or Cluster (each operation touches one key).
//
// The persistent cache keeps the partitions it used last decoded in memory,
// at most [cache.Options.MaxPartitions] of them (default 1,000), so a
// service with 100,000 on-behalf-of users holds a bounded number, not one
// per user for the life of the process.
//
// # Encryption
//
// With [Options.EncryptionKeys] set, values are sealed with AES-GCM under
// the first key, and the key's ID is written in the value's header, so keys
// can be rotated: put the new key first and keep the old ones listed until
// the values they sealed have expired. The Redis key name is authenticated
// too, so a value copied to another key does not open. A value that cannot
// be opened (unknown key ID, wrong key, tampered, or not encrypted while
// encryption is on) is a miss, counted and logged, never an error: the
// token is acquired again and the value replaced.
//
// # When Redis is in trouble
//
// Every operation has its own timeout ([Options.OperationTimeout]), however
// the go-redis client is configured. Errors are returned (the persistent
// cache then serves from memory or the network), counted in [Stats] and
// logged at most once per [Options.LogInterval]. After a few consecutive
// failures the storage stops asking Redis for [Options.RetryInterval] and
// fails at once; then one operation probes, and on success service resumes.
//
// # One refresh per key across the fleet
//
// [Storage.Lock] is a short distributed lock (SET NX PX with a random owner
// token, released by its owner only). The persistent cache holds it from
// before it re-reads a partition until after it writes, so of many instances
// missing the same token one asks Entra and the others read its result. The
// lock's TTL is short and renewed while held, so a crashed owner's lock
// expires within [Options.LockTTL].
package redis
