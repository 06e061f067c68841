package redis_test

import (
	"crypto/rand"
	"fmt"
	"log"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/azid-go/azid/cache/redis"
)

// A fleet shares tokens through Redis, encrypted with an application key
// that every instance is given (from a secret store; generated here). Pass
// the storage as the Storage of a persistent cache (cache.Options) and the
// cache to the credentials. (Compiled, not run: it needs a Redis server;
// the package's tests run the same against a real one.)
func Example() {
	key := make([]byte, 32)
	rand.Read(key)
	rdb := goredis.NewUniversalClient(&goredis.UniversalOptions{Addrs: []string{"127.0.0.1:6379"}})
	defer rdb.Close()
	s, err := redis.New(rdb, &redis.Options{
		KeyPrefix:        "orders-api:",
		EncryptionKeys:   []redis.EncryptionKey{{ID: "2026-11", Key: key}},
		OperationTimeout: 100 * time.Millisecond,
		Logger:           slog.Default(),
	})
	if err != nil {
		log.Fatal(err)
	}
	// Export the counters to your metrics.
	st := s.Stats()
	fmt.Println(st.Hits, st.Misses, st.Errors)
}
