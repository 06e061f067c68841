package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/azid-go/azid/entratest"
)

func TestServeUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "192.0.2.1:0"}, "--allow-remote"},
		{[]string{"--addr", "nonsense"}, "--addr must be host:port"},
		{[]string{"--credential", "device"}, `sign in first with "azid login"`},
		{[]string{"--credential", "nope"}, "--credential must be one of"},
		{[]string{"--output", "yaml"}, "--output must be text, env or json"},
		{[]string{"--emulator", "--credential", "cli"}, "leave out --credential"},
		{[]string{"--rate", "-1"}, "--rate must be 0"},
		{[]string{"--allow-resource", "a b"}, "--allow-resource needs a resource"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--client-id", "x"}, "goes with --credential mi"},
		{[]string{"--no-such-flag"}, "unknown flag --no-such-flag"},
		{[]string{"--rat", "3"}, "did you mean --rate?"},
		{[]string{"-o", "yaml"}, "--output must be text, env or json"},
		{[]string{"--credential", " "}, "--credential needs a value"},
		{[]string{"--tenant", ""}, "--tenant needs a value"},
		{[]string{"--allow-host", "http://x"}, "--allow-host needs a host name"},
	} {
		code, _, stderr := runAzid(t, nil, append([]string{"serve"}, c.args...)...)
		if code != exitUsage || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, `Run "azid serve --help"`) {
			t.Errorf("azid serve %v: exit %d, stderr %q; want %d mentioning %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
	code, stdout, _ := runAzid(t, nil, "serve", "--help")
	for _, w := range []string{"Threat model", "--allow-remote", "host.docker.internal", "Ctrl-C", "-allow-resource",
		"Exit codes: 0 stopped by SIGTERM", "stopped with Ctrl-C.", "-o string"} {
		if code != exitOK || !strings.Contains(stdout, w) {
			t.Errorf("azid serve --help: exit %d, lacks %q", code, w)
		}
	}
	if _, stdout, _ := runAzid(t, nil, "help"); !strings.Contains(stdout, "azid serve") {
		t.Error("azid help does not list serve")
	}
}

// syncBuffer collects a command's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// The text output, in-process: the exports, the docker example; Ctrl-C
// (the context) stops it with 130.
func TestServeTextOutput(t *testing.T) {
	sb := newSandbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--emulator"}, &out, &errOut, func(k string) string { return sb.env[k] })
	}()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), "Ctrl-C stops it") {
		if time.Now().After(deadline) {
			t.Fatalf("no text output within a minute:\n%s\n%s", out.String(), errOut.String())
		}
		select {
		case code := <-done:
			t.Fatalf("azid serve ended with %d:\n%s", code, errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	text := out.String()
	for _, w := range []string{"serving the emulator's test app at http://127.0.0.1:", "export IDENTITY_ENDPOINT=http://127.0.0.1:",
		"export IDENTITY_HEADER=", "export MSI_ENDPOINT=", "export MSI_SECRET=", "docker run --network host -e IDENTITY_ENDPOINT -e IDENTITY_HEADER"} {
		if !strings.Contains(text, w) {
			t.Errorf("text output lacks %q:\n%s", w, text)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != exitInterrupted {
			t.Errorf("exit %d after Ctrl-C, want %d", code, exitInterrupted)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("azid serve did not stop within 30 s of Ctrl-C")
	}
}

// runningServe is "azid serve -o json" as a process of the sandbox.
type runningServe struct {
	vars   map[string]string
	stderr *syncBuffer
	cmd    *exec.Cmd
	done   chan error
	// stopped is set by stop, which the test and its cleanup call from
	// the test's goroutine only.
	stopped bool
}

func (s *sandbox) serve(args ...string) *runningServe {
	s.t.Helper()
	builtAzid(s.t)
	c := s.cmd(context.Background(), append([]string{"serve", "-o", "json"}, args...)...)
	r := &runningServe{stderr: &syncBuffer{}, cmd: c, done: make(chan error, 1)}
	c.Stderr = r.stderr
	stdout, err := c.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		s.t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { r.done <- c.Wait() }()
	s.t.Cleanup(func() { r.stop(s.t) })
	select {
	case l, ok := <-line:
		if !ok || json.Unmarshal([]byte(l), &r.vars) != nil {
			s.t.Fatalf("azid serve -o json printed %q; stderr:\n%s", l, r.stderr)
		}
	case <-time.After(time.Minute):
		s.t.Fatalf("azid serve printed nothing within a minute; stderr:\n%s", r.stderr)
	}
	return r
}

// stop sends SIGTERM, a service manager's stop, and checks the exit code
// is 0 and the server said it stopped.
func (r *runningServe) stop(t *testing.T) {
	if r.stopped {
		return
	}
	r.stopped = true
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.done:
		if err != nil || !strings.Contains(r.stderr.String(), "azid serve: stopped") {
			t.Errorf("azid serve after SIGTERM: %v, want exit 0 and \"stopped\"; stderr:\n%s", err, r.stderr)
		}
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		t.Error("azid serve did not stop within 30 s of SIGTERM")
	}
}

func (r *runningServe) get(t *testing.T, resource string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, r.vars["IDENTITY_ENDPOINT"]+"?api-version=2019-08-01&resource="+resource, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-IDENTITY-HEADER", r.vars["IDENTITY_HEADER"])
	c := &http.Client{Timeout: time.Minute}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, m
}

// The default credential is the "azid login" sign-in. When it needs the
// user again, callers get an error naming "azid login", and the server
// keeps serving what it can.
func TestServeLoginSignInNeeded(t *testing.T) {
	srv := newUserEmulator(t)
	sb := newSandbox(t)
	sb.useEmulator(srv)

	// Not signed in: exit 4, naming azid login.
	code, _, stderr := sb.run("serve")
	if code != exitSignIn || !strings.Contains(stderr, `azid serve: not signed in`) || !strings.Contains(stderr, `run "azid login"`) {
		t.Fatalf("not signed in: exit %d, stderr %q", code, stderr)
	}

	sb.login(srv)
	r := sb.serve()
	status, body := r.get(t, "https://management.azure.com/")
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, body)
	}
	claims, err := srv.VerifyToken(body["access_token"].(string))
	if err != nil || claims["aud"] != "https://management.azure.com/" {
		t.Fatalf("served token: %v, claims %v", err, claims)
	}
	if err := srv.SetInteractionRequired(entratest.DefaultUsername, true); err != nil {
		t.Fatal(err)
	}
	status, body = r.get(t, "https://storage.azure.com/")
	if msg, _ := body["message"].(string); status != http.StatusBadRequest || !strings.Contains(msg, `run "azid login"`) {
		t.Fatalf("after the sign-in expired: %d %v", status, body)
	}
	// Still running, still serving its cached token.
	if status, body = r.get(t, "https://management.azure.com/"); status != http.StatusOK {
		t.Fatalf("the server stopped serving: %d %v", status, body)
	}
	r.stop(t)
	log := r.stderr.String()
	if strings.Contains(log, body["access_token"].(string)) || strings.Contains(log, r.vars["IDENTITY_HEADER"]) {
		t.Error("a token or the secret was logged")
	}
	for _, w := range []string{`resource="https://management.azure.com/" 200 upstream`, `resource="https://storage.azure.com/" 400 refused: sign-in needed: run "azid login"`,
		`resource="https://management.azure.com/" 200 cache`, "azid serve: stopped"} {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %q:\n%s", w, log)
		}
	}
}

