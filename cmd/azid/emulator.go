package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/azid-go/azid/entratest"
)

const emulatorHelp = `Usage: azid emulator [flags]

Runs a local Microsoft Entra ID emulator until Ctrl-C, for testing code that
gets tokens (azid, azidentity, the Azure CLI, your own) without an Azure
account. It prints the authority host, the CA certificate to trust, the
proxy address and test credentials.

Each run has a fresh CA and signing key: tokens and trust from an earlier
run do not carry over. The emulator serves HTTPS only, on loopback by
default.

It also runs an HTTPS CONNECT proxy that answers for every host,
login.microsoftonline.com included, so tools that insist on Entra's real
hosts (azidentity's instance discovery, the Azure CLI) reach the emulator
with HTTPS_PROXY; --no-proxy turns it off.

The printed exports work as they are, in a shell of their own, for azid
("azid token", DefaultAzureCredential, EnvironmentCredential), azidentity
and the Azure CLI ("az login --service-principal ..."). They keep azid's
tokens in the persistent cache "azid-emulator" (AZID_CACHE_NAME), never in
the msal.cache real programs share, and the Azure CLI's state in a
directory removed when the emulator stops. --output env prints only the
exports, then "# azid emulator: ready".

Examples:
  azid emulator
  azid emulator --addr 127.0.0.1:8443 --proxy-addr 127.0.0.1:8080
  azid emulator --output env > emu.env &   # then, once it is ready: . ./emu.env
  azid emulator --config emulator.json --user alice@contoso.example:Passw0rd
  azid emulator --output json        # one JSON object for scripts

See docs/EMULATOR.md for the configuration file and recipes.

A configuration file can also make endpoints fail ("faults": a status
with Retry-After, latency, dropped connections, an outage) to test how a
program copes; after editing it, send SIGHUP (kill -HUP PID) to apply its
faults and outage switch without a restart.

Exit codes: 0 stopped by SIGTERM, 2 bad usage or configuration, 3 the
emulator could not start, 130 stopped with Ctrl-C.

Flags:
`

// emulatorInfo is what the command prints about the running emulator, and
// the JSON object of --output json.
type emulatorInfo struct {
	AuthorityHost string        `json:"authorityHost"`
	CAFile        string        `json:"caFile"`
	ProxyURL      string        `json:"proxyUrl,omitempty"`
	Apps          []appInfo     `json:"apps"`
	Users         []userInfo    `json:"users,omitempty"`
	Tenants       []string      `json:"tenants"`
	Subscriptions []string      `json:"subscriptions,omitempty"`
	Env           []envVariable `json:"env"`
}

type appInfo struct {
	TenantID string `json:"tenantId"`
	ClientID string `json:"clientId"`
	// Secret is printed only for the built-in test app, whose secret is a
	// published constant; secrets from a configuration file stay there.
	Secret string `json:"secret,omitempty"`
}

type userInfo struct {
	Username string `json:"username"`
	TenantID string `json:"tenantId"`
	// Password is printed only for the built-in test user, whose
	// password is a published constant; declared passwords stay where
	// they were given.
	Password string `json:"password,omitempty"`
}

type envVariable struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// emulatorOutputs are --output's values: for people, for scripts, and
// shell exports to eval.
func emulatorOutputs() []string { return []string{"text", "json", "env"} }

