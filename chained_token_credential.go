package azid

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

const credNameChained = "ChainedTokenCredential"

// ChainedTokenCredentialOptions configures a [ChainedTokenCredential]. The
// zero value is ready to use.
type ChainedTokenCredentialOptions struct {
	// RetrySources makes every GetToken try the sources from the first one
	// again. By default the chain remembers the first source that returned a
	// token and, from then on, uses only that one.
	RetrySources bool
}

// ChainedTokenCredential tries several credentials in order and uses the
// first that returns a token.
//
// A source that is unavailable here (not configured, its tool not installed
// or not signed in, no managed identity endpoint), or that needs a user's
// interaction (an [AuthenticationRequiredError]), sends the chain on to the
// next source. Any other failure stops the chain: a source that is
// configured but fails, for example with a wrong secret, is a problem to
// fix, not to paper over with another identity. When the chain fails, its
// error lists every source it tried and why each failed.
type ChainedTokenCredential struct {
	name    string
	sources []azcore.TokenCredential
	retry   bool

	// chosen is the source that worked, once one has (unless retry). The
	// hit path reads it with one atomic load.
	chosen atomic.Pointer[chainSource]

	mu sync.Mutex
	// searching is closed when the goroutine trying the sources finishes;
	// nil when none is.
	searching chan struct{}
}

type chainSource struct{ cred azcore.TokenCredential }

// NewChainedTokenCredential creates a ChainedTokenCredential over sources,
// tried in the order given. Pass nil options for the defaults.
func NewChainedTokenCredential(sources []azcore.TokenCredential, options *ChainedTokenCredentialOptions) (*ChainedTokenCredential, error) {
	if len(sources) == 0 {
		return nil, errors.New(credNameChained + ": sources must contain at least one credential")
	}
	for i, s := range sources {
		if s == nil {
			return nil, fmt.Errorf("%s: source %d is nil", credNameChained, i)
		}
	}
	o := ChainedTokenCredentialOptions{}
	if options != nil {
		o = *options
	}
	// As in azidentity, a managed identity credential in a chain treats an
	// IMDS address answered by something else as "unavailable here", so
	// the chain moves on instead of failing.
	for _, s := range sources {
		if mi, ok := s.(*ManagedIdentityCredential); ok {
			mi.inChain()
		}
	}
	return newChain(credNameChained, sources, o), nil
}

// newChain builds a chain named name (DefaultAzureCredential is one) over
// valid sources.
func newChain(name string, sources []azcore.TokenCredential, o ChainedTokenCredentialOptions) *ChainedTokenCredential {
	return &ChainedTokenCredential{
		name:    name,
		sources: append([]azcore.TokenCredential(nil), sources...),
		retry:   o.RetrySources,
	}
}

// GetToken returns a token from the first source that provides one (or, once
// a source has worked, from that source alone unless RetrySources is set).
// Azure SDK clients call it for you.
//
// While no source is known to work, concurrent callers wait for one
// goroutine to try the sources rather than all trying them at once; a
// waiter gives up when its context ends.
func (c *ChainedTokenCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if c.retry {
		tok, _, err := c.try(ctx, opts)
		return tok, err
	}
	for {
		if s := c.chosen.Load(); s != nil {
			return s.cred.GetToken(ctx, opts)
		}
		c.mu.Lock()
		if c.chosen.Load() != nil {
			c.mu.Unlock()
			continue
		}
		if wait := c.searching; wait != nil {
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return azcore.AccessToken{}, fmt.Errorf("%s: stopped waiting for the credential chain: %w", c.name, context.Cause(ctx))
			}
		}
		c.searching = make(chan struct{})
		c.mu.Unlock()
		return c.search(ctx, opts)
	}
}

// search tries the sources on behalf of every waiting caller and remembers
// the one that worked. The deferred release runs even if a source panics,
// so waiters are never stranded.
func (c *ChainedTokenCredential) search(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	var src azcore.TokenCredential
	defer func() {
		c.mu.Lock()
		if src != nil {
			c.chosen.Store(&chainSource{cred: src})
		}
		close(c.searching)
		c.searching = nil
		c.mu.Unlock()
	}()
	tok, src, err := c.try(ctx, opts)
	return tok, err
}

// try asks each source in turn and returns the first token, with the source
// that gave it.
func (c *ChainedTokenCredential) try(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, azcore.TokenCredential, error) {
	var errs []error
	for _, s := range c.sources {
		tok, err := s.GetToken(ctx, opts)
		if err == nil {
			return tok, s, nil
		}
		errs = append(errs, err)
		if !isUnavailable(err) {
			return azcore.AccessToken{}, nil, &chainError{name: c.name, errs: errs}
		}
	}
	// Every source was unavailable: so is the chain, and a chain holding
	// this one moves on too.
	return azcore.AccessToken{}, nil, newCredentialUnavailableError(c.name, chainMessage(errs), nil)
}

// chainError is a chain's failure when one source failed for real. It lists
// every source tried; errors.As and errors.Is see the failing source's
// error (an *AuthenticationFailedError, usually), as they would without the
// chain.
type chainError struct {
	name string
	errs []error
}

func (e *chainError) Error() string { return e.name + ": " + chainMessage(e.errs) }

// Unwrap returns the failure that stopped the chain. The unavailable
// sources before it are only listed in the text: unwrapping to them would
// make the chain look unavailable to an outer chain.
func (e *chainError) Unwrap() error { return e.errs[len(e.errs)-1] }

// NonRetriable tells azcore's retry policy not to retry.
func (*chainError) NonRetriable() {}

// chainMessage lists each source's error, one per line; the lines of
// multi-line errors are indented under their source.
func chainMessage(errs []error) string {
	var b strings.Builder
	b.WriteString("failed to acquire a token.\nAttempted credentials:")
	for _, err := range errs {
		b.WriteString("\n\t")
		b.WriteString(strings.ReplaceAll(err.Error(), "\n", "\n\t\t"))
	}
	return b.String()
}

// invalidate passes a rejected token on to the source that served it: the
// chosen source once there is one, else every source (only the one whose
// cache holds the token drops it).
func (c *ChainedTokenCredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	if s := c.chosen.Load(); s != nil {
		inv, ok := s.cred.(invalidator)
		return ok && inv.invalidate(opts, token)
	}
	dropped := false
	for _, s := range c.sources {
		if inv, ok := s.(invalidator); ok && inv.invalidate(opts, token) {
			dropped = true
		}
	}
	return dropped
}

// engineBacked reports whether every source that can serve a token caches
// with azid's engine, so that the chain needs no cache of its own.
func (c *ChainedTokenCredential) engineBacked() bool {
	for _, s := range c.sources {
		if _, never := s.(*defaultMemberError); never {
			continue // it only ever reports why it is unavailable
		}
		if !isEngineBacked(s) {
			return false
		}
	}
	return true
}

var _ azcore.TokenCredential = (*ChainedTokenCredential)(nil)
