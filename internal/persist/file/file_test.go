//go:build unix

package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// azidentity deletes its lock file when it unlocks. A waiter that then
// gets the lock on the deleted file must not believe it holds the lock:
// it locks the file now at the path instead, so it still excludes the next
// writer.
func TestLockSurvivesDeletedLockFile(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	ctx := context.Background()
	unlockA, err := s.Lock(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		u, err := s.Lock(ctx, "c")
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	// Give B time to block on the old file (not a timing assertion: the
	// test passes either way B gets there).
	time.Sleep(20 * time.Millisecond)
	lock := filepath.Join(s.Dir, "c.lockfile")
	os.Remove(lock)
	unlockA()
	unlockB := <-got
	if _, err := os.Stat(lock); err != nil {
		t.Fatal("B holds a lock on a deleted file:", err)
	}
	// B's lock excludes C.
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(short, "c"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("C got the lock while B held it: %v", err)
	}
	unlockB()
	if u, err := s.Lock(ctx, "c"); err != nil {
		t.Fatal(err)
	} else {
		u()
	}
}

func TestPathRejectsNonNames(t *testing.T) {
	s := &Store{Dir: "/x"}
	for _, p := range []string{"", ".", "..", "a/b", `a\b`, "a\x00b", "c:d"} {
		if _, err := s.Path(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}
