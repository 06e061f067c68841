package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// "azid serve" as a user runs it: the azid binary, built by the test, in a
// sandbox of its own (home, cache key, no keyring), started with
// "--output env"; the test reads the export lines and gives clients
// exactly those variables.

var (
	azidBinOnce sync.Once
	azidBin     string
	azidBinErr  error
)

// builtAzid builds cmd/azid once per test binary, into one fixed place
// per machine (replaced atomically each run), so runs leave no binaries
// behind.
func builtAzid(t testing.TB) string {
	t.Helper()
	azidBinOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), "azid-interop-serve-bin")
		if azidBinErr = os.MkdirAll(dir, 0o700); azidBinErr != nil {
			return
		}
		f, err := os.CreateTemp(dir, "azid-*")
		if err != nil {
			azidBinErr = err
			return
		}
		f.Close()
		cmd := exec.Command("go", "build", "-o", f.Name(), "github.com/azid-go/azid/cmd/azid")
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(f.Name())
			azidBinErr = errors.New(string(out))
			return
		}
		azidBin = filepath.Join(dir, "azid")
		azidBinErr = os.Rename(f.Name(), azidBin)
	})
	if azidBinErr != nil {
		t.Fatalf("building azid: %v", azidBinErr)
	}
	return azidBin
}

// syncBuffer is a bytes.Buffer safe for a process's writes and the test's
// reads at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// served is a running "azid serve".
type served struct {
	vars   map[string]string // the printed exports
	stderr *syncBuffer
}

// startServe runs "azid serve --output env" with args (e.g. "--emulator")
// and extra environment (KEY=value), and stops it with SIGINT when the test
// ends, checking it exits 130 as azid's help says.
func startServe(t *testing.T, extraEnv []string, args ...string) *served {
	t.Helper()
	bin := builtAzid(t)
	home := t.TempDir()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	cmd := exec.Command(bin, append([]string{"serve", "--output", "env"}, args...)...)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"AZID_CACHE_KEY=" + base64.StdEncoding.EncodeToString(key),
		"DBUS_SESSION_BUS_ADDRESS=",
	}, extraEnv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &served{vars: map[string]string{}, stderr: &syncBuffer{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(time.Minute)
	for len(s.vars) < 4 {
		select {
		case l, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				t.Fatalf("azid serve ended before printing its environment; stderr:\n%s", s.stderr)
			}
			name, value, ok := strings.Cut(strings.TrimPrefix(l, "export "), "=")
			if !strings.HasPrefix(l, "export ") || !ok {
				t.Fatalf("unexpected line from azid serve --output env: %q", l)
			}
			s.vars[name] = value
		case <-timeout:
			_ = cmd.Process.Kill()
			t.Fatalf("azid serve printed no environment within a minute; stderr:\n%s", s.stderr)
		}
	}
	go func() {
		for range lines { // nothing more is expected; keep the pipe drained
		}
	}()
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-done:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 130 {
				t.Errorf("azid serve after SIGINT: %v, want exit code 130; stderr:\n%s", err, s.stderr)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("azid serve did not stop within 30 s of SIGINT")
		}
	})
	for _, k := range []string{"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET"} {
		if s.vars[k] == "" {
			t.Fatalf("azid serve did not print %s: %v", k, s.vars)
		}
	}
	return s
}

// clientEnv is the environment for a client process: PATH and HOME, the
// served variables (with overrides applied; an empty value drops the
// variable), and nothing else, so no AZURE_* or other managed identity
// variable of the machine leaks in.
func (s *served) clientEnv(t testing.TB, overrides map[string]string, extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range s.vars {
		if o, ok := overrides[k]; ok {
			v = o
		}
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	return append(env, extra...)
}

// checkLogs checks the server's log never shows a token and logged the
// expected outcomes.
func (s *served) checkLogs(t testing.TB, tokens []string, want ...string) {
	t.Helper()
	// The server's stderr reaches the buffer through a pipe, so a line may
	// land a moment after the client had its answer: wait for the lines
	// wanted (for a while), then check everything.
	log := s.stderr.String()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); log = s.stderr.String() {
		if !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(log, w) }) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, tok := range tokens {
		if tok != "" && strings.Contains(log, tok) {
			t.Error("azid serve logged a token")
		}
	}
	if strings.Contains(log, s.vars["IDENTITY_HEADER"]) {
		t.Error("azid serve logged its secret")
	}
	for _, w := range want {
		if !strings.Contains(log, w) {
			t.Errorf("azid serve's log lacks %q:\n%s", w, log)
		}
	}
}

// jwtClaims decodes a JWT's payload without verifying it.
func jwtClaims(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// checkServedToken checks a token a client got: the emulator app's, for
// the resource asked.
func checkServedToken(t testing.TB, token, resource, clientID string) {
	t.Helper()
	c := jwtClaims(t, token)
	app, _ := c["appid"].(string)
	if app == "" {
		app, _ = c["azp"].(string)
	}
	if c["aud"] != resource || app != clientID {
		t.Errorf("token for aud %v, app %v; want %s, %s", c["aud"], app, resource, clientID)
	}
	exp, _ := c["exp"].(float64)
	if time.Until(time.Unix(int64(exp), 0)) < 30*time.Minute {
		t.Errorf("token expires at %v", time.Unix(int64(exp), 0))
	}
}

// ctxWithCancel is a context bounded by d, also ended with the test.
func ctxWithCancel(t testing.TB, d time.Duration) (context.Context, context.CancelFunc) {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c, cancel
}
