package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

const tokenHelp = `Usage: azid token --scope SCOPE [flags]

Prints an access token for SCOPE as JSON in the Azure CLI's shape
(accessToken, expiresOn, expires_on, tokenType), or the bare token with
--output raw. Messages go to standard error; only the token goes to
standard output.

Credentials come from the environment: AZURE_TENANT_ID, AZURE_CLIENT_ID and
AZURE_CLIENT_SECRET (a service principal with a client secret).

With --emulator, azid starts a local Entra ID emulator in this process and
gets the token from it with the emulator's test app, so you can see the cache
at work without an Azure account: the first call goes to the network, the
following ones are cache hits, each with its timing.

Examples:
  azid token --emulator --scope api://demo/.default
  azid token --emulator --scope api://demo/.default --calls 10 --output raw
  AZURE_TENANT_ID=… AZURE_CLIENT_ID=… AZURE_CLIENT_SECRET=… \
    azid token --scope https://management.azure.com/.default

Exit codes: 0 success, 1 the token could not be obtained, 2 bad usage,
3 the emulator could not start.

Flags:
`

func tokenCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("azid token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), tokenHelp)
		fs.PrintDefaults()
	}
	var scopes multiFlag
	fs.Var(&scopes, "scope", "scope to request, e.g. https://management.azure.com/.default (repeatable)")
	tenant := fs.String("tenant", "", "tenant to request the token from (default: the credential's)")
	emulator := fs.Bool("emulator", false, "get the token from an in-process Entra ID emulator")
	calls := fs.Int("calls", 3, "with --emulator: how many times to call GetToken, to show the cache")
	output := fs.String("output", "json", "json or raw")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(scopes) == 0 {
		fmt.Fprintln(stderr, "azid token: --scope is required, e.g. --scope https://management.azure.com/.default")
		return exitUsage
	}
	if *output != "json" && *output != "raw" {
		fmt.Fprintf(stderr, "azid token: --output must be json or raw, not %q\n", *output)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "azid token: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}

	var cred interface {
		azcore.TokenCredential
		CacheStats() azid.CacheStats
	}
	n := 1
	if *emulator {
		srv, err := entratest.NewServer(nil)
		if err != nil {
			fmt.Fprintf(stderr, "azid token: starting the emulator: %v\n", err)
			return exitInternal
		}
		defer srv.Close()
		fmt.Fprintf(stderr, "emulator: Entra ID emulator listening at %s\n", srv.AuthorityHost())
		c, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
			&azid.ClientSecretCredentialOptions{
				ClientOptions: azcore.ClientOptions{
					Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()},
					Transport: srv.Client(),
				},
				DisableInstanceDiscovery: true,
			})
		if err != nil {
			fmt.Fprintf(stderr, "azid token: %v\n", err)
			return exitInternal
		}
		cred, n = c, max(*calls, 1)
	} else {
		t, id, secret := getenv("AZURE_TENANT_ID"), getenv("AZURE_CLIENT_ID"), getenv("AZURE_CLIENT_SECRET")
		if t == "" || id == "" || secret == "" {
			fmt.Fprintln(stderr, "azid token: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service principal, or use --emulator to try azid without an Azure account")
			return exitUsage
		}
		c, err := azid.NewClientSecretCredential(t, id, secret, nil)
		if err != nil {
			fmt.Fprintf(stderr, "azid token: %v\n", err)
			return exitUsage
		}
		cred = c
	}

	opts := policy.TokenRequestOptions{Scopes: scopes, TenantID: *tenant}
	var tok azcore.AccessToken
	for i := 1; i <= n; i++ {
		before := cred.CacheStats()
		start := time.Now()
		t, err := cred.GetToken(ctx, opts)
		took := time.Since(start)
		if err != nil {
			fmt.Fprintf(stderr, "azid token: %v\n", err)
			return exitFailure
		}
		tok = t
		if *emulator {
			after := cred.CacheStats()
			how := "cache hit"
			if after.TokenRequests > before.TokenRequests {
				how = "network acquisition (token request to the emulator)"
			}
			fmt.Fprintf(stderr, "call %d: %s in %s\n", i, how, took)
		}
	}
	if *emulator {
		st := cred.CacheStats()
		fmt.Fprintf(stderr, "cache: %d calls, %d token request(s), %d hit(s); token valid until %s\n",
			n, st.TokenRequests, st.Hits, tok.ExpiresOn.Local().Format(time.RFC3339))
	}
	return printToken(stdout, tok, *output)
}

// printToken writes tok in the Azure CLI's JSON shape, or raw.
func printToken(w io.Writer, tok azcore.AccessToken, output string) int {
	if output == "raw" {
		fmt.Fprintln(w, tok.Token)
		return exitOK
	}
	out := struct {
		AccessToken string `json:"accessToken"`
		ExpiresOn   string `json:"expiresOn"`
		ExpiresOnTS int64  `json:"expires_on"`
		TokenType   string `json:"tokenType"`
	}{tok.Token, tok.ExpiresOn.Local().Format("2006-01-02 15:04:05.000000"), tok.ExpiresOn.Unix(), "Bearer"}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return exitFailure
	}
	return exitOK
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, " ") }

func (m *multiFlag) Set(v string) error {
	*m = append(*m, v)
	return nil
}
