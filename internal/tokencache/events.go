package tokencache

import (
	"context"
	"log/slog"
	"time"
)

// EventKind names a slow-path event.
type EventKind int

// The events a Cache reports through Options.OnEvent and its logger.
const (
	// EventAcquired: a token was acquired (from the network or the store).
	EventAcquired EventKind = iota + 1
	// EventAcquireFailed: an acquisition failed and no usable token remains;
	// its waiters received the error.
	EventAcquireFailed
	// EventRefreshFailed: an acquisition failed while a usable token
	// remained; that token stays in service and the retry waits RetryIn.
	EventRefreshFailed
	// EventStoreHit: a miss was answered by the second-level store.
	EventStoreHit
	// EventStoreError: the second-level store failed; the engine carried on.
	EventStoreError
	// EventEvicted: entries were dropped to respect the memory bound.
	EventEvicted
	// EventInvalidated: a token was dropped because a resource rejected it.
	EventInvalidated
	// EventCleared: every entry was dropped (Cache.Clear).
	EventCleared
	// EventPut: a token acquired elsewhere was cached (Cache.Put).
	EventPut
)

var eventNames = [...]string{"unknown", "acquired", "acquire failed", "refresh failed", "store hit",
	"store error", "evicted", "invalidated", "cleared", "put"}

func (k EventKind) String() string {
	if k < 0 || int(k) >= len(eventNames) {
		return eventNames[0]
	}
	return eventNames[k]
}

// Event describes something the engine did off the hit path. It never holds
// a token.
type Event struct {
	Kind       EventKind
	Key        Key
	Background bool
	Claims     bool
	Duration   time.Duration
	RetryIn    time.Duration
	Count      int // for EventEvicted and EventCleared
	Err        error
}

const slogWarn = slog.LevelWarn

func (c *Cache) emit(ev Event) {
	if c.opts.OnEvent != nil {
		c.opts.OnEvent(ev)
	}
}

// log writes an acquisition's outcome. Failures of a background refresh are
// warnings (callers are still served); foreground failures are returned to
// callers, so they are logged at debug level only.
func (c *Cache) log(ctx context.Context, ev Event) {
	l := c.opts.Logger
	attrs := []slog.Attr{keyAttr(ev.Key), slog.Bool("background", ev.Background), slog.Duration("took", ev.Duration)}
	switch ev.Kind {
	case EventAcquired:
		l.LogAttrs(ctx, slog.LevelDebug, "token acquired", attrs...)
	case EventRefreshFailed:
		l.LogAttrs(ctx, slog.LevelWarn, "token refresh failed; serving the cached token", append(attrs, slog.Duration("retry_in", ev.RetryIn), errAttr(ev.Err))...)
	case EventAcquireFailed:
		l.LogAttrs(ctx, slog.LevelDebug, "token acquisition failed", append(attrs, errAttr(ev.Err))...)
	}
}

func keyAttr(k Key) slog.Attr {
	return slog.Group("key", slog.String("tenant", k.TenantID), slog.String("scopes", k.ScopeString()), slog.Bool("cae", k.CAE))
}

func errAttr(err error) slog.Attr { return slog.String("error", err.Error()) }
