package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azid-go/azid/entratest"
)

// azidBin is the azid command, built once (by the first test that needs
// it, so that fuzz workers and in-process tests do not build it): the
// tests run it as users do, in a process of its own with its own
// environment.
var (
	buildOnce sync.Once
	binDir    string
	azidBin   string
	buildErr  error
)

func TestMain(m *testing.M) {
	if os.Getenv("AZID_TEST_BROWSER") == "1" {
		// Invoked as xdg-open by azid login --browser (see fakeBrowser).
		os.Exit(browse(os.Args[len(os.Args)-1]))
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func builtAzid(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "azid-cmd-test-"); buildErr != nil {
			return
		}
		azidBin = filepath.Join(binDir, "azid")
		// Without -race even under go test -race: the command is the
		// subject, not the instrumented test, and a race build takes far
		// longer.
		if out, err := exec.Command("go", "build", "-o", azidBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building azid: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return azidBin
}

// runAzid runs the command in-process (for usage errors and help, which
// touch no cache).
func runAzid(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut, func(k string) string { return env[k] })
	return code, out.String(), errOut.String()
}

// sandbox is a user's machine for the built command: its own home, config
// and cache directories, and a provided cache key so that tests do not
// depend on (or leave keys in) the keyring; see TestKernelKeyring for the
// keyring itself.
type sandbox struct {
	t    *testing.T
	home string
	env  map[string]string
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	builtAzid(t)
	home := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	return &sandbox{t: t, home: home, env: map[string]string{
		"PATH":            os.Getenv("PATH"),
		"HOME":            home,
		"XDG_CACHE_HOME":  filepath.Join(home, ".cache"),
		"XDG_CONFIG_HOME": filepath.Join(home, ".config"),
		"AZID_CACHE_KEY":  base64.StdEncoding.EncodeToString(key),
		// No Secret Service: the provided key is the only one.
		"DBUS_SESSION_BUS_ADDRESS": "",
		// DefaultAzureCredential would otherwise try IMDS and run az:
		// slow, and dependent on this machine.
		"AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential",
	}}
}

// useEmulator points the command at srv: its authority host, and its CA
// as the only one Go trusts.
func (s *sandbox) useEmulator(srv *entratest.Server) {
	ca := filepath.Join(s.home, "emulator-ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o600); err != nil {
		s.t.Fatal(err)
	}
	s.env["AZURE_AUTHORITY_HOST"] = srv.AuthorityHost()
	s.env["SSL_CERT_FILE"] = ca
}

// useSecretApp gives the command the emulator's test app in the
// environment, for --credential secret (and env, default).
func (s *sandbox) useSecretApp() {
	s.env["AZURE_TENANT_ID"] = entratest.DefaultTenantID
	s.env["AZURE_CLIENT_ID"] = entratest.DefaultClientID
	s.env["AZURE_CLIENT_SECRET"] = entratest.DefaultClientSecret
}

func (s *sandbox) cmd(ctx context.Context, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, azidBin, args...)
	c.Env = nil
	for k, v := range s.env {
		c.Env = append(c.Env, k+"="+v)
	}
	return c
}

// run runs azid to completion.
func (s *sandbox) run(args ...string) (code int, stdout, stderr string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := s.cmd(ctx, args...)
	var out, errOut bytes.Buffer
	c.Stdout, c.Stderr = &out, &errOut
	err := c.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			s.t.Fatalf("running azid %q: %v", args, err)
		}
	}
	return c.ProcessState.ExitCode(), out.String(), errOut.String()
}

