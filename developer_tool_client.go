package azid

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/internal/authority"
	"github.com/azid-go/azid/internal/devtool"
	"github.com/azid-go/azid/internal/tokencache"
)

// toolHooks are test seams of the developer tool credentials, settable only
// from this package.
type toolHooks struct {
	// env is the tools' environment (and where the credential looks up
	// AZURE_CONFIG_DIR, HOME …); nil means this process's environment.
	env []string
	// timeout replaces devtool.DefaultTimeout.
	timeout time.Duration
	watch   devtool.WatchOptions
	// loc is the time zone of az's expiresOn; nil means time.Local.
	loc *time.Location
}

// toolRequest is what one tool invocation is asked for.
type toolRequest struct {
	tenant string // "" means the tool's default
	scopes []string
	claims string
	env    []string
	// timeout bounds the process.
	timeout time.Duration
}

// toolClient is the machinery shared by the credentials that get tokens
// from a developer tool (az, azd, pwsh): tenant resolution, the cache, the
// watch on the tool's signed-in state, timeouts and error shapes. Each
// credential supplies how to run its tool and read its answer.
//
// Tools already cache tokens on disk, but starting one costs hundreds of
// milliseconds, so azid caches their answers in memory (azidentity does
// not). What makes that safe is the watcher: when the tool signs in as
// someone else, every cached token is dropped.
type toolClient struct {
	name           string
	tenants        authority.Tenants // "" as the default means the tool's default
	inDefaultChain bool
	oneScope       bool // the tool takes exactly one scope
	env            []string
	timeout        time.Duration

	// claimsError, when set, answers a claims challenge without running
	// the tool (it cannot take one): an error naming the command to run.
	claimsError func(tenant string, scopes []string, claims string) error
	// run starts the tool once and returns its token, or an error already
	// shaped for the caller (unavailable or authentication failed).
	run func(ctx context.Context, r toolRequest) (devtool.Token, error)

	cache   *tokencache.Cache // nil when the in-memory cache is disabled
	watcher *devtool.Watcher  // nil when the in-memory cache is disabled
}

type toolConfig struct {
	name                       string
	tenantID                   string
	additionallyAllowedTenants []string
	disableCache               bool
	inDefaultChain             bool
	oneScope                   bool
	hooks                      *toolHooks
	// stateFiles lists the files holding the tool's signed-in state, given
	// a getenv over the tools' environment.
	stateFiles func(getenv func(string) string) []devtool.File
}

func newToolClient(cfg toolConfig) (*toolClient, error) {
	if cfg.tenantID != "" {
		if err := authority.ValidateTenantID(cfg.tenantID); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.name, err)
		}
	}
	h := cfg.hooks
	if h == nil {
		h = &toolHooks{}
	}
	c := &toolClient{
		name:           cfg.name,
		tenants:        authority.NewTenants(cfg.name, cfg.tenantID, cfg.additionallyAllowedTenants),
		inDefaultChain: cfg.inDefaultChain,
		oneScope:       cfg.oneScope,
		env:            h.env,
		timeout:        h.timeout,
	}
	if c.timeout <= 0 {
		c.timeout = devtool.DefaultTimeout
	}
	if !cfg.disableCache {
		// The engine's bound follows the tool's: a tool run may take its
		// whole timeout, or a longer caller deadline (see Acquire), and
		// must not be cut by the engine's general 1-minute limit.
		c.cache = tokencache.New(c, tokencache.Options{
			Authority:              cfg.name,
			ClientID:               "",
			AcquireTimeout:         c.timeout + toolStopGrace,
			ExtendToCallerDeadline: true,
		})
		files := cfg.stateFiles(c.getenv)
		c.watcher = devtool.NewWatcher(files, func() { c.cache.Clear() }, h.watch)
	}
	return c, nil
}

// getenv reads the tools' environment.
func (c *toolClient) getenv(key string) string {
	if c.env == nil {
		return os.Getenv(key)
	}
	prefix := key + "="
	v := ""
	for _, kv := range c.env {
		if strings.HasPrefix(kv, prefix) {
			v = kv[len(prefix):] // the last one wins, as for exec
		}
	}
	return v
}

