package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/azid-go/azid/entratest"
	"github.com/azid-go/azid/internal/serve"
)

const serveHelp = `Usage: azid serve [flags]

Serves your identity to programs that use managed identity: any Azure SDK's
ManagedIdentityCredential or DefaultAzureCredential, in Go, Python,
JavaScript, .NET or Java, gets tokens from azid (and its persistent cache)
with no change to the program. azid serve speaks App Service's managed
identity endpoint (IDENTITY_ENDPOINT and IDENTITY_HEADER, api-version
2019-08-01, and the older MSI_ENDPOINT and MSI_SECRET, 2017-09-01).

On start it prints the four variables to give a program (--output env
prints "export" lines for a shell, --output json an object), then logs one
line per request on standard error: the caller, the resource, whether the
token came from the cache, never the token. It runs until stopped: Ctrl-C
stops it with exit 130, SIGTERM (a service manager's or "docker stop"'s
normal stop) with exit 0.

Which credential (--credential):
  login (default)  the sign-in saved by "azid login"; when it needs you
                   again, callers get an error naming "azid login" and the
                   server keeps running
  default, env, secret, workload, mi, cli, azd, pwsh
                   as for "azid token" (see "azid token --help")
With --emulator, tokens come from a local Entra ID emulator's test app, to
try it out without an Azure account.

Threat model. Anyone who can call the endpoint with the secret gets tokens
for your identity, for any resource (unless --allow-resource limits them).
  - It listens on 127.0.0.1, on a random port, unless --addr says otherwise;
    any other address needs --allow-remote, and then every machine that can
    reach it and knows the secret can use your identity.
  - The secret is 256 random bits, new each run, compared in constant time;
    requests without it get 401 and are logged. Programs you give it to can
    use your identity: give it only to programs you trust.
  - The Host header must name this machine's loopback (localhost, 127.0.0.1,
    ::1), the address listened on, or a name given with --allow-host, so a
    web page cannot reach it through DNS rebinding; browsers are refused
    (requests with Origin or Sec-Fetch-* headers, preflights) and no CORS
    header is ever sent.
  - Each client address may make --rate requests a second (429 past it).
  - Other local users can connect to a loopback port: the secret is what
    keeps them out, so do not put it where they can read it.
  - Tokens live in azid's persistent cache, as with "azid token".

Containers: inside a container 127.0.0.1 is the container itself. On Linux
run it with --network host; otherwise listen where the container can reach
(e.g. --addr 172.17.0.1:8901 --allow-remote --allow-host host.docker.internal)
and give it IDENTITY_ENDPOINT=http://host.docker.internal:8901/msi/token.
The Azure CLI 2.45 (az login --identity) also needs
APPSETTING_WEBSITE_SITE_NAME set (to anything). More in docs/SERVE.md.

Examples:
  azid serve                                    # the "azid login" sign-in
  (umask 077; azid serve --emulator -o env > serve.env) & sleep 1; . ./serve.env
  azid serve --credential cli --allow-resource https://storage.azure.com/

Exit codes: 0 stopped by SIGTERM, 2 bad usage, 3 a local failure (the
address cannot be listened on, the cache storage, the saved sign-in), 4 not
signed in (run "azid login"), 5 the credential cannot be used here, 130
stopped with Ctrl-C.

Flags:
`

// serveKinds are the credentials azid serve can use: every one "azid
// token" knows but the interactive ones (a server has nobody to prompt;
// sign in first with "azid login").
func serveKinds() []string {
	return []string{"login", "default", "env", "secret", "workload", "mi", "cli", "azd", "pwsh"}
}

// serveOutputs are --output's values: for people, for a shell, for scripts.
func serveOutputs() []string { return []string{"text", "env", "json"} }

type serveFlags struct {
	credential  string
	clientID    string
	tenant      string
	emulator    bool
	addr        string
	allowRemote bool
	hosts       multiFlag
	resources   multiFlag
	rate        float64
	output      string
}

