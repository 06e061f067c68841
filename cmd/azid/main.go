// Command azid gets Microsoft Entra ID access tokens from the command line,
// from a persistent cache shared with Go programs that use azid or
// azidentity.
//
//	azid login                                   # sign in once
//	azid token --scope https://management.azure.com/.default
//	azid token --emulator --scope api://demo/.default
//	azid cache show
//	azid logout
//	azid emulator
//	azid version
//
// The token (and only the token) goes to standard output; messages go to
// standard error, except help that was asked for ("azid help", "azid
// COMMAND --help"), which goes to standard output. Run "azid help" for the
// commands and their exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/azid-go/azid"
)

// Exit codes, so scripts can tell failures apart. They are documented in
// usageText; keep the two in step.
const (
	exitOK          = 0
	exitFailure     = 1   // Entra ID (or the network) refused or failed the request
	exitUsage       = 2   // the command line is wrong
	exitInternal    = 3   // something on this machine failed: the emulator, the cache storage, the saved sign-in file
	exitSignIn      = 4   // a sign-in is needed: run "azid login"
	exitUnavailable = 5   // no credential is available here (nothing configured)
	exitInterrupted = 130 // Ctrl-C, as shells report SIGINT
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// commands is the command table, in the order "azid help" lists them.
func commands() []command {
	return []command{
		{"login", "login [flags]", "sign in once (browser or device code)", loginCmd},
		{"token", "token --scope SCOPE [flags]", "print an access token for SCOPE", tokenCmd},
		{"logout", "logout", "forget the sign-in and its tokens", logoutCmd},
		{"cache", "cache show | clear", "list (never the values) or delete cached tokens", cacheCmd},
		{"emulator", "emulator [flags]", "run a local Entra ID emulator until Ctrl-C", emulatorCmd},
		{"serve", "serve [flags]", "serve your sign-in to any SDK's managed identity credential", serveCmd},
		{"version", "version", "print azid's version", versionCmd},
	}
}

// run is the whole program, with its environment passed in so tests can run
// it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[1] != "help" {
			// "azid help token" is "azid token --help".
			return run(ctx, []string{args[1], "--help"}, stdout, stderr, getenv)
		}
		usage(stdout)
		return exitOK
	case "--version", "-version", "-v":
		return versionCmd(ctx, nil, e)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], e)
		}
	}
	msg := fmt.Sprintf("unknown command %q", args[0])
	if s := nearest(args[0], commandNames()); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	fmt.Fprintf(stderr, "azid: %s\nRun \"azid help\" for the commands.\n", msg)
	return exitUsage
}

func commandNames() []string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return names
}

// env is what a command gets from its process.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

const usageText = `azid gets Microsoft Entra ID access tokens, from a persistent cache.

Usage:
%s

Run "azid COMMAND --help" for a command's flags and examples.

Try it without an Azure account:
  azid token --emulator --scope api://demo/.default

Exit codes (every command):
  0    success
  1    Entra ID refused the request or could not be reached
  2    the command line is wrong
  3    something on this machine failed (cache storage, the saved sign-in,
       the emulator)
  4    a sign-in is needed: run "azid login"
  5    no credential is available here (nothing configured for it)
  130  interrupted (Ctrl-C)

Environment:
  AZURE_AUTHORITY_HOST    Entra ID host of another cloud or of an emulator
  AZID_CONFIG_DIR         where the sign-in is saved (default: the user's
                          config directory + /azid)
  AZID_CACHE_NAME         the persistent cache's name (default msal.cache,
                          azidentity's default, so Go programs share it;
                          "azid emulator" exports azid-emulator)
  AZID_CACHE_KEY          the cache key (32 bytes, base64 or hex) instead of
                          the keyring, for containers and CI
  AZID_CACHE_KEY_FILE     the same, read from a file
  AZID_CACHE_UNENCRYPTED  "1": keep tokens in a plain 0600 file when no
                          keyring is available
`

func usage(w io.Writer) {
	var b strings.Builder
	for _, c := range commands() {
		fmt.Fprintf(&b, "  azid %-31s %s\n", c.synopsis, c.summary)
	}
	fmt.Fprintf(w, usageText, strings.TrimSuffix(b.String(), "\n"))
}

// exitCodeOf maps a credential's error to an exit code.
func exitCodeOf(ctx context.Context, err error) int {
	var (
		required *azid.AuthenticationRequiredError
		failed   *azid.AuthenticationFailedError
		nr       interface{ NonRetriable() }
	)
	switch {
	case ctx.Err() != nil:
		return exitInterrupted
	case errors.As(err, &required):
		return exitSignIn
	case errors.As(err, &failed):
		return exitFailure
	case errors.As(err, &nr):
		// azid's credentials mark "cannot be used here" (and a chain
		// whose members all are) as non-retriable; failed requests are
		// AuthenticationFailedErrors, handled above.
		return exitUnavailable
	default:
		return exitFailure
	}
}
