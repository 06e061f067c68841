//go:build unix

package devtool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tool writes an executable shell script named name into a fresh directory
// and returns an environment whose PATH holds only that directory.
func tool(t *testing.T, name, script string) []string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script), 0o700); err != nil {
		t.Fatal(err)
	}
	return []string{"PATH=" + dir, "HOME=" + dir}
}

func TestRunPassesArgumentsVerbatim(t *testing.T) {
	env := tool(t, "echoargs", `for a in "$@"; do printf '[%s]' "$a"; done`)
	marker := filepath.Join(t.TempDir(), "pwned")
	args := []string{"plain", "with space", "$(/bin/touch " + marker + ")", "`x`", "a;b", "'q'", `"dq"`, "*"}
	out, err := Run(context.Background(), Command{Name: "echoargs", Args: args, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, a := range args {
		want.WriteString("[" + a + "]")
	}
	if string(out) != want.String() {
		t.Fatalf("got %s\nwant %s", out, want.String())
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("an argument was executed by the shell")
	}
}

func TestRunNotFound(t *testing.T) {
	_, err := Run(context.Background(), Command{Name: "az", Env: []string{"PATH=" + t.TempDir()}})
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.Name != "az" {
		t.Fatalf("got %v, want NotFoundError", err)
	}
}

func TestRunExitErrorScrubsStderr(t *testing.T) {
	env := tool(t, "az", `echo "ERROR: bad token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl here" >&2; echo "eyJsecretstdout"; exit 3`)
	_, err := Run(context.Background(), Command{Name: "az", Env: env})
	var xe *ExitError
	if !errors.As(err, &xe) || xe.Code != 3 {
		t.Fatalf("got %v, want ExitError 3", err)
	}
	if strings.Contains(err.Error(), "eyJ") || !strings.Contains(err.Error(), "ERROR: bad token [REDACTED] here") {
		t.Fatalf("error text %q", err)
	}
}

// processGone reports whether pid no longer runs (a zombie counts as gone:
// in a container nobody may reap it).
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) != nil
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	// The tool starts a child that would outlive a kill of the shell alone.
	env := tool(t, "az", `/bin/sleep 60 & echo $! > `+pidFile+`; wait`)
	_, err := Run(context.Background(), Command{Name: "az", Env: env, Timeout: 2 * time.Second})
	var te *TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want TimeoutError wrapping DeadlineExceeded", err)
	}
	b, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the tool's child %d still runs after the timeout", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunCallerCancel(t *testing.T) {
	env := tool(t, "az", `/bin/sleep 60`)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	_, err := Run(ctx, Command{Name: "az", Env: env})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	var te *TimeoutError
	if errors.As(err, &te) {
		t.Fatal("a cancellation was reported as a timeout")
	}
}

func TestRunOutputTooLarge(t *testing.T) {
	env := tool(t, "az", `/usr/bin/head -c 2000000 /dev/zero`)
	_, err := Run(context.Background(), Command{Name: "az", Env: env})
	var oe *OutputTooLargeError
	if !errors.As(err, &oe) {
		t.Fatalf("got %v", err)
	}
}

func TestRunRejectsBadNames(t *testing.T) {
	for _, n := range []string{"", "a b", "az;rm", "../az", "$(x)"} {
		if _, err := Run(context.Background(), Command{Name: n}); err == nil {
			t.Errorf("name %q accepted", n)
		}
	}
	if _, err := Run(context.Background(), Command{Name: "az", Args: []string{"a\x00b"}}); err == nil {
		t.Error("NUL in an argument accepted")
	}
}

func TestValidScope(t *testing.T) {
	good := []string{"https://management.azure.com/.default", "api://0000-1111/.default", "https://graph.microsoft.com/User.Read", "00000003-0000-0000-c000-000000000000", "https://vault.azure.net"}
	bad := []string{"", "a b", "https://x/.default;rm -rf", "$(id)", "`id`", "x'y", `x"y`, "-o", "a\nb", "é", "a|b", "a&b"}
	for _, s := range good {
		if !ValidScope(s) {
			t.Errorf("ValidScope(%q) = false", s)
		}
	}
	for _, s := range bad {
		if ValidScope(s) {
			t.Errorf("ValidScope(%q) = true", s)
		}
	}
	if !ValidSubscription("My Subscription 1") || !ValidSubscription("0b1f6471-1bf0-4dda-aec3-111122223333") {
		t.Error("valid subscriptions refused")
	}
	for _, s := range []string{"", " ", "a;b", "a'b", "--x", "a\tb"} {
		if ValidSubscription(s) {
			t.Errorf("ValidSubscription(%q) = true", s)
		}
	}
}
