package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

const (
	armTestScope     = "https://management.azure.com/.default"
	storageTestScope = "https://storage.azure.com/.default"
)

// The README's quick start: the first run gets a token from the emulator
// (one network acquisition, then memory hits); the second run, a new
// process, is served from the persistent cache and never starts an
// emulator.
func TestEmulatorDemoServedFromDisk(t *testing.T) {
	sb := newSandbox(t)
	stdout, stderr := sb.mustRun(exitOK, "token", "--emulator", "--scope", "api://demo/.default", "--calls", "4")
	first := parseToken(t, stdout)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "emulator: Entra ID emulator listening at https://127.0.0.1:") ||
		!strings.Contains(lines[1], "call 1: network acquisition") ||
		!strings.Contains(lines[5], "4 calls, 1 token request(s), 0 from the persistent cache, 3 hit(s)") {
		t.Fatalf("first run's stderr:\n%s", stderr)
	}
	for _, l := range lines[2:5] {
		if !strings.Contains(l, "cache hit (memory) in") {
			t.Errorf("later call: %q", l)
		}
	}
	if first.Tenant != entratest.DefaultTenantID {
		t.Errorf("tenant = %q", first.Tenant)
	}

	stdout, stderr = sb.mustRun(exitOK, "token", "--emulator", "--scope", "api://demo/.default", "--calls", "2")
	second := parseToken(t, stdout)
	if second.AccessToken != first.AccessToken {
		t.Error("the second run got a new token instead of the stored one")
	}
	if strings.Contains(stderr, "emulator:") || !strings.Contains(stderr, "call 1: served from the persistent cache") ||
		!strings.Contains(stderr, "2 calls, 0 token request(s), 1 from the persistent cache, 1 hit(s)") {
		t.Fatalf("second run's stderr:\n%s", stderr)
	}
	if strings.Contains(stderr, first.AccessToken) {
		t.Error("the token was written to stderr")
	}

	// The demo's cache is encrypted with the provided key: no token in the
	// file, and "cache show" lists it without its value.
	data, err := os.ReadFile(filepath.Join(sb.home, ".cache", ".IdentityService", demoCacheName))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), first.AccessToken) || strings.Count(string(data), ".") != 4 {
		t.Fatalf("the demo's cache file is not a JWE: %.80q", data)
	}
	stdout, _ = sb.mustRun(exitOK, "cache", "show", "--name", demoCacheName)
	if !strings.Contains(stdout, "api://demo/.default") || !strings.Contains(stdout, entratest.DefaultClientID) || strings.Contains(stdout, "eyJ") {
		t.Fatalf("cache show:\n%s", stdout)
	}
	sb.mustRun(exitOK, "cache", "clear", "--name", demoCacheName)
	_, stderr = sb.mustRun(exitOK, "token", "--emulator", "--scope", "api://demo/.default", "--calls", "1")
	if !strings.Contains(stderr, "call 1: network acquisition") {
		t.Fatalf("after cache clear:\n%s", stderr)
	}
}

func TestTokenRaw(t *testing.T) {
	sb := newSandbox(t)
	stdout, _ := sb.mustRun(exitOK, "token", "--emulator", "--scope", "api://demo/.default", "-o", "raw")
	if strings.Count(strings.TrimSpace(stdout), ".") != 2 || strings.Contains(stdout, "{") || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("stdout %q", stdout)
	}
}

