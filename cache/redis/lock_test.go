//go:build unix

package redis

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// TestLockOneHolder: 8 instances (each its own client and Storage) contend
// for one lock; at no time do two hold it, and each gets it once.
func TestLockOneHolder(t *testing.T) {
	r := startRedis(t)
	ctx := ctxT(t)
	var holders, maxHolders, acquired atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	stores := make([]*Storage, 8)
	for i := range stores {
		stores[i] = newStorage(t, r, nil)
	}
	for _, s := range stores {
		wg.Go(func() {
			<-start
			unlock, err := s.Lock(ctx, "app:h:c:t")
			if err != nil {
				t.Error(err)
				return
			}
			n := holders.Add(1)
			for {
				m := maxHolders.Load()
				if n <= m || maxHolders.CompareAndSwap(m, n) {
					break
				}
			}
			acquired.Add(1)
			time.Sleep(5 * time.Millisecond) // hold it while others try
			holders.Add(-1)
			unlock()
		})
	}
	close(start)
	wg.Wait()
	if acquired.Load() != 8 || maxHolders.Load() != 1 {
		t.Fatalf("acquired %d times, at most %d holders at once; want 8 and 1", acquired.Load(), maxHolders.Load())
	}
	var waits, locks, lost uint64
	for _, s := range stores {
		st := s.Stats()
		waits, locks, lost = waits+st.LockWaits, locks+st.Locks, lost+st.LocksLost
	}
	if locks != 8 || waits == 0 || lost != 0 {
		t.Fatalf("Locks %d, LockWaits %d, LocksLost %d; want 8, > 0, 0", locks, waits, lost)
	}
	// Released: nothing left in Redis.
	if n, _ := r.Client(t).Exists(ctx, stores[0].lockKey("app:h:c:t")).Result(); n != 0 {
		t.Fatal("the lock key is still in Redis after every owner unlocked")
	}
}

// fleetMember is what the persistent cache does on a miss with a Locker:
// lock, re-read, acquire only if still missing, write, unlock. It reports
// whether it "asked Entra".
func fleetMember(ctx context.Context, s *Storage, p string, asked func()) ([]byte, error) {
	unlock, err := s.Lock(ctx, p)
	if err != nil {
		return nil, err
	}
	defer unlock()
	v, err := s.Read(ctx, p)
	if err != nil || v != nil {
		return v, err
	}
	asked()
	token := []byte(fmt.Sprintf(`{"token":"from-%d"}`, os.Getpid()))
	return token, s.Write(ctx, p, token, time.Now().Add(time.Hour))
}

// TestFleetColdStartOneAcquisition: 8 instances miss the same key at once;
// one acquires and the rest read its result.
func TestFleetColdStartOneAcquisition(t *testing.T) {
	r := startRedis(t)
	ctx := ctxT(t)
	var asked atomic.Int32
	var wg sync.WaitGroup
	results := make([][]byte, 8)
	start := make(chan struct{})
	for i := range results {
		s := newStorage(t, r, &Options{EncryptionKeys: []EncryptionKey{key1}})
		wg.Go(func() {
			<-start
			v, err := fleetMember(ctx, s, "app:h:c:t", func() { asked.Add(1) })
			if err != nil {
				t.Error(err)
			}
			results[i] = v
		})
	}
	close(start)
	wg.Wait()
	if asked.Load() != 1 {
		t.Fatalf("%d instances asked for a token; want 1", asked.Load())
	}
	for i, v := range results {
		if string(v) != string(results[0]) || len(v) == 0 {
			t.Fatalf("instance %d got %q, instance 0 %q; want the same token", i, v, results[0])
		}
	}
}