func emulatorCmd(ctx context.Context, args []string, e *env) int {
	stdout, stderr := e.stdout, e.stderr
	fs := newFlags("azid emulator")
	addr := fs.String("addr", "127.0.0.1:0", "address to serve HTTPS on (port 0 picks a free one)")
	proxyAddr := fs.String("proxy-addr", "127.0.0.1:0", "address of the CONNECT proxy (port 0 picks a free one)")
	noProxy := fs.Bool("no-proxy", false, "run no CONNECT proxy (and print no HTTPS_PROXY)")
	configPath := fs.String("config", "", "JSON file of tenants, apps, users, token lifetimes and faults")
	caFile := fs.String("ca-file", "", "where to write the CA certificate (default: a temporary file removed on exit)")
	output := new(string)
	outputFlag(fs, output, "text", emulatorOutputs()...)
	var users multiFlag
	fs.Var(&users, "user", "test user as username:password (repeatable)")
	if code, done := parseFlags(fs, args, emulatorHelp, e); done {
		return code
	}
	if code, ok := checkOutput(e, "azid emulator", *output, emulatorOutputs()...); !ok {
		return code
	}

	var cfg entratest.Config
	if *configPath != "" {
		c, err := entratest.LoadConfig(*configPath)
		if err != nil {
			fmt.Fprintf(stderr, "azid emulator: %v\n", err)
			return exitUsage
		}
		cfg = *c
	}
	for _, u := range users {
		cu, err := entratest.ParseUser(u)
		if err != nil {
			// The value may hold a password: name only the flag.
			fmt.Fprintf(stderr, "azid emulator: --user: %v\n", err)
			return exitUsage
		}
		cfg.Users = append(cfg.Users, cu)
	}
	opts := cfg.Options
	opts.Addr = *addr
	if !*noProxy {
		opts.ProxyAddr = *proxyAddr
	} else if isSet(fs, "proxy-addr") {
		return usageError(e, "azid emulator", "choose one of --proxy-addr and --no-proxy")
	}
	if err := addUsers(&opts, cfg.Users); err != nil {
		fmt.Fprintf(stderr, "azid emulator: %v\n", err)
		return exitUsage
	}

	// SIGTERM too, so "docker stop" and process managers stop it cleanly
	// (exit 0: they asked for a stop); Ctrl-C cancels the parent context
	// and exits 130, as for every command.
	interrupted := ctx
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM)
	defer stop()
	// SIGHUP re-reads the faults and the outage switch from the file, so a
	// test can break and heal the emulator under a running client. It is
	// caught from before the first line is printed, so a script that
	// waits for that line may send it at once.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	srv, err := entratest.NewServer(&opts)
	if err != nil {
		fmt.Fprintf(stderr, "azid emulator: %v\n", err)
		return exitInternal
	}
	defer srv.Close()

	// A directory of the run's own: the CA certificate (unless --ca-file
	// places it) and the Azure CLI's state, so "az login" against the
	// emulator leaves the user's real az sign-in alone.
	dir, err := os.MkdirTemp("", "azid-emulator-")
	if err != nil {
		fmt.Fprintf(stderr, "azid emulator: %v\n", err)
		return exitInternal
	}
	defer os.RemoveAll(dir)
	azConfigDir := filepath.Join(dir, "az")
	if err := os.Mkdir(azConfigDir, 0o700); err != nil {
		fmt.Fprintf(stderr, "azid emulator: %v\n", err)
		return exitInternal
	}
	path := *caFile
	if path == "" {
		path = filepath.Join(dir, "ca.pem")
	}
	if err := os.WriteFile(path, srv.CACertPEM(), 0o600); err != nil {
		fmt.Fprintf(stderr, "azid emulator: writing the CA certificate: %v\n", err)
		return exitInternal
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}

	cfg.ApplyFaults(srv)
	if len(cfg.Faults) > 0 || cfg.Outage {
		fmt.Fprintf(stderr, "azid emulator: %s\n", describeFaults(&cfg))
	}

	info := describe(srv, opts, cfg.Users, path, azConfigDir)
	switch *output {
	case "json":
		if err := json.NewEncoder(stdout).Encode(info); err != nil {
			return exitInternal
		}
	case "env":
		printEnv(stdout, info)
	default:
		printInfo(stdout, info)
	}

	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-hup:
			reloadFaults(srv, *configPath, stderr)
		}
	}
	fmt.Fprintln(stderr, "azid emulator: stopping")
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "azid emulator: %v\n", err)
		return exitInternal
	}
	if interrupted.Err() != nil {
		return exitInterrupted
	}
	return exitOK
}

// addUsers registers declared test users with the emulator. Declaring
// any replaces the emulator's default user, as Options.Users does; the
// configuration already validated them and filled their defaults.
func addUsers(opts *entratest.Options, users []entratest.ConfigUser) error {
	if len(users) == 0 {
		return nil
	}
	seen := map[string]bool{}
	opts.Users = make([]entratest.User, 0, len(users))
	for _, u := range users {
		// Usernames are case-insensitive sign-in names: a duplicate
		// (a --user repeating a configured one) would be ambiguous.
		key := strings.ToLower(u.Username)
		if seen[key] {
			return fmt.Errorf("user %s is declared twice", u.Username)
		}
		seen[key] = true
		opts.Users = append(opts.Users, entratest.User{
			Username:    u.Username,
			Password:    u.Password,
			TenantID:    u.TenantID,
			ObjectID:    u.ObjectID,
			DisplayName: u.DisplayName,
		})
	}
	return nil
}