// The script: login → token (silent: no device code, one refresh) →
// logout → token fails, saying to sign in, with its exit code.
func TestLoginTokenLogout(t *testing.T) {
	srv := newUserEmulator(t)
	sb := newSandbox(t)
	sb.useEmulator(srv)

	_, stderr := sb.mustRun(exitUnavailable, "token", "--scope", armTestScope)
	if !strings.Contains(stderr, `sign in with "azid login"`) {
		t.Errorf("before login, stderr:\n%s", stderr)
	}
	_, stderr = sb.mustRun(exitSignIn, "token", "--credential", "login", "--scope", armTestScope)
	if !strings.Contains(stderr, `not signed in`) || !strings.Contains(stderr, `run "azid login"`) {
		t.Errorf("--credential login before login, stderr:\n%s", stderr)
	}

	out := sb.login(srv)
	for _, want := range []string{"To sign in, open " + srv.URL() + "/devicelogin and enter the code ", "Waiting for you to sign in...", "Signed in as " + entratest.DefaultUsername} {
		if !strings.Contains(out, want) {
			t.Errorf("login's stderr lacks %q:\n%s", want, out)
		}
	}
	recPath := filepath.Join(sb.home, ".config", "azid", recordFile)
	rec, err := azid.LoadAuthenticationRecord(recPath)
	if err != nil || rec.Username != entratest.DefaultUsername {
		t.Fatalf("saved record %+v, %v", rec, err)
	}
	assertMode(t, recPath, 0o600)
	assertMode(t, filepath.Dir(recPath), 0o700)
	if n := srv.Requests(entratest.EndpointDeviceCode); n != 1 {
		t.Fatalf("%d device code requests", n)
	}
	tokens := srv.Requests(entratest.EndpointToken)

	// The login's own scope: from the persistent cache, no request.
	stdout, stderr := sb.mustRun(exitOK, "token", "--scope", armTestScope)
	arm := parseToken(t, stdout)
	if !strings.Contains(stderr, "served from the persistent cache") || srv.Requests(entratest.EndpointToken) != tokens {
		t.Fatalf("ARM token after login: %d token requests (had %d), stderr:\n%s", srv.Requests(entratest.EndpointToken), tokens, stderr)
	}
	// Another scope: one silent refresh, then from disk.
	stdout, _ = sb.mustRun(exitOK, "token", "--scope", storageTestScope)
	storage := parseToken(t, stdout)
	reqs := srv.TokenRequests()
	if got := srv.Requests(entratest.EndpointToken); got != tokens+1 || reqs[len(reqs)-1].GrantType != "refresh_token" {
		t.Fatalf("storage token: %d token requests (had %d), last %+v", got, tokens, reqs[len(reqs)-1])
	}
	stdout, stderr = sb.mustRun(exitOK, "token", "--scope", storageTestScope, "--output", "raw")
	if strings.TrimSpace(stdout) != storage.AccessToken || !strings.Contains(stderr, "served from the persistent cache") {
		t.Fatalf("second storage token: stdout %q stderr %q", stdout, stderr)
	}
	if n := srv.Requests(entratest.EndpointDeviceCode); n != 1 || srv.Requests(entratest.EndpointToken) != tokens+1 {
		t.Fatalf("token calls were not silent: %d device codes, %d token requests", n, srv.Requests(entratest.EndpointToken))
	}

	// cache show: the account and its two tokens, both under the
	// account's tenant (the login asked "organizations", which the
	// account's tenant answers), no token value.
	stdout, _ = sb.mustRun(exitOK, "cache", "show")
	if strings.Contains(stdout, "organizations") {
		t.Errorf("cache show lists a token under the organizations alias:\n%s", stdout)
	}
	for _, want := range []string{"Accounts (1):", entratest.DefaultUsername, "Access tokens (2):", entratest.DefaultTenantID, armTestScope, storageTestScope} {
		if !strings.Contains(stdout, want) {
			t.Errorf("cache show lacks %q:\n%s", want, stdout)
		}
	}
	for _, secret := range []string{arm.AccessToken[len(arm.AccessToken)-20:], storage.AccessToken[len(storage.AccessToken)-20:], "eyJ"} {
		if strings.Contains(stdout, secret) {
			t.Errorf("cache show shows a token:\n%s", stdout)
		}
	}
	stdout, _ = sb.mustRun(exitOK, "cache", "show", "--output", "json")
	var listing struct {
		Accounts []struct {
			Username  string   `json:"username"`
			ClientIDs []string `json:"clientIds"`
		} `json:"accounts"`
		AccessTokens []struct {
			Scopes    []string `json:"scopes"`
			ExpiresOn int64    `json:"expires_on"`
		} `json:"accessTokens"`
	}
	if err := json.Unmarshal([]byte(stdout), &listing); err != nil || len(listing.Accounts) != 1 || len(listing.AccessTokens) != 2 ||
		listing.Accounts[0].Username != entratest.DefaultUsername || listing.Accounts[0].ClientIDs[0] != entratest.AzureCLIClientID {
		t.Fatalf("cache show --output json: %v\n%s", err, stdout)
	}

	_, stderr = sb.mustRun(exitOK, "logout")
	if !strings.Contains(stderr, "Signed out "+entratest.DefaultUsername) {
		t.Errorf("logout: %s", stderr)
	}
	if _, err := os.Stat(recPath); !os.IsNotExist(err) {
		t.Fatalf("the record survived logout: %v", err)
	}
	stdout, _ = sb.mustRun(exitOK, "cache", "show")
	if !strings.Contains(stdout, "Accounts (0):") || !strings.Contains(stdout, "Access tokens (0):") {
		t.Fatalf("cache after logout:\n%s", stdout)
	}
	stdout, stderr = sb.mustRun(exitUnavailable, "token", "--scope", storageTestScope)
	if stdout != "" || !strings.Contains(stderr, `sign in with "azid login"`) {
		t.Fatalf("token after logout: stdout %q, stderr:\n%s", stdout, stderr)
	}
	sb.mustRun(exitSignIn, "token", "--credential", "login", "--scope", storageTestScope)
	_, stderr = sb.mustRun(exitOK, "logout")
	if !strings.Contains(stderr, "Not signed in") {
		t.Errorf("second logout: %s", stderr)
	}
	if n := srv.Requests(entratest.EndpointDeviceCode); n != 1 {
		t.Fatalf("%d device code requests", n)
	}
}

