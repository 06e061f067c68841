package tokencache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lockingStore is a memStore with a fake fleet lock: one holder per key at
// a time, as a Redis lock gives across machines.
type lockingStore struct {
	*memStore
	mu      sync.Mutex
	held    map[string]chan struct{}
	locks   atomic.Int64
	unlocks atomic.Int64
	failing error
	deleted []string
}

func newLockingStore() *lockingStore {
	return &lockingStore{memStore: newMemStore(), held: map[string]chan struct{}{}}
}

// heldLock is a lockingStore's lock on one key.
type heldLock struct {
	s    *lockingStore
	k    Key
	once sync.Once
	name string
}

func (l *heldLock) Load(ctx context.Context) (Stored, bool, error) { return l.s.Load(ctx, l.k) }
func (l *heldLock) Save(ctx context.Context, t Stored) error       { return l.s.Save(ctx, l.k, t) }
func (l *heldLock) Unlock() {
	l.once.Do(func() {
		l.s.unlocks.Add(1)
		l.s.mu.Lock()
		close(l.s.held[l.name])
		delete(l.s.held, l.name)
		l.s.mu.Unlock()
	})
}

func (s *lockingStore) Lock(ctx context.Context, k Key) (StoreLock, error) {
	if s.failing != nil {
		return nil, s.failing
	}
	name := storeKey(k)
	for {
		s.mu.Lock()
		ch, busy := s.held[name]
		if !busy {
			s.held[name] = make(chan struct{})
			s.mu.Unlock()
			s.locks.Add(1)
			return &heldLock{s: s, k: k, name: name}, nil
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *lockingStore) Delete(_ context.Context, k Key, token string) error {
	s.memStore.mu.Lock()
	defer s.memStore.mu.Unlock()
	if t, ok := s.m[storeKey(k)]; ok && t.AccessToken == token {
		delete(s.m, storeKey(k))
	}
	s.deleted = append(s.deleted, token)
	return nil
}

// Of 8 instances (caches with their own token sources) each hit by 25
// concurrent callers for the same key, exactly one asks the network; the
// others wait at the fleet lock and read its token from the store.
func TestLockingStoreOneAcquisitionPerFleet(t *testing.T) {
	store := newLockingStore()
	clk := newFakeClock()
	var total atomic.Int64
	caches := make([]*Cache, 8)
	srcs := make([]*source, 8)
	for i := range caches {
		srcs[i] = newSource(time.Hour)
		caches[i] = newTestCache(t, srcs[i], clk, func(o *Options) { o.Store = store })
	}
	var wg sync.WaitGroup
	tokens := make(chan string, 200)
	for i := range 200 {
		wg.Go(func() {
			tok, err := caches[i%8].GetToken(context.Background(), &req)
			if err != nil {
				t.Error(err)
				return
			}
			tokens <- tok.Token
		})
	}
	wg.Wait()
	close(tokens)
	for _, s := range srcs {
		total.Add(s.calls.Load())
	}
	if total.Load() != 1 {
		t.Fatalf("%d network acquisitions across the fleet, want 1", total.Load())
	}
	for tok := range tokens {
		if tok != "tok-1" {
			t.Fatalf("a caller got %q", tok)
		}
	}
	// Instances that started after the token was stored find it without
	// locking; every lock taken is released.
	eventually(t, "every lock released", func() bool { return store.locks.Load() == store.unlocks.Load() })
	if l := store.locks.Load(); l < 1 || l > 8 {
		t.Fatalf("%d locks for 8 instances", l)
	}
}

// The lock is released when the acquisition fails, and a failing lock does
// not stop the acquisition.
func TestLockingStoreFailures(t *testing.T) {
	store := newLockingStore()
	src := newSource(time.Hour)
	src.set(func(s *source) { s.err = errors.New("entra down") })
	c := newTestCache(t, src, newFakeClock(), func(o *Options) { o.Store = store })
	if _, err := c.GetToken(context.Background(), &req); err == nil {
		t.Fatal("want the acquisition's error")
	}
	eventually(t, "the lock released after a failed acquisition", func() bool { return store.unlocks.Load() == 1 })

	store2 := newLockingStore()
	store2.failing = errors.New("redis down")
	c2 := newTestCache(t, newSource(time.Hour), newFakeClock(), func(o *Options) { o.Store = store2 })
	if got := mustGet(t, c2, req); got != "tok-1" {
		t.Fatalf("got %q", got)
	}
	if c2.Stats().StoreErrors < 1 {
		t.Fatal("lock failure not counted")
	}
}

// Invalidating a token deletes it from a DeletingStore by value.
func TestInvalidateDeletesFromStore(t *testing.T) {
	store := newLockingStore()
	c := newTestCache(t, newSource(time.Hour), newFakeClock(), func(o *Options) { o.Store = store })
	tok := mustGet(t, c, req)
	eventually(t, "the store write", func() bool { _, s := store.counts(); return s == 1 })
	if !c.Invalidate(&req, tok) {
		t.Fatal("not invalidated")
	}
	eventually(t, "the store delete", func() bool {
		store.memStore.mu.Lock()
		defer store.memStore.mu.Unlock()
		return len(store.deleted) == 1 && len(store.m) == 0
	})
}