// TestLockReleasedOnlyByOwner: an owner whose lock expired (it stopped
// renewing) and was taken over must not delete the new owner's lock.
func TestLockReleasedOnlyByOwner(t *testing.T) {
	r := startRedis(t)
	ctx := ctxT(t)
	// a stops renewing at once (LockMaxHold of 1 ns), so its key expires
	// after LockTTL as a stuck owner's would.
	a := newStorage(t, r, &Options{LockTTL: 100 * time.Millisecond, LockMaxHold: time.Nanosecond})
	b := newStorage(t, r, nil)
	unlockA, err := a.Lock(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	unlockB, err := b.Lock(ctx, "p") // waits for a's key to expire
	if err != nil {
		t.Fatal(err)
	}
	unlockA()
	unlockA() // twice is harmless
	if n, _ := r.Client(t).Exists(ctx, b.lockKey("p")).Result(); n != 1 {
		t.Fatal("the old owner's unlock deleted the new owner's lock")
	}
	if st := a.Stats(); st.LocksLost != 1 {
		t.Fatalf("old owner's LocksLost = %d; want 1", st.LocksLost)
	}
	if st := b.Stats(); st.LockWaits != 1 {
		t.Fatalf("new owner's LockWaits = %d; want 1", st.LockWaits)
	}
	unlockB()
	if n, _ := r.Client(t).Exists(ctx, b.lockKey("p")).Result(); n != 0 {
		t.Fatal("the owner's unlock left its lock")
	}
}

// TestLockRenewedWhileHeld: a live owner keeps its lock past LockTTL.
func TestLockRenewedWhileHeld(t *testing.T) {
	r := startRedis(t)
	ctx := ctxT(t)
	a := newStorage(t, r, &Options{LockTTL: 60 * time.Millisecond})
	unlock, err := a.Lock(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	// Many TTLs later the key is still a's: renewal works.
	time.Sleep(300 * time.Millisecond)
	b := newStorage(t, r, nil)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := b.Lock(short, "p"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of a renewed lock = %v; want the caller's deadline", err)
	}
	if st := a.Stats(); st.LocksLost != 0 {
		t.Fatalf("LocksLost = %d", st.LocksLost)
	}
}

// Helper processes: the test binary re-run with AZID_REDIS_HELPER set.
const helperEnv = "AZID_REDIS_HELPER"

// extraHelpers are helper modes defined by test files built with tags.
var extraHelpers = map[string]func() int{}

// tokenHash identifies a token in a helper's output without printing it.
func tokenHash(tok string) [8]byte {
	sum := sha256.Sum256([]byte(tok))
	return [8]byte(sum[:8])
}

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperMain(mode))
	}
	// go-redis logs every failed dial; the outage tests cause many.
	goredis.SetLogger(quietLogger{})
	os.Exit(m.Run())
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// helperMain runs one instance of a multi-process test against the Redis at
// $AZID_REDIS_ADDR and reports on stdout.
func helperMain(mode string) int {
	if h, ok := extraHelpers[mode]; ok {
		return h()
	}
	addr := os.Getenv("AZID_REDIS_ADDR")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newClient(addr)
	defer c.Close()
	switch mode {
	case "hold":
		// Take the lock, say so, and hang until killed.
		s, err := New(c, patient(&Options{LockTTL: 300 * time.Millisecond}))
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		if _, err := s.Lock(ctx, "p"); err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Println("locked")
		select {}
	case "fleet":
		s, err := New(c, patient(&Options{EncryptionKeys: []EncryptionKey{key1}}))
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		// Start together: wait for the go signal on stdin.
		bufio.NewReader(os.Stdin).ReadString('\n')
		asked := false
		v, err := fleetMember(ctx, s, "app:h:c:t", func() { asked = true })
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Printf("asked=%t token=%s\n", asked, v)
		return 0
	}
	fmt.Println("unknown helper mode", mode)
	return 2
}

func helper(t *testing.T, r *redisServer, mode string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "AZID_REDIS_ADDR="+r.Addr())
	return cmd
}

// TestCrashedOwnerLockExpires: a process holding the lock is killed
// (SIGKILL, no unlock); the lock frees itself within LockTTL.
func TestCrashedOwnerLockExpires(t *testing.T) {
	r := startRedis(t)
	ctx := ctxT(t)
	cmd := helper(t, r, "hold")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper said %q", line)
	}
	s := newStorage(t, r, nil)
	// While the owner lives, it renews: the lock stays taken.
	short, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
	_, err = s.Lock(short, "p")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while another process holds it = %v; want the caller's deadline", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	unlock, err := s.Lock(ctx, "p")
	if err != nil {
		t.Fatalf("the crashed owner's lock never expired: %v", err)
	}
	unlock()
}

// TestFleetOfProcesses: separate processes, each its own Redis connection,
// cold-start on one key: exactly one acquires.
func TestFleetOfProcesses(t *testing.T) {
	r := startRedis(t)
	const n = 4
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	var gos []func()
	for range n {
		cmd := helper(t, r, "fleet")
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		cmds, outs = append(cmds, cmd), append(outs, out)
		gos = append(gos, func() { fmt.Fprintln(in, "go"); in.Close() })
	}
	for _, g := range gos {
		g()
	}
	asked := 0
	var token string
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v: %s", i, err, outs[i])
		}
		var a bool
		var tok string
		if _, err := fmt.Sscanf(outs[i].String(), "asked=%t token=%s", &a, &tok); err != nil {
			t.Fatalf("helper %d said %q", i, outs[i])
		}
		if a {
			asked++
		}
		if token == "" {
			token = tok
		} else if tok != token {
			t.Fatalf("helpers got different tokens: %s and %s", token, tok)
		}
	}
	if asked != 1 {
		t.Fatalf("%d of %d processes asked for a token; want 1", asked, n)
	}
}