// azid login --browser: the browser is opened on the sign-in page, azid
// says it waits for it, and the sign-in is saved; azid token is then
// silent.
func TestLoginBrowser(t *testing.T) {
	srv := newUserEmulator(t)
	if err := srv.SetAutoApprove(entratest.DefaultUsername); err != nil {
		t.Fatal(err)
	}
	sb := newSandbox(t)
	sb.useEmulator(srv)
	sb.fakeBrowser()
	_, stderr := sb.mustRun(exitOK, "login", "--browser")
	for _, want := range []string{"Opening your browser", "Waiting for the browser sign-in...", "Signed in as " + entratest.DefaultUsername} {
		if !strings.Contains(stderr, want) {
			t.Errorf("login's stderr lacks %q:\n%s", want, stderr)
		}
	}
	if n := srv.Requests(entratest.EndpointAuthorize); n != 1 {
		t.Fatalf("%d authorize requests", n)
	}
	tokens := srv.Requests(entratest.EndpointToken)
	sb.mustRun(exitOK, "token", "--scope", armTestScope)
	sb.mustRun(exitOK, "token", "--scope", storageTestScope)
	if srv.Requests(entratest.EndpointAuthorize) != 1 || srv.Requests(entratest.EndpointToken) != tokens+1 {
		t.Fatalf("azid token after a browser login: %d authorize, %d token requests (had %d)",
			srv.Requests(entratest.EndpointAuthorize), srv.Requests(entratest.EndpointToken), tokens)
	}
}

// azid token --credential device signs in on the spot (the prompt on
// stderr, the token alone on stdout) and, with a saved sign-in, reuses it
// without prompting.
func TestTokenDeviceCredential(t *testing.T) {
	srv := newUserEmulator(t)
	sb := newSandbox(t)
	sb.useEmulator(srv)
	stdout, stderr := sb.approving(srv, "token", "--credential", "device", "--scope", storageTestScope, "-o", "raw")
	if strings.Count(strings.TrimSpace(stdout), ".") != 2 || !strings.Contains(stderr, "enter the code") || strings.Contains(stderr, strings.TrimSpace(stdout)) {
		t.Fatalf("stdout %q, stderr:\n%s", stdout, stderr)
	}
	sb.login(srv)
	codes := srv.Requests(entratest.EndpointDeviceCode)
	sb.mustRun(exitOK, "token", "--credential", "device", "--scope", "api://another/.default")
	if srv.Requests(entratest.EndpointDeviceCode) != codes {
		t.Fatal("--credential device prompted although a saved sign-in works")
	}
}

// A denied device code: Entra's refusal, exit 1, nothing saved.
func TestLoginDenied(t *testing.T) {
	srv := newUserEmulator(t)
	sb := newSandbox(t)
	sb.useEmulator(srv)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := sb.cmd(ctx, "login", "--device-code")
	ep, _ := c.StderrPipe()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(ep)
	var seen strings.Builder
	for {
		l, err := br.ReadString('\n')
		seen.WriteString(l)
		if m := userCodeRE.FindStringSubmatch(l); m != nil {
			if err := srv.DenyDeviceCode(m[1]); err != nil {
				t.Fatal(err)
			}
			break
		}
		if err != nil {
			t.Fatalf("login printed %q: %v", seen.String(), err)
		}
	}
	rest, _ := readAll(br)
	c.Wait()
	if code := c.ProcessState.ExitCode(); code != exitFailure || !strings.Contains(rest, "AADSTS") {
		t.Fatalf("denied login: exit %d, stderr %q", code, seen.String()+rest)
	}
	if _, err := os.Stat(filepath.Join(sb.home, ".config", "azid", recordFile)); !os.IsNotExist(err) {
		t.Fatalf("a record was saved: %v", err)
	}
}

