//go:build unix

package redis

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// benchBlob is the size of a partition holding one app token: an MSAL
// document with one access token (a ~1.5 KB JWT) and its metadata.
var benchBlob = bytes.Repeat([]byte("x"), 2048)

// BenchmarkL2Hit is a second-level hit: one Redis GET of a partition (and
// its decryption), what an instance pays when another instance's token is
// in Redis and not yet in its memory. L1 hits never reach here.
func BenchmarkL2Hit(b *testing.B) {
	r := startRedis(b)
	for _, enc := range []bool{false, true} {
		b.Run(fmt.Sprintf("encrypted=%t", enc), func(b *testing.B) {
			o := &Options{}
			if enc {
				o.EncryptionKeys = []EncryptionKey{key1}
			}
			s := newStorage(b, r, o)
			ctx := context.Background()
			if err := s.Write(ctx, "app:h:c:t", benchBlob, time.Now().Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				v, err := s.Read(ctx, "app:h:c:t")
				if err != nil || len(v) != len(benchBlob) {
					b.Fatal(v, err)
				}
			}
		})
	}
}

// BenchmarkWrite is the write after a network acquisition.
func BenchmarkWrite(b *testing.B) {
	r := startRedis(b)
	s := newStorage(b, r, &Options{EncryptionKeys: []EncryptionKey{key1}})
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Write(ctx, "app:h:c:t", benchBlob, exp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLockUnlock is an uncontended distributed lock: the overhead a
// miss pays for "one refresh per key across the fleet".
func BenchmarkLockUnlock(b *testing.B) {
	r := startRedis(b)
	s := newStorage(b, r, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		unlock, err := s.Lock(ctx, "app:h:c:t")
		if err != nil {
			b.Fatal(err)
		}
		unlock()
	}
}
