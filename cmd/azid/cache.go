package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/azid-go/azid/internal/persist"
)

const cacheHelp = `Usage: azid cache show [-o|--output text|json] [--name NAME]
       azid cache clear [--all] [--name NAME]

show lists what the persistent cache holds: the accounts signed in (and the
apps holding a refresh token for them) and the access tokens, with their
scopes, tenant and time left. Token values are never shown.

clear deletes every token and account from it, for every program sharing
it (azid, and azidentity programs using the same cache name). The saved
sign-in of "azid login" stays; "azid token" will ask you to sign in again.
With --all it removes the cache for good: its data and the encryption key
kept in the kernel keyring (and its copy in the Secret Service); the next
program to use the cache makes a new key.

The cache is "msal.cache" unless --name or AZID_CACHE_NAME says otherwise
("azid-emulator" is the --emulator demo's).

Examples:
  azid cache show
  azid cache show --output json | jq '.accessTokens[].scopes'
  azid cache clear --name azid-emulator
  azid cache clear --all

Exit codes: 0 success, 2 bad usage, 3 the cache could not be opened, read
or written.

Flags:
`

// cacheOutputs are "cache show --output"'s values.
func cacheOutputs() []string { return []string{"text", "json"} }

func cacheCmd(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 || (args[0] != "show" && args[0] != "clear") {
		if len(args) > 0 && isHelpFlag(args[0]) {
			printHelp(e.stdout, newFlags("azid cache"), cacheHelp)
			return exitOK
		}
		msg := "say \"azid cache show\" or \"azid cache clear\""
		if len(args) > 0 {
			if s := nearest(args[0], []string{"show", "clear"}); s != "" {
				msg = fmt.Sprintf("unknown subcommand %q (did you mean \"azid cache %s\"?)", args[0], s)
			}
		}
		return usageError(e, "azid cache", "%s", msg)
	}
	sub := args[0]
	fs := newFlags("azid cache " + sub)
	name := fs.String("name", cacheName(e.getenv), "the cache's name (AZID_CACHE_NAME sets the default)")
	output := "text"
	all := false
	if sub == "show" {
		outputFlag(fs, &output, "text", cacheOutputs()...)
	} else {
		fs.BoolVar(&all, "all", false, "delete the cache files and their encryption keys (keyring, Secret Service) too, not only the tokens")
	}
	if code, done := parseFlags(fs, args[1:], cacheHelp, e); done {
		return code
	}
	if code, ok := checkOutput(e, "azid cache show", output, cacheOutputs()...); !ok {
		return code
	}
	c, err := openNamedCache(*name, e)
	if err != nil {
		fmt.Fprintf(e.stderr, "azid cache %s: %v\n", sub, err)
		return exitInternal
	}
	if sub == "clear" && all {
		if err := persist.Remove(ctx, c); err != nil {
			fmt.Fprintf(e.stderr, "azid cache clear: %v\n", err)
			return exitInternal
		}
		fmt.Fprintf(e.stderr, "Removed the persistent cache %q: its files and keys.\n", *name)
		return exitOK
	}
	if sub == "clear" {
		if err := persist.Clear(ctx, c); err != nil {
			fmt.Fprintf(e.stderr, "azid cache clear: %v\n", err)
			return exitInternal
		}
		fmt.Fprintf(e.stderr, "Cleared the persistent cache %q.\n", *name)
		return exitOK
	}
	l, err := persist.List(ctx, c)
	if err != nil {
		fmt.Fprintf(e.stderr, "azid cache show: %v\n(\"azid cache clear\" replaces an unreadable cache)\n", err)
		return exitInternal
	}
	if output == "json" {
		return showJSON(e.stdout, l)
	}
	showText(e.stdout, l, time.Now())
	return exitOK
}

func isHelpFlag(s string) bool {
	return s == "-h" || s == "-help" || s == "--help" || s == "help"
}

// showJSON writes the listing for scripts; no field can hold a secret.
func showJSON(w io.Writer, l persist.Listing) int {
	type account struct {
		Username      string   `json:"username,omitempty"`
		HomeAccountID string   `json:"homeAccountId"`
		Environment   string   `json:"environment"`
		Tenant        string   `json:"tenant,omitempty"`
		ClientIDs     []string `json:"clientIds"`
	}
	type token struct {
		HomeAccountID string   `json:"homeAccountId,omitempty"`
		Environment   string   `json:"environment"`
		Tenant        string   `json:"tenant"`
		ClientID      string   `json:"clientId"`
		Scopes        []string `json:"scopes"`
		ExpiresOn     int64    `json:"expires_on"`
		CAE           bool     `json:"cae,omitempty"`
	}
	out := struct {
		Accounts     []account `json:"accounts"`
		AccessTokens []token   `json:"accessTokens"`
	}{Accounts: []account{}, AccessTokens: []token{}}
	for _, a := range l.Accounts {
		out.Accounts = append(out.Accounts, account{a.Username, a.HomeAccountID, a.Environment, a.Realm, a.ClientIDs})
	}
	for _, t := range l.AccessTokens {
		out.AccessTokens = append(out.AccessTokens, token{t.HomeAccountID, t.Environment, t.Realm, t.ClientID, t.Scopes, t.ExpiresOn.Unix(), t.CAE})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return exitInternal
	}
	return exitOK
}

func showText(w io.Writer, l persist.Listing, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Accounts (%d):\n", len(l.Accounts))
	if len(l.Accounts) > 0 {
		fmt.Fprintln(tw, "  USERNAME\tHOME ACCOUNT ID\tAUTHORITY\tAPPS WITH A REFRESH TOKEN")
	}
	for _, a := range l.Accounts {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", orDash(a.Username), a.HomeAccountID, a.Environment, orDash(strings.Join(a.ClientIDs, " ")))
	}
	fmt.Fprintf(tw, "\nAccess tokens (%d):\n", len(l.AccessTokens))
	if len(l.AccessTokens) > 0 {
		fmt.Fprintln(tw, "  SCOPES\tTENANT\tAPP\tACCOUNT\tTIME LEFT")
	}
	for _, t := range l.AccessTokens {
		left := t.ExpiresOn.Sub(now).Truncate(time.Second)
		status := left.String()
		if left <= 0 {
			status = "expired"
		}
		if t.CAE {
			status += " (CAE)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", strings.Join(t.Scopes, " "), t.Realm, t.ClientID, orDash(t.HomeAccountID), status)
	}
	_ = tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
