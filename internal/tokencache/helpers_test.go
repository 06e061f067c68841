package tokencache

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock; the engine never sleeps, so tests move time
// by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// source is a scriptable token source. Tokens are numbered "tok-1", "tok-2"…
// in acquisition order, so a test can tell which acquisition served a call.
type source struct {
	calls atomic.Int64

	mu        sync.Mutex
	lifetime  time.Duration
	refreshIn time.Duration
	err       error
	gate      chan struct{} // when set, Acquire blocks until it is closed (or ctx ends)
	started   chan struct{} // when set, receives once per Acquire call on entry
	reqs      []Request
}

func newSource(lifetime time.Duration) *source { return &source{lifetime: lifetime} }

func (s *source) Acquire(ctx context.Context, r Request) (Token, error) {
	n := s.calls.Add(1)
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	gate, started := s.gate, s.started
	s.mu.Unlock()
	if started != nil {
		started <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return Token{}, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return Token{}, s.err
	}
	return Token{AccessToken: fmt.Sprintf("tok-%d", n), ExpiresIn: s.lifetime, RefreshIn: s.refreshIn}, nil
}

func (s *source) set(f func(s *source)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *source) lastRequest() Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[len(s.reqs)-1]
}

// retryAfterErr is a failure that carries a Retry-After, as sts errors do.
type retryAfterErr struct{ d time.Duration }

func (e retryAfterErr) Error() string                     { return fmt.Sprintf("throttled, retry after %s", e.d) }
func (e retryAfterErr) RetryAfterDuration() time.Duration { return e.d }

func newTestCache(t testing.TB, src Acquirer, clk Clock, mod func(*Options)) *Cache {
	t.Helper()
	o := Options{Clock: clk, Rand: func() float64 { return 0 }, Authority: "login.example", ClientID: "client"}
	if mod != nil {
		mod(&o)
	}
	return New(src, o)
}

var req = Request{TenantID: "tenant", Scopes: []string{"api://demo/.default"}}

func mustGet(t testing.TB, c *Cache, r Request) string {
	t.Helper()
	tok, err := c.GetToken(context.Background(), &r)
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	return tok.Token
}

// eventually polls cond until it holds or a generous deadline passes; it is
// for waiting on background goroutines, never for asserting speed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// safeBuffer is a bytes.Buffer for loggers written from several goroutines.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newTextLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// lookup returns r's entry, or nil, as Invalidate finds it.
func (c *Cache) lookup(r *Request) *entry {
	n, err := normalize(*r)
	if err != nil {
		return nil
	}
	h, _ := hashKey(c.seed, &n)
	return c.idx.find(h, &n)
}
