//go:build unix

package redis

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/internal/persist"
	"github.com/azid-go/azid/internal/tokencache"
)

func oboKey(user int) tokencache.Key {
	return tokencache.Key{Authority: "login.example", ClientID: "client", TenantID: "tenant",
		Scopes: []string{"api://downstream/.default"}, AssertionHash: fmt.Sprintf("user-%06d", user)}
}

func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// 100,000 OBO users on Redis, each looked up once through the persistent
// cache (a miss that reads and decodes the user's partition): the heap
// after GC grows by about the bound's worth of partitions
// (cache.Options.MaxPartitions, default 1,000), not by 100,000 of them
// (about 160 MiB when nothing was dropped).
func TestManyOBOUsersBoundedMemory(t *testing.T) {
	const users = 100_000
	r := startRedis(t)
	s := newStorage(t, r, nil)
	c, err := cache.New(&cache.Options{Storage: s})
	if err != nil {
		t.Fatal(err)
	}
	ts := persist.TokenStore(c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// One user's value, written the normal way, is the template of all
	// the others, which are written in pipelined batches.
	now := time.Now().Truncate(time.Second)
	tok := func(u int) tokencache.Stored {
		return tokencache.Stored{AccessToken: fmt.Sprintf("tok-%06d", u), CachedAt: now, ExpiresOn: now.Add(time.Hour)}
	}
	if err := ts.Save(ctx, oboKey(0), tok(0)); err != nil {
		t.Fatal(err)
	}
	rc := r.Client(t)
	keyOf := func(u int) string {
		return s.dataKey(s.Partition(cache.PartitionKey{Environment: "login.example", ClientID: "client", TenantID: "tenant",
			Resource: "api://downstream", UserAssertionHash: fmt.Sprintf("user-%06d", u)}))
	}
	tmpl, err := rc.Get(ctx, keyOf(0)).Result()
	if err != nil {
		t.Fatal(err)
	}
	const batch = 2000
	for i := 0; i < users; i += batch {
		pipe := rc.Pipeline()
		for u := i; u < i+batch; u++ {
			pipe.Set(ctx, keyOf(u), strings.ReplaceAll(tmpl, "000000", fmt.Sprintf("%06d", u)), time.Hour)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}

	base := heapAfterGC()
	const workers = 4
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for u := w; u < users; u += workers {
				got, ok, err := ts.Load(ctx, oboKey(u))
				if err != nil || !ok || got.AccessToken != tok(u).AccessToken {
					errs <- fmt.Errorf("user %d: found %v, %v", u, ok, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	grown := int64(heapAfterGC()) - int64(base)
	t.Logf("%d OBO users looked up: the heap after GC grew by %d KiB", users, grown/1024)
	if grown > 16<<20 {
		t.Fatalf("the heap grew by %d MiB after GC: partitions are not bounded", grown>>20)
	}
	runtime.KeepAlive(c)
}
