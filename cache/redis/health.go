package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUnavailable is returned, wrapped, by operations the storage did not
// send because Redis failed repeatedly and Options.RetryInterval has not
// passed yet.
var ErrUnavailable = errors.New("redis cache: Redis is failing; not asking it again yet")

// Stats are a Storage's counters since it was created.
type Stats struct {
	// Reads, Writes and Deletes count operations the storage was asked
	// for, whatever their outcome.
	Reads, Writes, Deletes uint64
	// Hits are reads that returned a value; Misses found none (or one
	// that did not open, see Undecryptable).
	Hits, Misses uint64
	// Undecryptable counts values that could not be opened and were
	// treated as misses: wrong or unknown key, tampered, or not
	// encrypted while encryption is on.
	Undecryptable uint64
	// Errors counts Redis operations that failed, Timeouts included.
	Errors uint64
	// Timeouts counts operations that exceeded Options.OperationTimeout.
	Timeouts uint64
	// Skipped counts operations not sent to Redis because it was failing
	// (they returned ErrUnavailable).
	Skipped uint64
	// Locks counts distributed locks acquired; LockWaits those for which
	// another owner had to be waited for; LocksLost those whose Redis key
	// expired or was taken over before the owner released it.
	Locks, LockWaits, LocksLost uint64
}

type counters struct {
	reads, writes, deletes      atomic.Uint64
	hits, misses                atomic.Uint64
	undecryptable               atomic.Uint64
	errors, timeouts            atomic.Uint64
	skipped                     atomic.Uint64
	locks, lockWaits, locksLost atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Reads: c.reads.Load(), Writes: c.writes.Load(), Deletes: c.deletes.Load(),
		Hits: c.hits.Load(), Misses: c.misses.Load(),
		Undecryptable: c.undecryptable.Load(),
		Errors:        c.errors.Load(), Timeouts: c.timeouts.Load(),
		Skipped: c.skipped.Load(),
		Locks:   c.locks.Load(), LockWaits: c.lockWaits.Load(), LocksLost: c.locksLost.Load(),
	}
}

// breaker stops the storage from asking a failing Redis on every call:
// after failureThreshold consecutive failures it fails at once until
// RetryInterval has passed, then lets one probe through.
type breaker struct {
	failures  atomic.Int64
	openUntil atomic.Int64 // unix nanoseconds
	probing   atomic.Bool
}

// admit reports whether an operation may go to Redis now.
func (b *breaker) admit(now time.Time) bool {
	if b.failures.Load() < failureThreshold {
		return true
	}
	if now.UnixNano() < b.openUntil.Load() {
		return false
	}
	// The interval has passed: one caller probes, the others keep failing
	// fast until it reports.
	return b.probing.CompareAndSwap(false, true)
}

// success reports an operation that reached Redis; it returns the number of
// consecutive failures it ends (0 when Redis was healthy).
func (b *breaker) success() int64 {
	n := b.failures.Swap(0)
	if n != 0 {
		b.openUntil.Store(0)
		b.probing.Store(false)
	}
	return n
}

func (b *breaker) failure(now time.Time, retry time.Duration) {
	if b.failures.Add(1) >= failureThreshold {
		b.openUntil.Store(now.Add(retry).UnixNano())
		b.probing.Store(false)
	}
}

// limiter lets one log record through per interval and counts the ones it
// holds back, so the next record can say how many there were.
type limiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many records were held back
// since the last one logged.
func (l *limiter) allow(now time.Time, every time.Duration) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < every {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return true, n
}

// do runs op against Redis with the storage's operation timeout, in its own
// goroutine so that a client configured to ignore context deadlines cannot
// hold the caller past it. It keeps the counters and the breaker.
func do[T any](s *Storage, ctx context.Context, name, partition string, op func(context.Context) (T, error)) (T, error) {
	var zero T
	if !s.health.admit(s.now()) {
		s.stats.skipped.Add(1)
		return zero, fmt.Errorf("redis cache: %s %q: %w", name, partition, ErrUnavailable)
	}
	opCtx, cancel := context.WithTimeout(ctx, s.o.OperationTimeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := op(opCtx)
		ch <- result{v, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-opCtx.Done():
		r.err = opCtx.Err()
	}
	if r.err == nil {
		if n := s.health.success(); n != 0 {
			s.o.Logger.Info("redis cache: Redis is reachable again", slog.Int64("failedOperations", n))
		}
		return r.v, nil
	}
	if ctx.Err() != nil {
		// The caller gave up; that says nothing about Redis. If this was
		// the probe, let another caller probe.
		s.health.probing.Store(false)
		return zero, fmt.Errorf("redis cache: %s %q: %w", name, partition, ctx.Err())
	}
	s.stats.errors.Add(1)
	timeout := errors.Is(r.err, context.DeadlineExceeded)
	if timeout {
		s.stats.timeouts.Add(1)
		r.err = fmt.Errorf("no answer within OperationTimeout (%v): %w", s.o.OperationTimeout, r.err)
	}
	s.health.failure(s.now(), s.o.RetryInterval)
	err := fmt.Errorf("redis cache: %s %q: %w", name, partition, r.err)
	if ok, held := s.errLog.allow(s.now(), s.o.LogInterval); ok {
		s.o.Logger.Warn("redis cache: Redis operation failed; serving from memory or the network until it recovers",
			slog.String("error", err.Error()),
			slog.Int("similarErrorsNotLogged", held),
			slog.Uint64("errorsTotal", s.stats.errors.Load()))
	}
	return zero, err
}
