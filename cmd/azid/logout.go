package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/azid-go/azid/internal/persist"
)

const logoutHelp = `Usage: azid logout

Forgets the sign-in saved by "azid login": deletes the saved record and,
from the persistent cache, the account and its tokens for azid's app (the
refresh token, the id token and every access token). Other applications'
tokens for the same person are left alone; "azid cache clear" deletes
everything.

Examples:
  azid logout
  azid logout && azid cache show

Exit codes: 0 signed out (or was not signed in), 2 bad usage, 3 the cache or
the record could not be changed.
`

func logoutCmd(ctx context.Context, args []string, e *env) int {
	fs := newFlags("azid logout")
	if code, done := parseFlags(fs, args, logoutHelp, e); done {
		return code
	}
	rec, path, ok, err := loadRecord(e.getenv)
	if err != nil {
		// A damaged record names nobody: delete it so that the next
		// login starts clean.
		fmt.Fprintf(e.stderr, "azid logout: %v\n", err)
		if path != "" {
			if err := os.Remove(path); err == nil {
				fmt.Fprintf(e.stderr, "azid logout: deleted the unreadable %s; its tokens stay in the cache (\"azid cache clear\" deletes them)\n", path)
				return exitOK
			}
		}
		return exitInternal
	}
	if !ok {
		fmt.Fprintln(e.stderr, "Not signed in; nothing to do.")
		return exitOK
	}
	c, err := openCache(e.getenv, warnLogger(e))
	if err != nil {
		fmt.Fprintf(e.stderr, "azid logout: %v\n", err)
		return exitInternal
	}
	// Tokens first: if this fails, the record still names the account, so
	// the user can retry.
	n, err := persist.Forget(ctx, c, persist.AccountKey{HomeAccountID: rec.HomeAccountID, Environment: recordHost(rec), ClientID: rec.ClientID})
	if err != nil {
		fmt.Fprintf(e.stderr, "azid logout: deleting the cached tokens of %s: %v\n", rec.Username, err)
		return exitInternal
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(e.stderr, "azid logout: %v\n", err)
		return exitInternal
	}
	fmt.Fprintf(e.stderr, "Signed out %s: deleted the saved sign-in and %d cached item(s).\n", rec.Username, n)
	return exitOK
}
