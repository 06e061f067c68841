//go:build unix

package persist

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file runs the persistent cache over a real redis-server with a
// minimal storage of its own (one Redis key per OBO user assertion, as
// cache/redis partitions), spoken to in RESP directly, so that this
// package's tests need no Redis client library.

// startRedisServer starts a redis-server on a loopback port, killed when the
// test ends, and returns its address. The test fails when it is missing:
// CI installs the Debian package redis-server.
func startRedisServer(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		bin = "/usr/bin/redis-server"
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("redis-server is not installed (not on PATH, not at %s): install the Debian package redis-server", bin)
		}
	}
	for attempt := 0; attempt < 5; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, port, _ := net.SplitHostPort(addr)
		cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting redis-server: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				deadline = time.Time{}
				continue
			default:
			}
			if c, err := dialRESP(addr); err == nil {
				_, err := c.do("PING")
				c.close()
				if err == nil {
					t.Cleanup(func() { cmd.Process.Kill(); <-exited })
					return addr
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		cmd.Process.Kill()
		<-exited
	}
	t.Fatal("redis-server did not start")
	return ""
}

// respConn is one Redis connection.
type respConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func dialRESP(addr string) (*respConn, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	return &respConn{c: c, r: bufio.NewReaderSize(c, 1<<16), w: bufio.NewWriterSize(c, 1<<16)}, nil
}

func (c *respConn) close() { c.c.Close() }

func (c *respConn) send(args ...string) {
	fmt.Fprintf(c.w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(c.w, "$%d\r\n%s\r\n", len(a), a)
	}
}

// reply reads one reply: a string (simple or bulk), an integer as text, or
// nil for a nil bulk.
func (c *respConn) reply() (*string, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, errors.New("redis: empty reply")
	}
	switch line[0] {
	case '+', ':':
		s := line[1:]
		return &s, nil
	case '-':
		return nil, errors.New("redis: " + line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := ioReadFull(c.r, buf); err != nil {
			return nil, err
		}
		s := string(buf[:n])
		return &s, nil
	}
	return nil, fmt.Errorf("redis: unexpected reply %q", line)
}

func ioReadFull(r *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (c *respConn) do(args ...string) (*string, error) {
	c.send(args...)
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	return c.reply()
}

// respStorage is a Storage, Locker and Partitioner on Redis: one key per
// OBO assertion, a SET NX PX lock.
type respStorage struct {
	pool chan *respConn
}

func (s *respStorage) with(ctx context.Context, f func(c *respConn) error) error {
	select {
	case c := <-s.pool:
		defer func() { s.pool <- c }()
		return f(c)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *respStorage) Read(ctx context.Context, p string) ([]byte, error) {
	var out []byte
	err := s.with(ctx, func(c *respConn) error {
		v, err := c.do("GET", "tok:"+p)
		if v != nil {
			out = []byte(*v)
		}
		return err
	})
	return out, err
}

func (s *respStorage) Write(ctx context.Context, p string, data []byte, _ time.Time) error {
	return s.with(ctx, func(c *respConn) error { _, err := c.do("SET", "tok:"+p, string(data)); return err })
}

func (s *respStorage) Delete(ctx context.Context, p string) error {
	return s.with(ctx, func(c *respConn) error { _, err := c.do("DEL", "tok:"+p); return err })
}

func (s *respStorage) Lock(ctx context.Context, p string) (func(), error) {
	for {
		var got bool
		err := s.with(ctx, func(c *respConn) error {
			v, err := c.do("SET", "lock:"+p, "1", "NX", "PX", "5000")
			got = v != nil
			return err
		})
		if err != nil {
			return nil, err
		}
		if got {
			return func() {
				s.with(context.Background(), func(c *respConn) error { _, err := c.do("DEL", "lock:"+p); return err })
			}, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func (s *respStorage) Partition(k PartitionKey) string {
	if k.UserAssertionHash != "" {
		return "obo:" + k.ClientID + ":" + k.UserAssertionHash
	}
	return "app:" + k.ClientID + ":" + k.TenantID + ":" + k.Resource
}

func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// 100,000 OBO users on Redis: after every one of them was looked up (each
// a miss that reads and decodes its partition) and some written, the cache
// holds at most MaxPartitions partitions, and the heap after GC grew by
// far less than 100,000 decoded documents would take.
func TestPartitionsBoundedOnRedis(t *testing.T) {
	const users, bound = 100_000, DefaultMaxPartitions
	addr := startRedisServer(t)

	// One partition's stored form, with a marker to make it each user's.
	mem := &memStorage{m: map[string][]byte{}}
	if err := TokenStore(New(mem, Options{})).Save(ctx, oboKey(0), stored("tok-000000")); err != nil {
		t.Fatal(err)
	}
	tmpl := string(mem.m["user-000000"])

	// Fill Redis in pipelined batches.
	c, err := dialRESP(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	const batch = 2000
	for i := 0; i < users; i += batch {
		for u := i; u < i+batch; u++ {
			id := fmt.Sprintf("%06d", u)
			c.send("SET", "tok:obo:client:user-"+id, strings.ReplaceAll(tmpl, "000000", id))
		}
		if err := c.w.Flush(); err != nil {
			t.Fatal(err)
		}
		for range batch {
			if _, err := c.reply(); err != nil {
				t.Fatal(err)
			}
		}
	}

	const workers = 4
	st := &respStorage{pool: make(chan *respConn, workers)}
	for range workers {
		rc, err := dialRESP(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.close()
		st.pool <- rc
	}
	base := heapAfterGC()
	pc := New(st, Options{})
	ts := TokenStore(pc)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for u := w; u < users; u += workers {
				got, ok, err := ts.Load(cctx, oboKey(u))
				if err != nil || !ok || got.AccessToken != fmt.Sprintf("tok-%06d", u) {
					errs <- fmt.Errorf("user %d: %+v %v %v", u, got, ok, err)
					return
				}
				// Every 50th user's token is replaced: the write path
				// (lock, re-read, write) under the bound too.
				if u%50 == 0 {
					if err := ts.Save(cctx, oboKey(u), stored(fmt.Sprintf("tok-%06d", u))); err != nil {
						errs <- fmt.Errorf("user %d: save: %v", u, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	held := pc.impl.heldPartitions()
	grown := int64(heapAfterGC()) - int64(base)
	t.Logf("%d users: %d partitions held (bound %d), heap after GC grew by %d KiB", users, held, bound, grown/1024)
	if held > bound {
		t.Fatalf("%d partitions held, bound %d", held, bound)
	}
	// A decoded partition with its index and raw sum takes a few KiB; the
	// bound's worth is well under 16 MiB, 100,000 of them far over.
	if grown > 16<<20 {
		t.Fatalf("the heap grew by %d MiB after GC", grown>>20)
	}
	runtime.KeepAlive(pc)
}