// describe gathers what a user needs to point a client at srv.
func describe(srv *entratest.Server, opts entratest.Options, users []entratest.ConfigUser, caFile, azConfigDir string) emulatorInfo {
	info := emulatorInfo{
		AuthorityHost: srv.AuthorityHost(),
		CAFile:        caFile,
		ProxyURL:      srv.ProxyURL(),
	}
	seen := map[string]bool{}
	addTenant := func(t string) {
		if !seen[t] {
			seen[t] = true
			info.Tenants = append(info.Tenants, t)
		}
	}
	if len(opts.Apps) == 0 {
		info.Apps = []appInfo{{TenantID: entratest.DefaultTenantID, ClientID: entratest.DefaultClientID, Secret: entratest.DefaultClientSecret}}
	}
	for _, a := range opts.Apps {
		info.Apps = append(info.Apps, appInfo{TenantID: a.TenantID, ClientID: a.ClientID})
	}
	for _, a := range info.Apps {
		addTenant(a.TenantID)
	}
	for _, t := range opts.Tenants {
		addTenant(t.ID)
		for _, s := range t.Subscriptions {
			info.Subscriptions = append(info.Subscriptions, s.ID)
		}
		if t.Subscriptions == nil {
			info.Subscriptions = append(info.Subscriptions, entratest.DefaultSubscriptionID(t.ID))
		}
	}
	if len(opts.Tenants) == 0 {
		info.Subscriptions = append(info.Subscriptions, entratest.DefaultSubscriptionID(info.Tenants[0]))
	}
	for _, u := range users {
		info.Users = append(info.Users, userInfo{Username: u.Username, TenantID: u.TenantID})
	}
	if len(users) == 0 {
		// The emulator registers its default user when none is declared,
		// in a tenant it chooses: ask it which.
		if hid, err := srv.HomeAccountID(entratest.DefaultUsername); err == nil {
			if _, tenant, ok := strings.Cut(hid, "."); ok {
				info.Users = []userInfo{{Username: entratest.DefaultUsername, TenantID: tenant, Password: entratest.DefaultPassword}}
			}
		}
	}
	first := info.Apps[0]
	info.Env = []envVariable{
		{"AZURE_AUTHORITY_HOST", info.AuthorityHost},
		{"AZURE_TENANT_ID", first.TenantID},
		{"AZURE_CLIENT_ID", first.ClientID},
	}
	if first.Secret != "" {
		info.Env = append(info.Env, envVariable{"AZURE_CLIENT_SECRET", first.Secret})
	}
	info.Env = append(info.Env,
		// Go trusts only the emulator's CA; Python (the Azure CLI) too.
		envVariable{"SSL_CERT_FILE", caFile}, envVariable{"REQUESTS_CA_BUNDLE", caFile},
		// azid's tokens from the emulator go to a cache of their own,
		// never into the msal.cache real programs share.
		envVariable{"AZID_CACHE_NAME", emulatorCacheName})
	if info.ProxyURL != "" {
		// Clients that ask login.microsoftonline.com for instance
		// discovery (azidentity, the Azure CLI) reach the emulator
		// through its proxy; Go clients never proxy loopback addresses,
		// so azid and azidentity still reach the emulator directly.
		info.Env = append(info.Env, envVariable{"HTTPS_PROXY", info.ProxyURL})
	}
	info.Env = append(info.Env, envVariable{"AZURE_CONFIG_DIR", azConfigDir}, envVariable{"AZURE_CORE_COLLECT_TELEMETRY", "false"})
	return info
}

// emulatorCacheName is the persistent cache the printed environment makes
// azid use: the --emulator demo's, a cache of its own.
const emulatorCacheName = demoCacheName

// printEnv writes the environment as shell exports only, for
// eval "$(azid emulator -o env)" patterns that read it from a file or a
// pipe while the emulator runs.
func printEnv(w io.Writer, info emulatorInfo) {
	for _, e := range info.Env {
		fmt.Fprintf(w, "export %s=%s\n", e.Name, shellQuote(e.Value))
	}
	// A line of its own that says the list is complete, for readers that
	// stop reading while the emulator keeps running.
	fmt.Fprintln(w, "# azid emulator: ready")
}

