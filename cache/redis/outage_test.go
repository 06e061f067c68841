//go:build unix

package redis

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRedisKilledAndRestarted: with Redis gone, operations fail (they never
// hang), only the first few reach for Redis, errors are logged once; when
// Redis is back, service resumes after RetryInterval.
func TestRedisKilledAndRestarted(t *testing.T) {
	r := startRedis(t)
	log := &logRecorder{}
	s := newStorage(t, r, &Options{RetryInterval: time.Hour, LogInterval: time.Hour, Logger: slog.New(log)})
	// The test moves the storage's clock past RetryInterval instead of
	// waiting for it.
	var skew atomic.Int64
	s.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	ctx := ctxT(t)
	if err := s.Write(ctx, "p", blob, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	r.Stop()
	const calls = 50
	var wg sync.WaitGroup
	for range calls {
		wg.Go(func() {
			if _, err := s.Read(ctx, "p"); err == nil {
				t.Error("Read succeeded with Redis down")
			}
			if err := s.Write(ctx, "p", blob, time.Now().Add(time.Hour)); err == nil {
				t.Error("Write succeeded with Redis down")
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	if st.Errors+st.Skipped != 2*calls {
		t.Fatalf("Errors %d + Skipped %d; want %d failed operations", st.Errors, st.Skipped, 2*calls)
	}
	// Concurrent calls may all have been admitted before the first failure
	// came back; once three failed, the rest were not sent.
	if st.Skipped == 0 {
		t.Fatalf("no operation was skipped: every call still reached for Redis (%+v)", st)
	}
	// Sequential calls now: every one fails at once.
	before := s.Stats()
	for range 10 {
		_, err := s.Read(ctx, "p")
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Read while the breaker is open = %v; want ErrUnavailable", err)
		}
	}
	if after := s.Stats(); after.Skipped != before.Skipped+10 || after.Errors != before.Errors {
		t.Fatalf("Stats %+v → %+v; want 10 more skipped and no more errors", before, after)
	}
	if n := log.count("Redis operation failed"); n != 1 {
		t.Fatalf("%d error log records; want 1 per LogInterval: %q", n, log.records())
	}

	// Redis comes back (empty: it kept nothing). Until RetryInterval has
	// passed nothing is sent; then one probe, and service resumes.
	r.Restart()
	if _, err := s.Read(ctx, "p"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Read before RetryInterval = %v; want ErrUnavailable", err)
	}
	// go-redis itself keeps answering with its last dial error for up to
	// a second after many failed dials, so the first probe may fail: each
	// failed probe waits another RetryInterval.
	for {
		skew.Add(int64(2 * time.Hour))
		got, err := s.Read(ctx, "p")
		if err == nil {
			if got != nil {
				t.Fatalf("first Read after recovery = %q; want a miss (Redis restarted empty)", got)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Redis never became usable again: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Write(ctx, "p", blob, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(ctx, "p"); !bytes.Equal(got, blob) || err != nil {
		t.Fatalf("Read after recovery = %q, %v", got, err)
	}
	if log.count("reachable again") != 1 {
		t.Fatalf("no recovery note in the log: %q", log.records())
	}
	for _, rec := range log.records() {
		if strings.Contains(rec, "SECRET-ACCESS-TOKEN") {
			t.Fatalf("the log contains the token: %s", rec)
		}
	}
}

// TestHungRedisTimesOut: a Redis that accepts but never answers (SIGSTOP)
// costs OperationTimeout per operation, not the client's much longer
// socket timeouts, and only until the breaker opens.
func TestHungRedisTimesOut(t *testing.T) {
	r := startRedis(t)
	// Setup and checks go through a patient storage so that a loaded
	// machine cannot fail them.
	patient := newStorage(t, r, &Options{OperationTimeout: 10 * time.Second})
	s := newStorage(t, r, &Options{OperationTimeout: 50 * time.Millisecond, RetryInterval: time.Hour})
	var skew atomic.Int64
	s.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	ctx := ctxT(t)
	if err := patient.Write(ctx, "p", blob, time.Time{}); err != nil {
		t.Fatal(err)
	}
	r.Pause()
	defer r.Resume()
	for range 10 {
		if _, err := s.Read(ctx, "p"); err == nil {
			t.Fatal("Read succeeded from a paused Redis")
		}
	}
	st := s.Stats()
	if st.Timeouts != failureThreshold || st.Errors != failureThreshold || st.Skipped != 10-failureThreshold {
		t.Fatalf("Stats = %+v; want %d timeouts, then skipped", st, failureThreshold)
	}
	r.Resume()
	if got, err := patient.Read(ctx, "p"); !bytes.Equal(got, blob) || err != nil {
		t.Fatalf("Read after Redis resumed = %q, %v", got, err)
	}
	// Past RetryInterval the impatient storage is served again.
	for {
		skew.Add(int64(2 * time.Hour))
		got, err := s.Read(ctx, "p")
		if err == nil {
			if !bytes.Equal(got, blob) {
				t.Fatalf("Read after recovery = %q", got)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the storage never recovered: %v", err)
		}
	}
}

// TestCallerCancellationIsNotARedisFailure: a caller giving up does not
// count against Redis.
func TestCallerCancellationIsNotARedisFailure(t *testing.T) {
	r := startRedis(t)
	s := newStorage(t, r, nil)
	ctx, cancel := contextCancelled()
	defer cancel()
	for range 5 {
		s.Read(ctx, "p")
	}
	if st := s.Stats(); st.Errors != 0 || st.Skipped != 0 {
		t.Fatalf("Stats = %+v; want no errors", st)
	}
	if got, err := s.Read(ctxT(t), "p"); got != nil || err != nil {
		t.Fatalf("Read = %q, %v", got, err)
	}
}

// TestLockWithRedisDown: Lock fails at once (the caller goes on without
// it) instead of waiting for its context.
func TestLockWithRedisDown(t *testing.T) {
	r := startRedis(t)
	s := newStorage(t, r, nil)
	r.Stop()
	if _, err := s.Lock(ctxT(t), "p"); err == nil {
		t.Fatal("Lock succeeded with Redis down")
	}
	if st := s.Stats(); st.Errors != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}
