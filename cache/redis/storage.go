package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/azid-go/azid/cache"
)

// Storage is a [cache.Storage] on Redis, also a [cache.Locker] and a
// [cache.Partitioner]. Create it with [New]; it is safe for concurrent use
// and cheap to share. It does not close the client it was given.
type Storage struct {
	client goredis.UniversalClient
	o      settings
	now    func() time.Time

	stats      counters
	health     breaker
	errLog     limiter
	decryptLog limiter
}

var (
	_ cache.Storage     = (*Storage)(nil)
	_ cache.Locker      = (*Storage)(nil)
	_ cache.Partitioner = (*Storage)(nil)
)

// New returns a Storage keeping its data through client (a *goredis.Client,
// *goredis.ClusterClient, a failover client or any UniversalClient). Pass
// nil options for the defaults. New does not contact Redis: a service
// whose Redis is down at start still gets tokens, from the network.
func New(client goredis.UniversalClient, o *Options) (*Storage, error) {
	if client == nil {
		return nil, errors.New("redis cache: the Redis client is nil")
	}
	st, err := newSettings(o)
	if err != nil {
		return nil, err
	}
	return &Storage{client: client, o: st, now: time.Now}, nil
}

// Stats returns the storage's counters.
func (s *Storage) Stats() Stats { return s.stats.snapshot() }

// Encrypted reports whether the storage seals values (EncryptionKeys were
// given).
func (s *Storage) Encrypted() bool { return len(s.o.keys) > 0 }

func (s *Storage) dataKey(partition string) string { return s.o.KeyPrefix + "tok:" + partition }
func (s *Storage) lockKey(partition string) string { return s.o.KeyPrefix + "lock:" + partition }

// Read implements [cache.Storage]. A value that cannot be opened is
// reported as absent (nil, nil), counted and logged; Redis errors are
// returned, and the persistent cache carries on without Redis.
func (s *Storage) Read(ctx context.Context, partition string) ([]byte, error) {
	s.stats.reads.Add(1)
	v, err := do(s, ctx, "read", partition, func(ctx context.Context) ([]byte, error) {
		b, err := s.client.Get(ctx, s.dataKey(partition)).Bytes()
		if errors.Is(err, goredis.Nil) {
			return nil, nil
		}
		return b, err
	})
	if err != nil {
		return nil, err
	}
	if v == nil {
		s.stats.misses.Add(1)
		return nil, nil
	}
	data, err := open(s.o.keys, partition, v)
	if err != nil {
		s.stats.undecryptable.Add(1)
		s.stats.misses.Add(1)
		if ok, held := s.decryptLog.allow(s.now(), s.o.LogInterval); ok {
			s.o.Logger.Warn("redis cache: ignoring a value that cannot be decrypted; the token will be acquired again and the value replaced",
				slog.String("key", s.dataKey(partition)),
				slog.String("reason", err.Error()),
				slog.Int("similarNotLogged", held))
		}
		return nil, nil
	}
	s.stats.hits.Add(1)
	return data, nil
}

// Write implements [cache.Storage]. The key's TTL follows expiresOn (plus
// Options.ExpirySlack) for app and on-behalf-of partitions; partitions that
// may hold refresh tokens (user flows, and any name not made by
// [Storage.Partition]) live at least Options.RefreshTokenTTL.
func (s *Storage) Write(ctx context.Context, partition string, data []byte, expiresOn time.Time) error {
	s.stats.writes.Add(1)
	v, err := seal(s.o.keys, partition, data)
	if err != nil {
		return err
	}
	ttl := s.ttl(partition, expiresOn)
	_, err = do(s, ctx, "write", partition, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.client.Set(ctx, s.dataKey(partition), v, ttl).Err()
	})
	return err
}

// Delete implements [cache.Storage].
func (s *Storage) Delete(ctx context.Context, partition string) error {
	s.stats.deletes.Add(1)
	_, err := do(s, ctx, "delete", partition, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.client.Del(ctx, s.dataKey(partition)).Err()
	})
	return err
}

// minTTL keeps a key holding only expired tokens from being written
// without expiry (Redis rejects a zero PX).
const minTTL = time.Second

func (s *Storage) ttl(partition string, expiresOn time.Time) time.Duration {
	if expiresOn.IsZero() {
		return s.o.RefreshTokenTTL
	}
	d := expiresOn.Sub(s.now()) + s.o.ExpirySlack
	if d < minTTL {
		d = minTTL
	}
	if !accessTokensOnly(partition) && d < s.o.RefreshTokenTTL {
		d = s.o.RefreshTokenTTL
	}
	return d
}

// Partition names the partition for k, implementing [cache.Partitioner]:
//
//	app:<authority host>:<client>:<tenant>[:<resource>]
//	obo:<authority host>:<client>:<assertion hash>
//	user:<authority host>:<client>:<home account ID>
//
// with ":cae" appended for CAE tokens. Parts are lower-cased (except the
// assertion hash) and escaped so they never contain ':', '{' or '}', which
// keeps names unambiguous and free of Redis Cluster hash tags.
func (s *Storage) Partition(k cache.PartitionKey) string {
	var b strings.Builder
	switch {
	case k.UserAssertionHash != "":
		b.WriteString(kindOBO)
		writePart(&b, k.Environment, true)
		writePart(&b, k.ClientID, true)
		writePart(&b, k.UserAssertionHash, false)
	case k.HomeAccountID != "":
		b.WriteString(kindUser)
		writePart(&b, k.Environment, true)
		writePart(&b, k.ClientID, true)
		writePart(&b, k.HomeAccountID, true)
	default:
		b.WriteString(kindApp)
		writePart(&b, k.Environment, true)
		writePart(&b, k.ClientID, true)
		writePart(&b, k.TenantID, true)
		if k.Resource != "" {
			writePart(&b, k.Resource, true)
		}
	}
	if k.CAE {
		b.WriteString(":cae")
	}
	return b.String()
}

const (
	kindApp  = "app"
	kindOBO  = "obo"
	kindUser = "user"
)

// accessTokensOnly reports whether partition holds access tokens only, so
// its TTL may follow their expiry.
func accessTokensOnly(partition string) bool {
	return strings.HasPrefix(partition, kindApp+":") || strings.HasPrefix(partition, kindOBO+":")
}

func writePart(b *strings.Builder, p string, fold bool) {
	const hex = "0123456789ABCDEF"
	b.WriteByte(':')
	for i := 0; i < len(p); i++ {
		c := p[i]
		if fold && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		switch {
		case c == ':' || c == '%' || c == '{' || c == '}' || c <= ' ' || c >= 0x7f:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
}

// String describes the storage for logs.
func (s *Storage) String() string {
	return fmt.Sprintf("redis cache (prefix %q, encrypted %t)", s.o.KeyPrefix, s.Encrypted())
}