func serveCmd(ctx context.Context, args []string, e *env) int {
	const name = "azid serve"
	// Requests log concurrently; every line must arrive whole.
	e = &env{stdout: e.stdout, stderr: &lockedWriter{w: e.stderr}, getenv: e.getenv}
	fs := newFlags(name)
	var f serveFlags
	fs.StringVar(&f.credential, "credential", "login", "where the tokens come from: "+strings.Join(serveKinds(), ", "))
	fs.StringVar(&f.clientID, "client-id", "", "with --credential mi: a user-assigned managed identity's client ID")
	fs.StringVar(&f.tenant, "tenant", "", "tenant to request tokens from (default: the credential's)")
	fs.BoolVar(&f.emulator, "emulator", false, "serve tokens from a local Entra ID emulator (a demo; no Azure account needed)")
	fs.StringVar(&f.addr, "addr", "127.0.0.1:0", "address to listen on (port 0: a random one)")
	fs.BoolVar(&f.allowRemote, "allow-remote", false, "allow --addr to be other than loopback (other machines could then use your identity)")
	fs.Var(&f.hosts, "allow-host", "a host name callers may use in the Host header, e.g. host.docker.internal (repeatable)")
	fs.Var(&f.resources, "allow-resource", "serve only this resource, e.g. https://storage.azure.com/ (repeatable; default: any)")
	fs.Float64Var(&f.rate, "rate", serve.DefaultRate, "requests a second allowed per client address (0: no limit)")
	outputFlag(fs, &f.output, "text", serveOutputs()...)
	if code, done := parseFlags(fs, args, serveHelp, e); done {
		return code
	}
	if code, ok := checkOutput(e, name, f.output, serveOutputs()...); !ok {
		return code
	}
	usageErr := func(format string, a ...any) int { return usageError(e, name, format, a...) }
	switch {
	case f.emulator && isSet(fs, "credential"):
		return usageErr("--emulator uses the emulator's test app; leave out --credential")
	case !contains(serveKinds(), f.credential):
		if f.credential == "device" || f.credential == "browser" {
			return usageErr("--credential %s would prompt inside a server: sign in first with \"azid login\", then run azid serve", f.credential)
		}
		return usageErr("--credential must be one of %s, not %q", strings.Join(serveKinds(), ", "), f.credential)
	case f.rate < 0:
		return usageErr("--rate must be 0 (no limit) or more, not %v", f.rate)
	case f.clientID != "" && f.credential != "mi":
		return usageErr("--client-id names a user-assigned managed identity; it goes with --credential mi")
	}
	for _, h := range f.hosts {
		if h == "" || strings.ContainsAny(h, " \t\r\n/") {
			return usageErr("--allow-host needs a host name such as host.docker.internal, not %q", h)
		}
	}
	for _, r := range f.resources {
		if r == "" || strings.ContainsAny(r, " \t\r\n") {
			return usageErr("--allow-resource needs a resource such as https://storage.azure.com/, not %q", r)
		}
	}
	host, _, err := net.SplitHostPort(f.addr)
	if err != nil {
		return usageErr("--addr must be host:port, such as 127.0.0.1:0 (%v)", err)
	}
	loopback := host == "localhost"
	if ip := net.ParseIP(host); ip != nil {
		loopback = ip.IsLoopback()
	}
	if !loopback && !f.allowRemote {
		return usageErr("--addr %s is not a loopback address: anyone who can reach it and learns the secret could use your identity; add --allow-remote if that is what you want", f.addr)
	}

	// SIGTERM too: containers and service managers stop servers with it,
	// and exit 0 tells them the stop they asked for went well; Ctrl-C
	// cancels the parent context and exits 130, as for every command.
	interrupted := ctx
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM)
	defer stop()

	opts := serve.Options{Hosts: f.hosts, AllowResources: f.resources, Rate: f.rate, Burst: int(4 * f.rate)}
	if f.rate == 0 {
		opts.Rate = -1
	}
	who := ""
	if f.emulator {
		c, unencrypted, err := openDemoCache(e)
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: the demo's persistent cache: %v; tokens are kept in memory only\n", name, err)
		} else if unencrypted {
			fmt.Fprintf(e.stderr, "%s: no encrypted storage here; the demo keeps its emulator tokens (valid nowhere else) in an unencrypted file\n", name)
		}
		em := &lazyEmulator{started: func(s *entratest.Server) {
			fmt.Fprintf(e.stderr, "emulator: Entra ID emulator listening at %s\n", s.AuthorityHost())
		}}
		defer em.close()
		cred, err := demoCredential(em, c)
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: %v\n", name, err)
			return exitInternal
		}
		opts.Credential, opts.ClientID, who = cred, entratest.DefaultClientID, "the emulator's test app"
	} else {
		cred, code := buildCredential(e, tokenFlags{credential: f.credential, clientID: f.clientID, tenant: f.tenant, cmd: name})
		if code != exitOK {
			return code
		}
		defer cred.close()
		opts.Credential = cred.TokenCredential
		switch {
		case cred.record != nil:
			opts.ClientID = cred.record.ClientID
			who = cred.record.Username
		case f.credential == "secret":
			opts.ClientID = e.getenv("AZURE_CLIENT_ID")
		case f.credential == "mi":
			opts.ClientID = f.clientID
		}
		if who == "" {
			who = "--credential " + f.credential
		}
	}
	opts.TenantID = f.tenant

	if !loopback {
		fmt.Fprintf(e.stderr, "%s: WARNING: listening on %s, not loopback: anyone who can reach this address and has the secret can get tokens as %s\n", name, f.addr, who)
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		fmt.Fprintf(e.stderr, "%s: listening on %s: %v (choose another --addr)\n", name, f.addr, err)
		return exitInternal
	}
	bound := ln.Addr().(*net.TCPAddr)
	if !bound.IP.IsUnspecified() {
		opts.Hosts = append(opts.Hosts, bound.IP.String())
	}
	opts.Secret, err = serve.NewSecret()
	if err != nil {
		ln.Close()
		fmt.Fprintf(e.stderr, "%s: %v\n", name, err)
		return exitInternal
	}
	opts.Log = func(ev serve.Event) { logServed(e, ev) }
	h, err := serve.New(opts)
	if err != nil {
		ln.Close()
		fmt.Fprintf(e.stderr, "%s: %v\n", name, err)
		return exitInternal
	}

	// The endpoint a local program uses: loopback, even when listening on
	// every address.
	endpointHost := bound.IP.String()
	if bound.IP.IsUnspecified() {
		endpointHost = "127.0.0.1"
	}
	endpoint := "http://" + net.JoinHostPort(endpointHost, strconv.Itoa(bound.Port)) + serve.Path
	printServeEnv(e, f.output, endpoint, opts.Secret, who, bound.Port)

	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Long enough for an acquisition the engine bounds at a minute.
		WriteTimeout:   90 * time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 16 << 10,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		fmt.Fprintf(e.stderr, "%s: %v\n", name, err)
		return exitInternal
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shut)
	fmt.Fprintf(e.stderr, "%s: stopped\n", name)
	if interrupted.Err() != nil {
		return exitInterrupted
	}
	return exitOK
}

