package redis

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"
)

// Options configure a [Storage]. The zero value is ready to use: no
// encryption, keys under "azid:", and the defaults documented per field.
type Options struct {
	// KeyPrefix starts every Redis key the storage uses. Give each
	// application (or each set of credentials that may share tokens) its
	// own prefix when they share a Redis database. Default "azid:".
	KeyPrefix string

	// EncryptionKeys turn on encryption at rest when not empty. The first
	// key seals every value written; any listed key opens values sealed
	// with it. Keys are 16, 24 or 32 bytes (AES-128, -192, -256).
	EncryptionKeys []EncryptionKey

	// RefreshTokenTTL is how long a key holding refresh tokens and
	// accounts (user flows) lives after its last write. Default 90 days,
	// Entra's refresh token inactivity lifetime.
	RefreshTokenTTL time.Duration

	// ExpirySlack is added to the expiry of a key's latest access token to
	// make its TTL, so clock differences between machines never drop a
	// still-usable token. Default 5 minutes.
	ExpirySlack time.Duration

	// OperationTimeout bounds each Redis operation, whatever the client's
	// own timeouts. Default 250 ms: a miss that cannot reach Redis
	// quickly should go to Entra instead.
	OperationTimeout time.Duration

	// RetryInterval is how long the storage fails at once, without asking
	// Redis, after three consecutive failed operations. When it has
	// passed, one operation probes Redis; success resumes normal service.
	// Default 1 second.
	RetryInterval time.Duration

	// LockTTL is the lifetime of a distributed lock's Redis key. The owner
	// renews it while it holds the lock, so it bounds how long a crashed
	// owner's lock blocks others. Default 5 seconds.
	LockTTL time.Duration

	// LockMaxHold caps how long an owner keeps renewing its lock, so a
	// stuck owner cannot block the fleet forever. Default 1 minute, the
	// cache engine's limit on one token acquisition.
	LockMaxHold time.Duration

	// LogInterval is the least time between two log records about Redis
	// errors (or undecryptable values); the records in between are
	// counted, not logged. Default 1 minute.
	LogInterval time.Duration

	// Logger receives warnings about Redis errors and undecryptable
	// values, and a note when Redis is reachable again. Tokens are never
	// logged. Nil discards them.
	Logger *slog.Logger
}

// EncryptionKey is an AES key and the ID written in the header of values it
// seals.
type EncryptionKey struct {
	// ID names the key in sealed values: 1 to 255 bytes, unique among
	// the listed keys. Empty means an ID derived from the key
	// (a SHA-256 prefix), which is fine unless you want readable IDs.
	ID string
	// Key is 16, 24 or 32 random bytes.
	Key []byte
}

const (
	defaultKeyPrefix        = "azid:"
	defaultRefreshTokenTTL  = 90 * 24 * time.Hour
	defaultExpirySlack      = 5 * time.Minute
	defaultOperationTimeout = 250 * time.Millisecond
	defaultRetryInterval    = time.Second
	defaultLockTTL          = 5 * time.Second
	defaultLockMaxHold      = time.Minute
	defaultLogInterval      = time.Minute

	// failureThreshold consecutive failures stop the storage asking Redis
	// for RetryInterval.
	failureThreshold = 3
	// minLockTTL keeps renewal (every third of the TTL) sensible.
	minLockTTL = 30 * time.Millisecond
)

// sealingKey is an EncryptionKey ready for use.
type sealingKey struct {
	id   string
	aead cipher.AEAD
}

// settings are Options with defaults applied and keys prepared.
type settings struct {
	Options
	keys []sealingKey
}

func newSettings(o *Options) (settings, error) {
	var s settings
	if o != nil {
		s.Options = *o
	}
	s.EncryptionKeys = nil // prepared below; do not keep the caller's slice
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"RefreshTokenTTL", &s.RefreshTokenTTL, defaultRefreshTokenTTL},
		{"ExpirySlack", &s.ExpirySlack, defaultExpirySlack},
		{"OperationTimeout", &s.OperationTimeout, defaultOperationTimeout},
		{"RetryInterval", &s.RetryInterval, defaultRetryInterval},
		{"LockTTL", &s.LockTTL, defaultLockTTL},
		{"LockMaxHold", &s.LockMaxHold, defaultLockMaxHold},
		{"LogInterval", &s.LogInterval, defaultLogInterval},
	}
	for _, d := range durations {
		switch {
		case *d.v < 0:
			return settings{}, fmt.Errorf("redis cache: Options.%s is negative (%v); use 0 for the default %v", d.name, *d.v, d.def)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if s.LockTTL < minLockTTL {
		return settings{}, fmt.Errorf("redis cache: Options.LockTTL %v is too short; use at least %v", s.LockTTL, minLockTTL)
	}
	if s.KeyPrefix == "" {
		s.KeyPrefix = defaultKeyPrefix
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if o == nil {
		return s, nil
	}
	seen := make(map[string]bool, len(o.EncryptionKeys))
	for i, k := range o.EncryptionKeys {
		switch len(k.Key) {
		case 16, 24, 32:
		default:
			return settings{}, fmt.Errorf("redis cache: EncryptionKeys[%d] is %d bytes; an AES key is 16, 24 or 32 random bytes", i, len(k.Key))
		}
		id := k.ID
		if id == "" {
			sum := sha256.Sum256(k.Key)
			id = "sha256:" + hex.EncodeToString(sum[:8])
		}
		if len(id) > 255 {
			return settings{}, fmt.Errorf("redis cache: EncryptionKeys[%d].ID is %d bytes; the limit is 255", i, len(id))
		}
		if seen[id] {
			return settings{}, fmt.Errorf("redis cache: EncryptionKeys[%d].ID %q is listed twice; key IDs must be unique", i, id)
		}
		seen[id] = true
		block, err := aes.NewCipher(k.Key) // copies the key
		if err != nil {
			return settings{}, fmt.Errorf("redis cache: EncryptionKeys[%d]: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return settings{}, fmt.Errorf("redis cache: EncryptionKeys[%d]: %w", i, err)
		}
		s.keys = append(s.keys, sealingKey{id: id, aead: aead})
	}
	return s, nil
}
