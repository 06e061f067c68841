package azid_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

// Logging with log/slog: azid's own events through the credential's Logger
// option, and the Azure SDK's HTTP events (process-wide) through
// RouteAzcoreLogs. Neither ever contains a token or a secret.
//
// In a program, logger is usually slog.New(slog.NewJSONHandler(os.Stderr,
// ...)); here a handler prints the first line of each azcore event, so the
// output is the same on every run.
func ExampleRouteAzcoreLogs() {
	logger := slog.New(firstLines{})

	// Once, in main: outgoing requests only, since responses and retries
	// are verbose.
	azid.RouteAzcoreLogs(logger, azlog.EventRequest)
	defer azid.RouteAzcoreLogs(nil)

	srv, err := entratest.NewServer(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	cred, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret, &azid.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()}, Transport: srv.Client()},
		// Token acquisitions, background refreshes, refresh failures with
		// their backoff, storage problems.
		Logger: logger,
	})
	if err != nil {
		log.Fatal(err)
	}
	opts := policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}}
	for range 3 {
		if _, err := cred.GetToken(context.Background(), opts); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// Request: ==> OUTGOING REQUEST (Try=1)
}

// firstLines is a slog handler that prints, for azcore's events (records
// with an "event" attribute), the event and the first line of the message.
type firstLines struct{}

func (firstLines) Enabled(context.Context, slog.Level) bool { return true }

func (firstLines) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "event" {
			first, _, _ := strings.Cut(r.Message, "\n")
			fmt.Fprintf(os.Stdout, "%s: %s\n", a.Value.String(), strings.TrimSpace(first))
			return false
		}
		return true
	})
	return nil
}

func (h firstLines) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h firstLines) WithGroup(string) slog.Handler      { return h }