// SIGTERM ("docker stop", systemd) stops azid serve with exit 0: it was
// asked to stop, not interrupted (Ctrl-C, exit 130, is in TestInterrupt).
func TestServeSIGTERM(t *testing.T) {
	sb := newSandbox(t)
	r := sb.serve("--emulator")
	r.stop(t)
	if r.cmd.ProcessState == nil || r.cmd.ProcessState.ExitCode() != exitOK {
		t.Fatalf("azid serve after SIGTERM: %v", r.cmd.ProcessState)
	}
}

// Tokens come from the persistent cache: a second run serves the first
// run's token without starting the emulator.
func TestServeEmulatorPersistentCache(t *testing.T) {
	sb := newSandbox(t)
	first := sb.serve("--emulator")
	status, body := first.get(t, "api://demo")
	if status != http.StatusOK {
		t.Fatalf("first run: %d %v", status, body)
	}
	first.stop(t)
	if log := first.stderr.String(); !strings.Contains(log, "emulator: Entra ID emulator listening") || !strings.Contains(log, `resource="api://demo" 200 upstream`) {
		t.Fatalf("first run's log:\n%s", log)
	}
	second := sb.serve("--emulator")
	status, again := second.get(t, "api://demo")
	if status != http.StatusOK || again["access_token"] != body["access_token"] {
		t.Fatalf("second run: %d, same token: %v", status, again["access_token"] == body["access_token"])
	}
	if second.vars["IDENTITY_HEADER"] == first.vars["IDENTITY_HEADER"] {
		t.Error("two runs used the same secret")
	}
	second.stop(t)
	if log := second.stderr.String(); strings.Contains(log, "emulator:") || !strings.Contains(log, `resource="api://demo" 200 cache`) {
		t.Fatalf("second run's log (want a cache hit, no emulator):\n%s", log)
	}
}

// A non-loopback address with --allow-remote is warned about before it is
// listened on. (192.0.2.1 is a documentation address no interface has, so
// nothing is exposed: the listen fails, a local failure.)
func TestServeRemoteWarning(t *testing.T) {
	sb := newSandbox(t)
	code, stdout, stderr := sb.run("serve", "--emulator", "--addr", "192.0.2.1:0", "--allow-remote")
	if code != exitInternal || stdout != "" || !strings.Contains(stderr, "WARNING: listening on 192.0.2.1:0, not loopback") ||
		!strings.Contains(stderr, "choose another --addr") {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
}

// The built command, backed by a service principal's secret against the
// test's emulator: 1,000 programs asking at once for a resource it has no
// token for cause one token request.
func TestServeColdHerdOneTokenRequest(t *testing.T) {
	srv := newUserEmulator(t)
	srv.SetFault(entratest.EndpointToken, entratest.Fault{Latency: 300 * time.Millisecond})
	sb := newSandbox(t)
	sb.useEmulator(srv)
	sb.useSecretApp()
	r := sb.serve("--credential", "secret", "--rate", "0")
	srv.ResetCounts()
	const n = 1000
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	var wg sync.WaitGroup
	start := make(chan struct{})
	statuses := make(chan int, n)
	for range n {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest(http.MethodGet, r.vars["IDENTITY_ENDPOINT"]+"?api-version=2019-08-01&resource=https://storage.azure.com/", nil)
			req.Header.Set("X-IDENTITY-HEADER", r.vars["IDENTITY_HEADER"])
			resp, err := client.Do(req)
			if err != nil {
				statuses <- -1
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("a client got %d", s)
		}
	}
	if got := srv.Requests(entratest.EndpointToken); got != 1 {
		t.Fatalf("%d concurrent clients caused %d token requests, want 1", n, got)
	}
	// A request is logged after its answer is sent: stop the server (which
	// lets every handler finish) before counting.
	r.stop(t)
	if c := strings.Count(r.stderr.String(), " 200 "); c != n {
		t.Errorf("%d requests logged, want %d", c, n)
	}
}
