package azid

import (
	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/azid-go/azid/cache"
)

// Cache is a persistent token cache, made by [cache.New]. The Cache field of
// a credential's options takes one; the zero value keeps tokens in memory
// only. It is the same type as cache.Cache, named here as azidentity names
// its own, so that code written against azidentity compiles unchanged.
type Cache = cache.Cache

// EventAuthentication is azidentity's azcore log event for authentication
// messages. It is here so that programs that pass it to azcore's
// log.SetEvents compile unchanged. azid writes no azcore log events of its
// own (azcore keeps writing them to libraries inside the Azure SDK): it
// reports authentication to the slog.Logger in a credential's options, and
// [RouteAzcoreLogs] sends azcore's own events to slog as well.
const EventAuthentication azlog.Event = "Authentication"
