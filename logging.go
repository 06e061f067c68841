package azid

import (
	"context"
	"log/slog"

	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
)

// RouteAzcoreLogs sends azcore's log events (the HTTP requests, responses
// and retries of every Azure SDK client and every azid credential in the
// process) to logger, as slog records with an "event" attribute. Requests,
// responses, retries and long-running operations are logged at debug level,
// error responses at info level. Pass events to receive only some kinds (for
// example azlog.EventRetryPolicy); none means all. A nil logger stops the
// routing.
//
// azcore has a single, process-wide log listener, so this is a call the
// program makes once, typically in main, and not something a credential
// does for you: it replaces any listener set before, including one set with
// azlog.SetListener or by another library.
//
// azcore prints the values only of the headers and query parameters it
// allows, and azid's credentials (application, user and managed identity
// alike) never let azcore log token request or response bodies, nor the
// values of headers that carry a credential (Authorization,
// X-IDENTITY-HEADER, secret, cookies), even when ClientOptions.Logging
// asks for bodies or lists those headers in AllowedHeaders; so tokens and
// secrets do not reach logger. Your own clients' bodies are logged if their
// ClientOptions.Logging.IncludeBody is set.
//
// For azid's own events (token acquisitions, background refreshes, refresh
// failures and their backoff, storage problems), set the credential's
// Logger option.
func RouteAzcoreLogs(logger *slog.Logger, events ...azlog.Event) {
	if logger == nil {
		azlog.SetListener(nil)
		return
	}
	azlog.SetEvents(events...)
	azlog.SetListener(func(ev azlog.Event, msg string) {
		level := slog.LevelDebug
		if ev == azlog.EventResponseError {
			level = slog.LevelInfo
		}
		ctx := context.Background()
		if !logger.Enabled(ctx, level) {
			return
		}
		logger.LogAttrs(ctx, level, msg, slog.String("event", string(ev)))
	})
}
