package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// The lock's Redis key holds the owner's random token; only a caller that
// presents it may extend or delete the key, so an owner whose lock expired
// and was taken over cannot release the new owner's lock.
var (
	releaseScript = goredis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
	renewScript   = goredis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)
)

// Polling bounds while another owner holds a lock. Owners hold it for the
// length of one token request, so a short first wait matters most.
const (
	lockPollMin = 2 * time.Millisecond
	lockPollMax = 50 * time.Millisecond
)

// Lock implements [cache.Locker]: it blocks until this caller owns the
// distributed lock for partition, or ctx ends. Redis errors are returned at
// once (the caller then goes on without the lock: at worst two instances
// ask Entra for the same token). The lock's key expires after
// Options.LockTTL unless its owner, alive, renews it; renewal stops at
// unlock or after Options.LockMaxHold. The returned unlock may be called
// more than once.
func (s *Storage) Lock(ctx context.Context, partition string) (func(), error) {
	key := s.lockKey(partition)
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("redis cache: lock owner token: %w", err)
	}
	owner := hex.EncodeToString(raw[:])
	wait := lockPollMin
	waited := false
	for {
		ok, err := do(s, ctx, "lock", partition, func(ctx context.Context) (bool, error) {
			return s.client.SetNX(ctx, key, owner, s.o.LockTTL).Result()
		})
		if err != nil {
			return nil, err
		}
		if ok {
			break
		}
		if !waited {
			waited = true
			s.stats.lockWaits.Add(1)
		}
		// Full jitter keeps a crowd of waiters from polling in step.
		t := time.NewTimer(wait/2 + mrand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("redis cache: lock %q: %w", partition, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, lockPollMax)
	}
	s.stats.locks.Add(1)

	l := &heldLock{partition: partition, key: key, owner: owner, stop: make(chan struct{})}
	go s.renew(l)
	return func() {
		l.once.Do(func() {
			close(l.stop)
			s.release(l)
		})
	}, nil
}

// heldLock is one acquired lock.
type heldLock struct {
	partition, key, owner string
	stop                  chan struct{}
	once                  sync.Once
	lost                  atomic.Bool
}

// lose counts the lock as lost, once.
func (s *Storage) lose(l *heldLock) {
	if l.lost.CompareAndSwap(false, true) {
		s.stats.locksLost.Add(1)
	}
}

// renew extends the lock's key every third of its TTL until it is released,
// lost, or LockMaxHold has passed.
func (s *Storage) renew(l *heldLock) {
	every := s.o.LockTTL / 3
	t := time.NewTicker(every)
	defer t.Stop()
	deadline := time.NewTimer(s.o.LockMaxHold)
	defer deadline.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-deadline.C:
			s.o.Logger.Warn("redis cache: a lock was held longer than LockMaxHold; no longer renewing it",
				slog.String("key", l.key), slog.Duration("lockMaxHold", s.o.LockMaxHold))
			return
		case <-t.C:
		}
		n, err := do(s, context.Background(), "renew lock", l.partition, func(ctx context.Context) (int64, error) {
			return renewScript.Run(ctx, s.client, []string{l.key}, l.owner, s.o.LockTTL.Milliseconds()).Int64()
		})
		if err == nil && n == 0 {
			// The key expired (Redis was unreachable longer than the TTL)
			// or was taken over: another instance may be acquiring too.
			s.lose(l)
			return
		}
	}
}

// release deletes the lock's key if this owner still holds it. A failure
// is harmless: the key expires within LockTTL.
func (s *Storage) release(l *heldLock) {
	n, err := do(s, context.Background(), "unlock", l.partition, func(ctx context.Context) (int64, error) {
		return releaseScript.Run(ctx, s.client, []string{l.key}, l.owner).Int64()
	})
	if err == nil && n == 0 {
		s.lose(l)
	}
}
