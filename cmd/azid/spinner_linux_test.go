package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns a pseudo-terminal's controlling side and its terminal.
func openPTY(t *testing.T) (ptmx, tty *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening /dev/ptmx (a pseudo-terminal is needed to test the spinner): %v", err)
	}
	var unlock int32
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, int(unlock)); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	return ptmx, tty
}

// On a terminal, the wait shows a spinner with the elapsed time, redrawn
// in place, and clears it when the sign-in ends.
func TestSpinnerOnATerminal(t *testing.T) {
	srv := newUserEmulator(t)
	sb := newSandbox(t)
	sb.useEmulator(srv)
	ptmx, tty := openPTY(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := sb.cmd(ctx, "login", "--device-code")
	c.Stderr = tty
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close() // the child holds it now

	var mu sync.Mutex
	var screen bytes.Buffer
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	read := func() string {
		mu.Lock()
		defer mu.Unlock()
		return screen.String()
	}
	approved := false
	for i := 0; i < 600 && !approved; i++ {
		s := read()
		// Approve once the spinner has been drawn at least twice.
		if m := userCodeRE.FindStringSubmatch(s); m != nil && strings.Count(s, "Ctrl-C to cancel") >= 2 {
			if err := srv.ApproveDeviceCode(m[1], "ada@entratest.example"); err != nil {
				t.Fatal(err)
			}
			approved = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.Wait(); err != nil || !approved {
		t.Fatalf("login: %v, approved %v, terminal:\n%q", err, approved, read())
	}
	// The terminal's last writer has exited: reading ends (EIO) once
	// everything it wrote has been read.
	select {
	case <-drained:
	case <-ctx.Done():
		t.Fatal("the pseudo-terminal was never drained")
	}
	s := read()
	if !strings.Contains(s, "\r| Waiting for you to sign in (0s, Ctrl-C to cancel)") || !strings.Contains(s, "\r\x1b[K") ||
		strings.Contains(s, "Waiting for you to sign in...") || !strings.Contains(s, "Signed in as") {
		t.Fatalf("terminal output:\n%q", s)
	}
}
