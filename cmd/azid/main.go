// Command azid gets Microsoft Entra ID access tokens from the command line.
//
//	azid token --scope https://management.azure.com/.default
//	azid token --emulator --scope api://demo/.default
//	azid emulator --proxy-addr 127.0.0.1:8080
//
// The token (and only the token) goes to standard output; messages go to
// standard error. Run "azid help" for the commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
)

// Exit codes, so scripts can tell failures apart.
const (
	exitOK       = 0
	exitFailure  = 1 // the token could not be obtained
	exitUsage    = 2 // the command line is wrong
	exitInternal = 3 // something on this machine failed (e.g. the emulator could not start)
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run is the whole program, with its environment passed in so tests can run
// it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "token":
		return tokenCmd(ctx, args[1:], stdout, stderr, getenv)
	case "emulator":
		return emulatorCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	default:
		fmt.Fprintf(stderr, "azid: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `azid gets Microsoft Entra ID access tokens.

Usage:
  azid token --scope SCOPE [flags]   print an access token for SCOPE
  azid emulator [flags]              run a local Entra ID emulator until Ctrl-C

Run "azid token --help" or "azid emulator --help" for the flags and examples.
`)
}
