//go:build unix

package redis

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// redisServer is a real redis-server run by a test on a loopback port of its
// own, without persistence, killed when the test ends.
type redisServer struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
}

// startRedis starts redis-server for t. The test fails when the binary is
// missing: CI installs the Debian package redis-server.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		bin = "/usr/bin/redis-server"
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("redis-server is not installed (not on PATH, not at %s): install the Debian package redis-server", bin)
		}
	}
	r := &redisServer{t: t, bin: bin, dir: t.TempDir()}
	for attempt := 0; ; attempt++ {
		r.port = freePort(t)
		if err := r.start(); err == nil {
			break
		} else if attempt == 4 {
			t.Fatalf("redis-server did not start: %v", err)
		}
	}
	t.Cleanup(r.Stop)
	return r
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (r *redisServer) start() error {
	log := filepath.Join(r.dir, fmt.Sprintf("redis-%d.log", time.Now().UnixNano()))
	cmd := exec.Command(r.bin,
		"--port", fmt.Sprint(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir,
		"--logfile", log)
	if err := cmd.Start(); err != nil {
		return err
	}
	// Wait until it answers PING (or exits: the port was taken).
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for range 500 {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(log)
			return fmt.Errorf("redis-server exited (%v): %s", err, lastLine(string(b)))
		default:
		}
		if c, err := net.DialTimeout("tcp", r.Addr(), 100*time.Millisecond); err == nil {
			fmt.Fprint(c, "PING\r\n")
			c.SetReadDeadline(time.Now().Add(time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				r.cmd = cmd
				go func() { <-exited }()
				return nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill()
	return fmt.Errorf("redis-server on port %d did not answer PING", r.port)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// Addr is the server's host:port.
func (r *redisServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

// Stop kills the server (SIGKILL: a crash, not a shutdown).
func (r *redisServer) Stop() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGCONT) // in case a test paused it
	r.cmd.Process.Kill()
	// Wait until the port is free so a restart can bind it.
	for range 500 {
		c, err := net.DialTimeout("tcp", r.Addr(), 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	r.cmd = nil
}

// Restart starts the server again on the same port, empty.
func (r *redisServer) Restart() {
	r.t.Helper()
	if err := r.start(); err != nil {
		r.t.Fatalf("restarting redis-server: %v", err)
	}
}

// Pause stops the server's process (SIGSTOP): connections stay open but
// nothing answers, as with a hung or overloaded Redis.
func (r *redisServer) Pause()  { r.cmd.Process.Signal(syscall.SIGSTOP) }
func (r *redisServer) Resume() { r.cmd.Process.Signal(syscall.SIGCONT) }

// Client returns a go-redis client for the server, closed when the test
// ends. Its timeouts are the library defaults, as a user's would be.
func (r *redisServer) Client(t testing.TB) *goredis.Client {
	c := newClient(r.Addr())
	t.Cleanup(func() { c.Close() })
	return c
}

// patient gives o a generous OperationTimeout unless the test chose one:
// tests run on loaded machines, and only the timeout tests are about
// timeouts.
func patient(o *Options) *Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.OperationTimeout == 0 {
		c.OperationTimeout = 10 * time.Second
	}
	return &c
}

// newStorage returns a Storage on r with o (nil for defaults), failing t on
// error.
func newStorage(t testing.TB, r *redisServer, o *Options) *Storage {
	t.Helper()
	s, err := New(r.Client(t), patient(o))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newClient(addr string) *goredis.Client {
	return goredis.NewClient(&goredis.Options{Addr: addr})
}

func contextCancelled() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx, cancel
}
