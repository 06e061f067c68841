package azid_test

import (
	"log"
	"log/slog"
	"os"

	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/azid-go/azid"
)

// Logging with log/slog: azid's own events through the credential's Logger
// option, and the Azure SDK's HTTP events (process-wide) through
// RouteAzcoreLogs. Neither ever contains a token or a secret.
func ExampleRouteAzcoreLogs() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))

	// Once, in main: retries only, since request and response events are
	// verbose.
	azid.RouteAzcoreLogs(logger, azlog.EventRetryPolicy)

	cred, err := azid.NewClientSecretCredential(os.Getenv("AZURE_TENANT_ID"), os.Getenv("AZURE_CLIENT_ID"), os.Getenv("AZURE_CLIENT_SECRET"), &azid.ClientSecretCredentialOptions{
		// Token acquisitions, background refreshes, refresh failures with
		// their backoff, storage problems.
		Logger: logger,
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = cred
}