func printInfo(w io.Writer, info emulatorInfo) {
	fmt.Fprintf(w, "Entra ID emulator running. Press Ctrl-C to stop.\n\n")
	fmt.Fprintf(w, "  Authority host:  %s\n", info.AuthorityHost)
	fmt.Fprintf(w, "  CA certificate:  %s\n", info.CAFile)
	if info.ProxyURL != "" {
		fmt.Fprintf(w, "  Proxy:           %s  (HTTPS_PROXY; answers for login.microsoftonline.com and every other host)\n", info.ProxyURL)
	}
	for _, a := range info.Apps {
		fmt.Fprintf(w, "  App:             tenant %s  client %s", a.TenantID, a.ClientID)
		if a.Secret != "" {
			fmt.Fprintf(w, "  secret %s", a.Secret)
		} else {
			fmt.Fprint(w, "  secret as configured")
		}
		fmt.Fprintln(w)
	}
	for _, u := range info.Users {
		if u.Password != "" {
			fmt.Fprintf(w, "  User:            %s  (tenant %s)  password %s\n", u.Username, u.TenantID, u.Password)
		} else {
			fmt.Fprintf(w, "  User:            %s  (tenant %s, password as given)\n", u.Username, u.TenantID)
		}
	}
	for _, s := range info.Subscriptions {
		fmt.Fprintf(w, "  Subscription:    %s\n", s)
	}
	fmt.Fprintf(w, "\nFor azid, azidentity, EnvironmentCredential, DefaultAzureCredential and the Azure CLI,\n")
	fmt.Fprintf(w, "in a shell of their own (SSL_CERT_FILE makes Go trust only the emulator; HTTPS_PROXY\n")
	fmt.Fprintf(w, "sends every non-local HTTPS request to the emulator):\n")
	for _, e := range info.Env {
		fmt.Fprintf(w, "  export %s=%s\n", e.Name, shellQuote(e.Value))
	}
}

// shellQuote quotes a value for a POSIX shell when it needs it.
func shellQuote(s string) string {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '.' || c == '-' || c == '_' || c == ':') {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

// reloadFaults applies the faults and outage switch of the configuration
// file at path to a running emulator. Other settings need a restart: the
// apps, users and keys clients already hold must not change under them.
// A file that no longer parses leaves the faults as they were.
func reloadFaults(srv *entratest.Server, path string, stderr io.Writer) {
	if path == "" {
		fmt.Fprintln(stderr, "azid emulator: SIGHUP: there is no --config file to re-read faults from")
		return
	}
	c, err := entratest.LoadConfig(path)
	if err != nil {
		fmt.Fprintf(stderr, "azid emulator: SIGHUP: %v; the faults stay as they were\n", err)
		return
	}
	c.ApplyFaults(srv)
	fmt.Fprintf(stderr, "azid emulator: re-read %s (faults and outage only; other settings need a restart): %s\n", path, describeFaults(c))
}

// describeFaults says in one line which faults c sets, for the log.
func describeFaults(c *entratest.Config) string {
	var parts []string
	for _, ep := range slices.Sorted(maps.Keys(c.Faults)) {
		f := c.Faults[ep]
		var d []string
		if f.Latency > 0 {
			d = append(d, "latency "+f.Latency.String())
		}
		switch {
		case f.Hang:
			d = append(d, "hang")
		case f.Drop:
			d = append(d, "drop the connection")
		case f.Echo:
			d = append(d, "echo the request")
		case f.Body != nil:
			d = append(d, fmt.Sprintf("a %d-byte body", len(f.Body)))
		}
		if f.Status != 0 {
			d = append(d, fmt.Sprintf("status %d", f.Status))
		}
		if f.RetryAfter > 0 {
			d = append(d, "Retry-After "+f.RetryAfter.String())
		}
		if f.Times > 0 {
			d = append(d, fmt.Sprintf("for the next %d requests", f.Times))
		}
		parts = append(parts, string(ep)+" ("+strings.Join(d, ", ")+")")
	}
	s := "no faults"
	if len(parts) > 0 {
		s = "faults: " + strings.Join(parts, "; ")
	}
	if c.Outage {
		s += "; outage on (every endpoint answers 503)"
	}
	return s
}