// mustRun runs azid and fails the test unless it exits with want.
func (s *sandbox) mustRun(want int, args ...string) (stdout, stderr string) {
	s.t.Helper()
	code, stdout, stderr := s.run(args...)
	if code != want {
		s.t.Fatalf("azid %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

var userCodeRE = regexp.MustCompile(`enter the code (\S+)`)

// login runs "azid login --device-code" and approves the code it shows,
// as the user would on the device login page.
func (s *sandbox) login(srv *entratest.Server, extra ...string) (stderr string) {
	s.t.Helper()
	_, stderr = s.approving(srv, append([]string{"login", "--device-code"}, extra...)...)
	return stderr
}

// approving runs azid args, approving the device code it shows.
func (s *sandbox) approving(srv *entratest.Server, args ...string) (stdout, stderr string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := s.cmd(ctx, args...)
	var out bytes.Buffer
	c.Stdout = &out
	pr, err := c.StderrPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		s.t.Fatal(err)
	}
	var all bytes.Buffer
	sc := bufio.NewScanner(io.TeeReader(pr, &all))
	approved := false
	for sc.Scan() {
		if m := userCodeRE.FindStringSubmatch(sc.Text()); m != nil && !approved {
			if err := srv.ApproveDeviceCode(m[1], entratest.DefaultUsername); err != nil {
				s.t.Errorf("approving %s: %v", m[1], err)
			}
			approved = true
		}
	}
	err = c.Wait()
	if err != nil || !approved {
		s.t.Fatalf("azid %s: %v (code shown: %v)\n%s", strings.Join(args, " "), err, approved, all.String())
	}
	return out.String(), all.String()
}

// newUserEmulator is an emulator whose device codes poll every second
// (Entra says five), so that a login takes about a second, and that
// revokes a sign-in whose refresh token is presented twice.
func newUserEmulator(t *testing.T) *entratest.Server {
	t.Helper()
	// Refresh tokens are single-use with reuse detection, as on the
	// strictest servers; a reuse fails the test.
	srv, err := entratest.NewServer(&entratest.Options{DetectRefreshTokenReuse: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if st := srv.RefreshTokenStats(); st.Reused != 0 || st.RevokedGrants != 0 {
			t.Errorf("a refresh token was reused: %+v", st)
		}
		srv.Close()
	})
	srv.SetDeviceCodePolicy(entratest.DeviceCodePolicy{Interval: time.Second})
	return srv
}

type tokenJSON struct {
	AccessToken string `json:"accessToken"`
	ExpiresOn   string `json:"expiresOn"`
	ExpiresOnTS int64  `json:"expires_on"`
	Tenant      string `json:"tenant"`
	TokenType   string `json:"tokenType"`
}

func parseToken(t *testing.T, stdout string) tokenJSON {
	t.Helper()
	var tok tokenJSON
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tok); err != nil {
		t.Fatalf("stdout is not the token JSON: %v\n%s", err, stdout)
	}
	if strings.Count(tok.AccessToken, ".") != 2 || tok.TokenType != "Bearer" || tok.ExpiresOn == "" {
		t.Fatalf("token = %+v", tok)
	}
	if d := time.Until(time.Unix(tok.ExpiresOnTS, 0)); d < 50*time.Minute || d > time.Hour+time.Minute {
		t.Fatalf("expires_on is %v away", d)
	}
	return tok
}

// fakeBrowser puts this test binary on the sandbox's PATH as xdg-open: the
// browser azid opens then fetches the sign-in page, which the emulator
// (SetAutoApprove) answers with a redirect to azid's loopback listener.
func (s *sandbox) fakeBrowser() {
	s.t.Helper()
	self, err := os.Executable()
	if err != nil {
		s.t.Fatal(err)
	}
	bin := filepath.Join(s.home, "bin")
	if err := os.MkdirAll(bin, 0o700); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(bin, "xdg-open")); err != nil {
		s.t.Fatal(err)
	}
	s.env["PATH"] = bin + string(os.PathListSeparator) + s.env["PATH"]
	s.env["AZID_TEST_BROWSER"] = "1"
}

// browse is the fake browser: GET u, following redirects, trusting the
// CA in SSL_CERT_FILE (Go reads it).
func browse(u string) int {
	resp, err := http.Get(u)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake browser:", err)
		return 1
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return 0
}