// homeDir is the user's home directory in the tools' environment.
func homeDir(getenv func(string) string) string {
	if runtime.GOOS == "windows" {
		if h := getenv("USERPROFILE"); h != "" {
			return h
		}
	}
	if h := getenv("HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}

// toolStopGrace is how long before the end of an acquisition the tool's
// own timeout fires: room to kill its process group and collect it, so the
// caller gets the tool's timeout error (naming the tool and its time)
// rather than a bare deadline.
const toolStopGrace = time.Second

func (c *toolClient) getToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(opts.Scopes) == 0 {
		return azcore.AccessToken{}, fmt.Errorf("%s.GetToken requires a scope", c.name)
	}
	if c.oneScope && len(opts.Scopes) != 1 {
		return azcore.AccessToken{}, fmt.Errorf("%s.GetToken requires exactly one scope; it got %d", c.name, len(opts.Scopes))
	}
	tenant, err := c.tenants.Resolve(opts.TenantID)
	if err != nil {
		return azcore.AccessToken{}, c.chainError(err)
	}
	if opts.Claims != "" && c.claimsError != nil {
		if err := c.validScopes(opts.Scopes); err != nil {
			return azcore.AccessToken{}, err
		}
		return azcore.AccessToken{}, c.claimsError(tenant, opts.Scopes, opts.Claims)
	}
	if c.cache == nil {
		tok, err := c.Acquire(ctx, tokencache.Request{TenantID: tenant, Scopes: opts.Scopes, Claims: opts.Claims})
		if err != nil {
			return azcore.AccessToken{}, c.chainError(err)
		}
		return azcore.AccessToken{Token: tok.AccessToken, ExpiresOn: time.Now().Add(tok.ExpiresIn).UTC()}, nil
	}
	// Tools answer the same whether or not CAE is asked for, so CAE does
	// not split the key.
	c.watcher.Touch()
	tok, err := c.cache.GetToken(ctx, &tokencache.Request{TenantID: tenant, Scopes: opts.Scopes, Claims: opts.Claims})
	if err != nil {
		return tok, c.chainError(callerError(c.name, err))
	}
	return tok, nil
}

// chainError makes every failure "unavailable" inside DefaultAzureCredential,
// as azidentity does, so that the chain goes on to the next developer tool:
// a user signed in to azd but not az must not be stopped by az.
func (c *toolClient) chainError(err error) error {
	if err == nil || !c.inDefaultChain || isUnavailable(err) {
		return err
	}
	// Keep the cause (errors.Is(err, context.DeadlineExceeded) still
	// works) without repeating the credential's name.
	var afe *AuthenticationFailedError
	if errors.As(err, &afe) && afe.err != nil {
		err = afe.err
	}
	return newCredentialUnavailableError(c.name, "", err)
}

func (c *toolClient) validScopes(scopes []string) error {
	for _, s := range scopes {
		if !devtool.ValidScope(s) {
			return fmt.Errorf("%s.GetToken: invalid scope %q: a scope may contain only ASCII letters, digits and . - _ / : (and must not start with '-')", c.name, s)
		}
	}
	return nil
}

// Acquire implements tokencache.Acquirer: one run of the tool. r.Scopes are
// already split on spaces and de-duplicated by the engine.
func (c *toolClient) Acquire(ctx context.Context, r tokencache.Request) (tokencache.Token, error) {
	if err := c.validScopes(r.Scopes); err != nil {
		return tokencache.Token{}, err
	}
	if c.oneScope && len(r.Scopes) != 1 {
		return tokencache.Token{}, fmt.Errorf("%s.GetToken requires exactly one scope; it got %d", c.name, len(r.Scopes))
	}
	// Tenant IDs were validated (letters, digits, '.', '-'); one starting
	// with '-' would still read as an option to the tool.
	if strings.HasPrefix(r.TenantID, "-") {
		return tokencache.Token{}, fmt.Errorf("%s: invalid tenant ID %q", c.name, r.TenantID)
	}
	timeout := c.timeout
	// A caller who allowed more time than the default gets it, as with
	// azidentity, however long: the engine gives the acquisition the
	// deadline of the caller that started it when that is later than its
	// own bound (c.timeout plus the grace), and ctx carries it here. A
	// shorter deadline only stops that caller waiting; the tool keeps its
	// time for the others sharing this run.
	if d, ok := ctx.Deadline(); ok {
		if left := time.Until(d) - toolStopGrace; left > timeout {
			timeout = left
		}
	}
	req := toolRequest{tenant: r.TenantID, scopes: r.Scopes, claims: r.Claims, env: c.env, timeout: timeout}
	var tok devtool.Token
	var err error
	for attempt := 0; ; attempt++ {
		end := func() bool { return false }
		if c.watcher != nil {
			end = c.watcher.BeginRun()
		}
		tok, err = c.run(ctx, req)
		// The account changed while the tool ran: its answer may belong to
		// either account. Ask again, once; the cache was cleared already.
		if end() && attempt == 0 {
			continue
		}
		break
	}
	if err != nil {
		return tokencache.Token{}, err
	}
	left := time.Until(tok.ExpiresOn)
	if left <= 0 {
		return tokencache.Token{}, newAuthenticationFailedError(c.name,
			fmt.Errorf("the tool returned a token that expired at %s; check this machine's clock", tok.ExpiresOn.Format(time.RFC3339)))
	}
	return tokencache.Token{AccessToken: tok.AccessToken, ExpiresIn: left}, nil
}

// toolError shapes a failure of devtool.Run for callers: a tool that is not
// installed is unavailable; a timeout or other failure is an authentication
// failure (the caller's own cancellation passes through). notSignedIn
// recognises, in the tool's message, that nobody is signed in.
func (c *toolClient) toolError(err error, tool, install string, notSignedIn func(msg string) (advice string, ok bool)) error {
	var nf *devtool.NotFoundError
	if errors.As(err, &nf) {
		return newCredentialUnavailableError(c.name, fmt.Sprintf("%s is not installed or not on PATH; %s", tool, install), nil)
	}
	var xe *devtool.ExitError
	if errors.As(err, &xe) {
		if advice, ok := notSignedIn(xe.Stderr); ok {
			return newCredentialUnavailableError(c.name, advice, xe)
		}
	}
	return newAuthenticationFailedError(c.name, err)
}

// toolStateDir is where a tool keeps its state: $envVar when set, else
// ~/name.
func toolStateDir(getenv func(string) string, envVar, name string) string {
	if envVar != "" {
		if d := getenv(envVar); d != "" {
			return d
		}
	}
	return filepath.Join(homeDir(getenv), name)
}

func timeLocal(h *toolHooks) *time.Location {
	if h != nil && h.loc != nil {
		return h.loc
	}
	return time.Local
}

// invalidate drops token from the cache entry opts names, if that entry
// still holds it.
func (c *toolClient) invalidate(opts policy.TokenRequestOptions, token string) bool {
	if c.cache == nil {
		return false
	}
	tenant, err := c.tenants.Resolve(opts.TenantID)
	if err != nil {
		return false
	}
	return c.cache.Invalidate(&tokencache.Request{TenantID: tenant, Scopes: opts.Scopes}, token)
}