// A saved sign-in whose refresh token is gone needs the user: exit 4 and
// the advice to log in again, without prompting.
func TestSignInRequired(t *testing.T) {
	srv := newUserEmulator(t)
	sb := newSandbox(t)
	sb.useEmulator(srv)
	sb.login(srv, "--scope", storageTestScope)
	sb.mustRun(exitOK, "cache", "clear")
	_, stderr := sb.mustRun(exitSignIn, "token", "--scope", armTestScope)
	if !strings.Contains(stderr, entratest.DefaultUsername) || !strings.Contains(stderr, `run "azid login" again`) {
		t.Fatalf("stderr:\n%s", stderr)
	}
	if n := srv.Requests(entratest.EndpointDeviceCode); n != 1 {
		t.Fatalf("%d device code requests: azid token prompted", n)
	}
	// Logging in again repairs it.
	sb.login(srv)
	sb.mustRun(exitOK, "token", "--scope", armTestScope)
}

// A service principal's secret from the environment: served from disk on
// the second run; a wrong secret is Entra's refusal, exit 1, and the
// secret never appears.
func TestSecretCredential(t *testing.T) {
	srv := newUserEmulator(t)
	sb := newSandbox(t)
	sb.useEmulator(srv)
	sb.useSecretApp()
	for _, kind := range []string{"secret", "env", "default"} {
		stdout, stderr := sb.mustRun(exitOK, "token", "--credential", kind, "--scope", "api://demo/.default")
		parseToken(t, stdout)
		if kind != "secret" && !strings.Contains(stderr, "served from the persistent cache") && srv.Requests(entratest.EndpointToken) != 1 {
			t.Errorf("--credential %s: %d token requests, stderr %s", kind, srv.Requests(entratest.EndpointToken), stderr)
		}
	}
	if n := srv.Requests(entratest.EndpointToken); n != 1 {
		t.Fatalf("%d token requests for three runs", n)
	}

	sb.env["AZURE_CLIENT_SECRET"] = "not-the-secret-value"
	stdout, stderr := sb.mustRun(exitFailure, "token", "--credential", "secret", "--scope", "api://other/.default")
	if stdout != "" || strings.Contains(stderr, "not-the-secret-value") || !strings.Contains(stderr, "AADSTS") {
		t.Fatalf("stdout %q, stderr:\n%s", stdout, stderr)
	}
	delete(sb.env, "AZURE_CLIENT_SECRET")
	_, stderr = sb.mustRun(exitUnavailable, "token", "--credential", "secret", "--scope", "api://other/.default")
	if !strings.Contains(stderr, "AZURE_CLIENT_SECRET") {
		t.Fatalf("stderr:\n%s", stderr)
	}
}

// Ctrl-C: the emulator and azid serve stop cleanly, with exit 130 as every
// command; a login waiting for the user stops with exit 130 and saves
// nothing.
func TestInterrupt(t *testing.T) {
	sb := newSandbox(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := sb.cmd(ctx, "emulator")
	pr, _ := c.StdoutPipe()
	var errOut strings.Builder
	c.Stderr = &errOut
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil || !strings.Contains(line, "Entra ID emulator running") {
		t.Fatalf("first line %q, %v", line, err)
	}
	c.Process.Signal(os.Interrupt)
	c.Wait()
	if code := c.ProcessState.ExitCode(); code != exitInterrupted || !strings.Contains(errOut.String(), "stopping") {
		t.Fatalf("azid emulator after Ctrl-C: exit %d, stderr %q", code, errOut.String())
	}

	c = sb.cmd(ctx, "serve", "--emulator")
	pr, _ = c.StdoutPipe()
	errOut.Reset()
	c.Stderr = &errOut
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	line, err = bufio.NewReader(pr).ReadString('\n')
	if err != nil || !strings.Contains(line, "azid serve: serving") {
		t.Fatalf("azid serve's first line %q, %v", line, err)
	}
	c.Process.Signal(os.Interrupt)
	c.Wait()
	if code := c.ProcessState.ExitCode(); code != exitInterrupted || !strings.Contains(errOut.String(), "azid serve: stopped") {
		t.Fatalf("azid serve after Ctrl-C: exit %d, stderr %q", code, errOut.String())
	}

	srv := newUserEmulator(t)
	sb.useEmulator(srv)
	c = sb.cmd(ctx, "login", "--device-code")
	ep, _ := c.StderrPipe()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(ep)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "Waiting for you") {
		l, err := br.ReadString('\n')
		seen.WriteString(l)
		if err != nil {
			t.Fatalf("login printed %q: %v", seen.String(), err)
		}
	}
	c.Process.Signal(os.Interrupt)
	rest, _ := readAll(br)
	c.Wait()
	if code := c.ProcessState.ExitCode(); code != exitInterrupted || !strings.Contains(rest, "interrupted; not signed in") {
		t.Fatalf("login after Ctrl-C: exit %d, stderr %q", code, rest)
	}
	if _, err := os.Stat(filepath.Join(sb.home, ".config", "azid", recordFile)); !os.IsNotExist(err) {
		t.Fatalf("a record was saved: %v", err)
	}
}

