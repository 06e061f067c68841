package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
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

With --proxy-addr it also runs an HTTPS CONNECT proxy that answers for every
host, login.microsoftonline.com included, so tools that insist on Entra's
real hosts can be pointed at it with HTTPS_PROXY.

Examples:
  azid emulator
  azid emulator --addr 127.0.0.1:8443 --proxy-addr 127.0.0.1:8080
  azid emulator --config emulator.json --user alice@contoso.example:Passw0rd
  azid emulator --output json        # one JSON object for scripts

See docs/EMULATOR.md for the configuration file and recipes.

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

func emulatorCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("azid emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), emulatorHelp)
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:0", "address to serve HTTPS on (port 0 picks a free one)")
	proxyAddr := fs.String("proxy-addr", "", "also run the CONNECT proxy on this address, e.g. 127.0.0.1:8080 (default: no proxy)")
	configPath := fs.String("config", "", "JSON file of tenants, apps, users and token lifetimes")
	caFile := fs.String("ca-file", "", "where to write the CA certificate (default: a temporary file removed on exit)")
	output := fs.String("output", "text", "text or json")
	var users multiFlag
	fs.Var(&users, "user", "test user as username:password (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "azid emulator: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(stderr, "azid emulator: --output must be text or json, not %q\n", *output)
		return exitUsage
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
	opts.ProxyAddr = *proxyAddr
	if err := addUsers(&opts, cfg.Users); err != nil {
		fmt.Fprintf(stderr, "azid emulator: %v\n", err)
		return exitUsage
	}

	// SIGTERM too, so "docker stop" and process managers stop it cleanly.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM)
	defer stop()

	srv, err := entratest.NewServer(&opts)
	if err != nil {
		fmt.Fprintf(stderr, "azid emulator: %v\n", err)
		return exitInternal
	}
	defer srv.Close()

	path := *caFile
	if path == "" {
		dir, err := os.MkdirTemp("", "azid-emulator-")
		if err != nil {
			fmt.Fprintf(stderr, "azid emulator: %v\n", err)
			return exitInternal
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "ca.pem")
	}
	if err := os.WriteFile(path, srv.CACertPEM(), 0o600); err != nil {
		fmt.Fprintf(stderr, "azid emulator: writing the CA certificate: %v\n", err)
		return exitInternal
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}

	info := describe(srv, opts, cfg.Users, path)
	if *output == "json" {
		if err := json.NewEncoder(stdout).Encode(info); err != nil {
			return exitInternal
		}
	} else {
		printInfo(stdout, info)
	}

	<-ctx.Done()
	fmt.Fprintln(stderr, "azid emulator: stopping")
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "azid emulator: %v\n", err)
		return exitInternal
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
func describe(srv *entratest.Server, opts entratest.Options, users []entratest.ConfigUser, caFile string) emulatorInfo {
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
	info.Env = append(info.Env, envVariable{"SSL_CERT_FILE", caFile}, envVariable{"REQUESTS_CA_BUNDLE", caFile})
	return info
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
	fmt.Fprintf(w, "\nFor azid, azidentity and EnvironmentCredential (SSL_CERT_FILE makes Go trust only the emulator):\n")
	for _, e := range info.Env {
		fmt.Fprintf(w, "  export %s=%s\n", e.Name, shellQuote(e.Value))
	}
	if info.ProxyURL != "" {
		fmt.Fprintf(w, "\nFor the Azure CLI (see docs/EMULATOR.md):\n")
		fmt.Fprintf(w, "  export HTTPS_PROXY=%s REQUESTS_CA_BUNDLE=%s AZURE_CONFIG_DIR=$(mktemp -d)\n", info.ProxyURL, shellQuote(info.CAFile))
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