// printServeEnv prints what a program needs, in the chosen form.
func printServeEnv(e *env, output, endpoint, secret, who string, port int) {
	vars := [][2]string{
		{"IDENTITY_ENDPOINT", endpoint},
		{"IDENTITY_HEADER", secret},
		{"MSI_ENDPOINT", endpoint},
		{"MSI_SECRET", secret},
	}
	switch output {
	case "env":
		for _, v := range vars {
			fmt.Fprintf(e.stdout, "export %s=%s\n", v[0], v[1])
		}
	case "json":
		m := map[string]string{}
		for _, v := range vars {
			m[v[0]] = v[1]
		}
		b, _ := json.Marshal(m)
		fmt.Fprintf(e.stdout, "%s\n", b)
	default:
		fmt.Fprintf(e.stdout, "azid serve: serving %s at %s\n\n", who, endpoint)
		fmt.Fprintln(e.stdout, "Give a program these (its ManagedIdentityCredential and DefaultAzureCredential use them):")
		for _, v := range vars {
			fmt.Fprintf(e.stdout, "  export %s=%s\n", v[0], v[1])
		}
		fmt.Fprintf(e.stdout, "\nIn a Linux container, with the host's network (127.0.0.1 is otherwise the container):\n")
		fmt.Fprintf(e.stdout, "  docker run --network host -e IDENTITY_ENDPOINT -e IDENTITY_HEADER -e MSI_ENDPOINT -e MSI_SECRET IMAGE\n")
		fmt.Fprintf(e.stdout, "Docker Desktop and bridge networks: see \"azid serve --help\" (Containers). Port: %d.\n\n", port)
		fmt.Fprintln(e.stdout, "Ctrl-C stops it. Requests are logged on standard error (never a token).")
	}
}

// logServed writes one line per request: never a token or the secret.
func logServed(e *env, ev serve.Event) {
	outcome := ev.Source
	if ev.Status != http.StatusOK {
		outcome = "refused: " + ev.Reason
	} else if outcome == "" {
		outcome = "served"
	}
	res := "-"
	if ev.Resource != "" {
		res = strconv.Quote(ev.Resource)
	}
	fmt.Fprintf(e.stderr, "%s %s %s resource=%s %d %s (%s)\n", time.Now().UTC().Format(time.RFC3339), ev.Remote, ev.Method,
		res, ev.Status, outcome, elapsed(ev.Duration))
}

// lockedWriter serialises the request log's lines, written from many
// requests at once.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