func readAll(br *bufio.Reader) (string, error) {
	var b strings.Builder
	_, err := br.WriteTo(&b)
	return b.String(), err
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"token"}, "--scope is required"},
		{[]string{"token", "--scope", "x", "--output", "yaml"}, "--output must be json or raw"},
		{[]string{"token", "--scope", "x", "--credential", "kerberos"}, "--credential must be one of"},
		{[]string{"token", "--scope", "x", "--emulator", "--credential", "cli"}, "leave out --credential"},
		{[]string{"token", "--scope", "x", "extra"}, "unexpected argument"},
		{[]string{"token", "--bogus"}, "unknown flag --bogus"},
		{[]string{"token", "--scop", "x"}, "did you mean --scope?"},
		{[]string{"token", "--scope", ""}, "--scope needs a value"},
		{[]string{"token", "--scope", "x", "--tenant", ""}, "--tenant needs a value"},
		{[]string{"token", "--scope"}, "--scope needs a value"},
		{[]string{"token", "--emulator", "--scope", "x", "--calls", "0"}, "--calls"},
		{[]string{"token", "--emulator", "--scope", "x", "--calls", "-3"}, "at least 1"},
		{[]string{"token", "--emulator", "--scope", "x", "--calls", "two"}, "not a whole number"},
		{[]string{"token", "--scope", "x", "--calls", "2"}, "--calls goes with --emulator"},
		{[]string{"cache", "show", "-o", "yaml"}, "--output must be text or json"},
		{[]string{"cache", "show", "--name", ""}, "--name needs a value"},
		{[]string{"cache", "shwo"}, `did you mean "azid cache show"`},
		{[]string{"tokne"}, `did you mean "token"`},
		{[]string{"version", "now"}, "unexpected argument"},
		{[]string{"login", "--tenant", " "}, "--tenant needs a value"},
		{[]string{"login", "--device-code", "--browser"}, "choose one of"},
		{[]string{"login", "now"}, "unexpected argument"},
		{[]string{"logout", "everyone"}, "unexpected argument"},
		{[]string{"cache"}, `"azid cache show" or "azid cache clear"`},
		{[]string{"cache", "empty"}, `"azid cache show" or "azid cache clear"`},
		{[]string{"cache", "show", "--output", "yaml"}, "--output must be text or json"},
		{[]string{"serve", "--credentail", "cli"}, "unknown flag --credentail (did you mean --credential?)"},
		{[]string{"serve", "--credential", ""}, "--credential needs a value"},
		{[]string{"serve", "-o", "yaml"}, "--output must be text, env or json"},
		{[]string{"serve", "now"}, "unexpected argument"},
		{[]string{"frobnicate"}, "unknown command"},
		{nil, "Usage"},
	}
	for _, tc := range cases {
		code, stdout, stderr := runAzid(t, nil, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || stdout != "" || (tc.args != nil && strings.Count(stderr, "\n") > 2) {
			t.Errorf("azid %q: exit %d, stderr %q; want exit %d mentioning %q and nothing on stdout", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
}

func TestHelp(t *testing.T) {
	code, stdout, _ := runAzid(t, nil, "help")
	for _, want := range []string{"azid login", "azid token", "azid logout", "azid cache", "azid emulator", "azid serve", "azid version", "Exit codes", "130"} {
		if code != exitOK || !strings.Contains(stdout, want) {
			t.Fatalf("azid help: exit %d, lacks %q:\n%s", code, want, stdout)
		}
	}
	// Help that was asked for goes to stdout (so "| less" shows it), in
	// every spelling, with the command's flags: every command of the
	// table, so a new one is held to it too.
	cmds := [][]string{{"cache", "show"}}
	for _, name := range commandNames() {
		cmds = append(cmds, []string{name})
	}
	for _, cmd := range cmds {
		for _, h := range []string{"--help", "-h", "-help"} {
			code, stdout, stderr := runAzid(t, nil, append(cmd, h)...)
			if code != exitOK || stderr != "" || !strings.Contains(stdout, "Usage: azid "+cmd[0]) || (cmd[0] != "version" && !strings.Contains(stdout, "Exit codes")) {
				t.Errorf("azid %s %s: exit %d\nstdout:\n%s\nstderr:\n%s", cmd, h, code, stdout, stderr)
			}
		}
	}
	code, stdout, _ = runAzid(t, nil, "token", "--help")
	for _, want := range []string{"-scope", "-output", "-o string"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("azid token --help lacks the flag %q:\n%s", want, stdout)
		}
	}
	for _, args := range [][]string{{"help", "login"}, {"help", "cache"}} {
		code, stdout, stderr := runAzid(t, nil, args...)
		if code != exitOK || stderr != "" || !strings.Contains(stdout, "Usage: azid "+args[1]) {
			t.Errorf("azid %s: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
}

// The command-line conventions, through the built command as a user (and
// a pipe) sees them.
func TestCLIConventions(t *testing.T) {
	sb := newSandbox(t)

	for _, cmd := range []string{"token", "serve"} {
		stdout, stderr := sb.mustRun(exitOK, cmd, "--help")
		if !strings.HasPrefix(stdout, "Usage: azid "+cmd) || !strings.Contains(stdout, "Exit codes: ") || stderr != "" {
			t.Errorf("%s --help: stdout %.40q, stderr %q", cmd, stdout, stderr)
		}
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		stdout, stderr := sb.mustRun(exitOK, args...)
		if !strings.HasPrefix(stdout, "azid ") || !strings.Contains(stdout, "go1.") || strings.Count(stdout, "\n") != 1 || stderr != "" {
			t.Errorf("azid %s: stdout %q, stderr %q", args, stdout, stderr)
		}
	}

	// A mistyped flag: two short lines, not the whole usage.
	_, stderr := sb.mustRun(exitUsage, "token", "--scpoe", "x")
	if want := "azid token: unknown flag --scpoe (did you mean --scope?)\nRun \"azid token --help\" for usage.\n"; stderr != want {
		t.Errorf("mistyped flag: stderr %q, want %q", stderr, want)
	}
	_, stderr = sb.mustRun(exitUsage, "serve", "--credentail", "cli")
	if want := "azid serve: unknown flag --credentail (did you mean --credential?)\nRun \"azid serve --help\" for usage.\n"; stderr != want {
		t.Errorf("mistyped serve flag: stderr %q, want %q", stderr, want)
	}
	// An empty value is a usage error, not a fall back to a default.
	_, stderr = sb.mustRun(exitUsage, "token", "--scope", "")
	if !strings.Contains(stderr, "--scope needs a value") {
		t.Errorf("--scope '': %q", stderr)
	}
	_, stderr = sb.mustRun(exitUsage, "serve", "--credential", "")
	if !strings.Contains(stderr, "--credential needs a value") {
		t.Errorf("serve --credential '': %q", stderr)
	}
	_, stderr = sb.mustRun(exitUsage, "token", "--emulator", "--scope", "api://demo/.default", "--calls", "0")
	if !strings.Contains(stderr, "--calls") || !strings.Contains(stderr, "at least 1") {
		t.Errorf("--calls 0: %q", stderr)
	}

	for _, o := range []string{"-o", "--output"} {
		_, stderr = sb.mustRun(exitUsage, "serve", o, "yaml")
		if !strings.Contains(stderr, "--output must be text, env or json, not \"yaml\"") {
			t.Errorf("serve %s yaml: %q", o, stderr)
		}
	}

	// -o and --output mean the same for token and cache show.
	stdout, _ := sb.mustRun(exitOK, "token", "--emulator", "--scope", "api://demo/.default", "--calls", "1", "--output", "raw")
	if strings.Contains(stdout, "{") {
		t.Errorf("token --output raw: %q", stdout)
	}
	for _, o := range []string{"-o", "--output"} {
		stdout, _ := sb.mustRun(exitOK, "cache", "show", "--name", demoCacheName, o, "json")
		var v struct{ AccessTokens []json.RawMessage }
		if err := json.Unmarshal([]byte(stdout), &v); err != nil || len(v.AccessTokens) != 1 {
			t.Errorf("cache show %s json: %v\n%s", o, err, stdout)
		}
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
	}
}

// A cache key that is not a key: the commands that need the cache stop
// with exit 3 and say what is wrong (never echoing the value); a token
// from an app credential still comes, from memory.
func TestBadCacheKey(t *testing.T) {
	srv := newUserEmulator(t)
	sb := newSandbox(t)
	sb.useEmulator(srv)
	sb.env["AZID_CACHE_KEY"] = "not-a-key-value"
	for _, args := range [][]string{{"cache", "show"}, {"cache", "clear"}, {"login", "--device-code"}} {
		_, stderr := sb.mustRun(exitInternal, args...)
		if !strings.Contains(stderr, "AZID_CACHE_KEY") || !strings.Contains(stderr, "32 bytes") || strings.Contains(stderr, "not-a-key-value") {
			t.Errorf("azid %s: stderr:\n%s", args, stderr)
		}
	}
	if n := srv.Requests(entratest.EndpointDeviceCode); n != 0 {
		t.Errorf("login prompted (%d device codes) without a cache to keep the sign-in", n)
	}
	sb.useSecretApp()
	stdout, stderr := sb.mustRun(exitOK, "token", "--credential", "secret", "--scope", "api://demo/.default")
	parseToken(t, stdout)
	if !strings.Contains(stderr, "memory only") {
		t.Errorf("stderr:\n%s", stderr)
	}
}

// A damaged saved sign-in: azid token says which file and what to do
// (exit 3); azid logout deletes it; other credentials ignore it.
func TestDamagedRecord(t *testing.T) {
	srv := newUserEmulator(t)
	sb := newSandbox(t)
	sb.useEmulator(srv)
	path := filepath.Join(sb.home, ".config", "azid", recordFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`{"version":"1.0","authority":`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr := sb.mustRun(exitInternal, "token", "--scope", armTestScope)
	if !strings.Contains(stderr, path) || !strings.Contains(stderr, `"azid logout"`) {
		t.Fatalf("stderr:\n%s", stderr)
	}
	sb.useSecretApp()
	sb.mustRun(exitOK, "token", "--credential", "secret", "--scope", "api://demo/.default")
	_, stderr = sb.mustRun(exitOK, "logout")
	if _, err := os.Stat(path); !os.IsNotExist(err) || !strings.Contains(stderr, "deleted the unreadable") {
		t.Fatalf("logout left the damaged record (%v):\n%s", err, stderr)
	}
	sb.mustRun(exitOK, "token", "--scope", "api://demo/.default")
}

// No managed identity endpoint: the message says so once (exit 5, no
// credential available).
func TestNoManagedIdentityMessage(t *testing.T) {
	notIMDS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not here", http.StatusNotFound)
	}))
	defer notIMDS.Close()
	sb := newSandbox(t)
	// The whole chain, so that managed identity probes the endpoint; no
	// developer tool on PATH.
	delete(sb.env, "AZURE_TOKEN_CREDENTIALS")
	sb.env["PATH"] = t.TempDir()
	sb.env["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = notIMDS.URL
	_, stderr := sb.mustRun(exitUnavailable, "token", "--credential", "default", "--scope", armTestScope)
	if n := strings.Count(stderr, "no managed identity endpoint"); n != 1 {
		t.Errorf("the message says \"no managed identity endpoint\" %d times:\n%s", n, stderr)
	}
}

// "azid cache clear" deletes what is there and creates nothing: no file
// (nor, with the keyring, a key) for a partition that was never written,
// such as the CAE one.
func TestCacheClearCreatesNothing(t *testing.T) {
	sb := newSandbox(t)
	dir := filepath.Join(sb.home, ".cache", ".IdentityService")
	sb.mustRun(exitOK, "cache", "clear")
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("clearing an empty cache created %v", entries)
	}
	sb.mustRun(exitOK, "token", "--emulator", "--scope", "api://demo/.default", "--calls", "1")
	sb.mustRun(exitOK, "cache", "clear", "--name", demoCacheName)
	if _, err := os.Stat(filepath.Join(dir, demoCacheName+".cae")); !os.IsNotExist(err) {
		t.Errorf("cache clear created the CAE partition: %v", err)
	}
	stdout, _ := sb.mustRun(exitOK, "cache", "show", "--name", demoCacheName, "-o", "json")
	if !strings.Contains(stdout, `"accessTokens": []`) {
		t.Errorf("after clear:\n%s", stdout)
	}
}

// SIGTERM (docker stop, a process manager) stops the emulator with exit 0:
// it was asked to stop, not interrupted.
func TestEmulatorSIGTERM(t *testing.T) {
	sb := newSandbox(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := sb.cmd(ctx, "emulator", "--no-proxy")
	pr, _ := c.StdoutPipe()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(pr).ReadString('\n'); err != nil || !strings.Contains(line, "Entra ID emulator running") {
		t.Fatalf("first line %q, %v", line, err)
	}
	c.Process.Signal(syscall.SIGTERM)
	c.Wait()
	if code := c.ProcessState.ExitCode(); code != exitOK {
		t.Fatalf("azid emulator after SIGTERM: exit %d", code)
	}
}

// Faults from the configuration file apply from the first request, and
// SIGHUP re-reads them under a running client: an outage is switched on,
// a broken file leaves it on (and says so), and a file without faults
// heals the emulator.
func TestEmulatorFaultsAndSIGHUP(t *testing.T) {
	sb := newSandbox(t)
	cfg := filepath.Join(sb.home, "emulator.json")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"faults": {"token": {"status": 503, "retryAfter": "7s", "times": 1}}}`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := sb.cmd(ctx, "emulator", "--no-proxy", "--output", "json", "--config", cfg)
	stdout, _ := c.StdoutPipe()
	stderrPipe, _ := c.StderrPipe()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { c.Process.Signal(syscall.SIGTERM); c.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderrPipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(want string) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("azid emulator ended before printing %q", want)
				}
				if strings.Contains(l, want) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no line with %q on stderr", want)
			}
		}
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var info emulatorInfo
	if err := json.Unmarshal([]byte(line), &info); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	waitLine("faults: token (status 503, Retry-After 7s, for the next 1 requests)")
	client := clientTrusting(t, info.CAFile, "")
	tokenURL := info.AuthorityHost + entratest.DefaultTenantID + "/oauth2/v2.0/token"
	if s := postToken(t, client, tokenURL); s != 503 {
		t.Errorf("first token request: %d, want the configured 503", s)
	}
	if s := postToken(t, client, tokenURL); s != 200 {
		t.Errorf("second token request: %d, want 200 (the fault was for 1 request)", s)
	}

	write(`{"outage": true}`)
	c.Process.Signal(syscall.SIGHUP)
	waitLine("no faults; outage on")
	if s := postToken(t, client, tokenURL); s != 503 {
		t.Errorf("token request in the outage: %d, want 503", s)
	}
	write(`{"outage": tru`)
	c.Process.Signal(syscall.SIGHUP)
	waitLine("the faults stay as they were")
	if s := postToken(t, client, tokenURL); s != 503 {
		t.Errorf("token request after a broken file: %d, want the outage's 503", s)
	}
	write(`{}`)
	c.Process.Signal(syscall.SIGHUP)
	waitLine(": no faults")
	if s := postToken(t, client, tokenURL); s != 200 {
		t.Errorf("token request once healed: %d, want 200", s)
	}
}

// A directory where the cache file belongs: the token still comes (from
// the network) and stderr says why the persistent cache was not used,
// naming the path, once.
func TestCacheStoreWarning(t *testing.T) {
	srv := newUserEmulator(t)
	sb := newSandbox(t)
	sb.useEmulator(srv)
	sb.useSecretApp()
	sb.env["AZID_CACHE_NAME"] = "azid-dir-test"
	path := filepath.Join(sb.home, ".cache", ".IdentityService", "azid-dir-test")
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
	stdout, stderr := sb.mustRun(exitOK, "token", "--credential", "secret", "--scope", "api://demo/.default")
	parseToken(t, stdout)
	if strings.Count(stderr, path+" is a directory, not a file") != 1 || !strings.Contains(stderr, "using the network") {
		t.Errorf("stderr does not say once why the persistent cache was not used:\n%s", stderr)
	}
}
