package azid

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/internal/account"
	"github.com/azid-go/azid/internal/authority"
	"github.com/azid-go/azid/internal/persist"
	"github.com/azid-go/azid/internal/sts"
	"github.com/azid-go/azid/internal/tokencache"
)

// Defaults of the user credentials, as in azidentity: the Azure CLI's
// public client (Microsoft's development sign-on app), and the tenant alias
// that accepts any work or school account.
const (
	developerSignOnClientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
	organizationsTenantID   = "organizations"
)

// oidcScopes are added to every user-flow request, as MSAL does: openid
// and profile for the id_token (who signed in), offline_access for the
// refresh token (silent authentication later).
var oidcScopes = []string{"openid", "profile", "offline_access"}

// userFlow is what distinguishes one user credential from another: how it
// gets tokens when silent authentication with a refresh token cannot, by
// involving the user (browser, device code) or by its own grant
// (password, authorization code).
type userFlow interface {
	interact(ctx context.Context, p *publicClient, r interactRequest) (*sts.TokenResponse, error)
}

// interactRequest is one interactive acquisition.
type interactRequest struct {
	tenant string
	// scopes are the requested scopes followed by the OIDC scopes.
	scopes []string
	// claims is the claims parameter, CAE capabilities merged in.
	claims string
	// loginHint is the username of the account signed in before, if any.
	loginHint string
}

// publicOptions are the options every user credential accepts.
type publicOptions struct {
	azcore.ClientOptions
	AdditionallyAllowedTenants     []string
	DisableAutomaticAuthentication bool
	DisableInstanceDiscovery       bool
	Record                         AuthenticationRecord
	Cache                          cache.Cache
	Logger                         *slog.Logger
	// MaxCacheEntries is the engine's bound; 0 is its default. The user
	// credentials' exported options have no such field (azidentity's have
	// none), so only this package sets it.
	MaxCacheEntries int

	// clientSecret authenticates a confidential client (the authorization
	// code credential of a web app); empty for public clients.
	clientSecret string

	// Test seams, settable only from this package's tests.
	clock         tokencache.Clock
	users         account.UserStore
	discoveryHost string
}

// publicClient is the machinery shared by user credentials (device code,
// interactive browser, username/password, authorization code): it tracks
// the signed-in account, builds the account's cache keys, refreshes
// silently with the account's refresh token, and falls back to the
// credential's userFlow when Entra requires interaction. The token cache
// engine does all access-token caching.
type publicClient struct {
	name         string
	tenants      authority.Tenants
	clientID     string
	clientSecret string
	flow         userFlow
	disableAuto  bool
	defaultScope []string
	logger       *slog.Logger

	clientCore
	cache *tokencache.Cache
	users account.UserStore

	// record is the signed-in account; nil until the first sign-in (or
	// the AuthenticationRecord option). Read on every GetToken, so atomic.
	record atomic.Pointer[AuthenticationRecord]
	// interactSem makes interactions one at a time: concurrent callers of
	// a signed-out credential get one browser window, not one each. It is
	// a 1-slot channel rather than a mutex because a sign-in can take
	// minutes, and the callers queued behind it must be able to leave
	// when their own context ends.
	interactSem chan struct{}
	// signIns counts completed interactions, so a caller that waited for
	// interactSem can tell that someone else signed in meanwhile.
	signIns atomic.Uint64
	// accounts serialises the redemptions of each account's refresh token
	// in this credential (see lockAccount).
	accounts account.AccountLocks
}

func newPublicClient(name, tenantID, clientID string, flow userFlow, o publicOptions) (*publicClient, error) {
	if tenantID == "" {
		tenantID = organizationsTenantID
	}
	if clientID == "" {
		clientID = developerSignOnClientID
	}
	if err := authority.ValidateTenantID(tenantID); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := checkMaxEntries(name, o.MaxCacheEntries); err != nil {
		return nil, err
	}
	core, err := newClientCore(name, o.ClientOptions, o.DisableInstanceDiscovery, o.discoveryHost)
	if err != nil {
		return nil, err
	}
	if !o.Record.isZero() {
		if err := o.Record.validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &publicClient{
		name:         name,
		tenants:      authority.NewTenants(name, tenantID, o.AdditionallyAllowedTenants),
		clientID:     clientID,
		clientSecret: o.clientSecret,
		clientCore:   core,
		flow:         flow,
		disableAuto:  o.DisableAutomaticAuthentication,
		defaultScope: defaultScope(o.Cloud, core.host),
		logger:       logger,
		interactSem:  make(chan struct{}, 1),
	}
	// The refresh tokens: the persistent cache's store when there is one,
	// else this credential's own memory.
	p.users = o.users
	if p.users == nil {
		p.users = persist.UserStore(o.Cache)
	}
	if p.users == nil {
		p.users = &account.MemoryUserStore{}
	}
	p.cache = p.newCache(p, clientID, cacheOptions{clock: o.clock, maxEntries: o.MaxCacheEntries, logger: o.Logger, store: o.Cache})
	if !o.Record.isZero() {
		rec := o.Record
		p.record.Store(&rec)
	}
	return p, nil
}

// defaultScope is what Authenticate asks for when given no scope: Azure
// Resource Manager of the configured cloud, as azidentity does (with its
// spelling: the audience plus "/.default", hence the double slash for
// "https://management.core.windows.net/").
func defaultScope(cfg cloud.Configuration, host *url.URL) []string {
	aud := cfg.Services[cloud.ResourceManager].Audience
	if aud == "" {
		// The well-known clouds' ARM audiences, which azcore registers
		// only when its arm package is linked in.
		switch strings.ToLower(host.Host) {
		case "login.microsoftonline.com":
			aud = "https://management.core.windows.net/"
		case "login.chinacloudapi.cn":
			aud = "https://management.core.chinacloudapi.cn"
		case "login.microsoftonline.us":
			aud = "https://management.core.usgovcloudapi.net"
		}
	}
	if aud == "" {
		return nil
	}
	return []string{aud + "/.default"}
}

// interactionRequiredError means silent authentication cannot work: no
// refresh token, or Entra refused it in a way only the user can fix.
type interactionRequiredError struct {
	err error
	// claims is a claims challenge Entra sent with its refusal; the next
	// interactive request must carry it.
	claims string
}

func (e *interactionRequiredError) Error() string { return e.err.Error() }
func (e *interactionRequiredError) Unwrap() error { return e.err }

// errNotSignedIn is the cause of an AuthenticationRequiredError before the
// first sign-in.
var errNotSignedIn = errors.New("no account has signed in to this credential")

// errNoRefreshToken is the cause when the account has no refresh token here.
var errNoRefreshToken = errors.New("no refresh token is cached for the account")

// accountTenant is the tenant a signed-in account's tokens are kept under.
// A request for one of Entra's multi-tenant aliases (organizations, common,
// consumers) is answered by the account's own tenant, as MSAL does, so that
// a token from the sign-in, a later silent call and another SDK's cache all
// name the same tenant.
func accountTenant(tenant string, rec *AuthenticationRecord) string {
	if rec == nil || rec.TenantID == "" {
		return tenant
	}
	switch tenant {
	case "organizations", "common", "consumers":
		return strings.ToLower(rec.TenantID)
	}
	return tenant
}

// getToken is GetToken for every user credential: silently for the
// signed-in account when possible, else interactively (or, with
// DisableAutomaticAuthentication, an *AuthenticationRequiredError).
// It runs inside a span named span when a tracing provider is configured;
// without one it calls getTokenCached directly (see traceGetToken).
func (p *publicClient) getToken(ctx context.Context, span string, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if p.tracer.Enabled() {
		return traceGetToken(ctx, &p.tracer, span, opts, p.getTokenCached)
	}
	tok, _, err := p.getTokenCached(ctx, opts)
	return tok, err
}

// getTokenCached is getToken that also reports whether the token came from
// the cache, for tracing.
func (p *publicClient) getTokenCached(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, bool, error) {
	if len(opts.Scopes) == 0 {
		return azcore.AccessToken{}, false, fmt.Errorf("%s.GetToken requires at least one scope", p.name)
	}
	tenant, err := p.tenants.Resolve(opts.TenantID)
	if err != nil {
		return azcore.AccessToken{}, false, err
	}
	for attempt := 0; ; attempt++ {
		gen := p.signIns.Load()
		cause := errNotSignedIn
		challenge := ""
		if rec := p.record.Load(); rec != nil {
			tok, cached, err := p.cache.GetTokenCached(ctx, &tokencache.Request{
				TenantID:  accountTenant(tenant, rec),
				Scopes:    opts.Scopes,
				EnableCAE: opts.EnableCAE,
				Claims:    opts.Claims,
				Account:   rec.HomeAccountID,
			})
			if err == nil {
				return tok, cached, nil
			}
			var ir *interactionRequiredError
			if !errors.As(err, &ir) {
				return tok, false, callerError(p.name, err)
			}
			cause, challenge = ir.err, ir.claims
		}
		if p.disableAuto {
			return azcore.AccessToken{}, false, &AuthenticationRequiredError{TokenRequestOptions: opts, credType: p.name, err: cause}
		}
		if err := p.lockInteraction(ctx); err != nil {
			return azcore.AccessToken{}, false, err
		}
		if p.signIns.Load() != gen && attempt < 2 {
			// Someone signed in while this caller waited: try silently.
			p.unlockInteraction()
			continue
		}
		o := opts
		if o.Claims == "" {
			o.Claims = challenge
		}
		tok, _, err := p.authenticateLocked(ctx, tenant, o)
		p.unlockInteraction()
		return tok, false, err
	}
}

// authenticate is Authenticate for every user credential: it always
// interacts, then makes the new account the credential's.
func (p *publicClient) authenticate(ctx context.Context, opts *policy.TokenRequestOptions) (AuthenticationRecord, error) {
	var o policy.TokenRequestOptions
	if opts != nil {
		o = *opts
	}
	if len(o.Scopes) == 0 {
		if p.defaultScope == nil {
			return AuthenticationRecord{}, fmt.Errorf("%s.Authenticate: no scope given, and the cloud configuration names no Azure Resource Manager audience to use by default; pass TokenRequestOptions with Scopes", p.name)
		}
		o.Scopes = p.defaultScope
	}
	tenant, err := p.tenants.Resolve(o.TenantID)
	if err != nil {
		return AuthenticationRecord{}, err
	}
	if err := p.lockInteraction(ctx); err != nil {
		return AuthenticationRecord{}, err
	}
	defer p.unlockInteraction()
	_, rec, err := p.authenticateLocked(ctx, tenant, o)
	return rec, err
}

// lockInteraction waits for the turn to interact, or for ctx to end.
func (p *publicClient) lockInteraction(ctx context.Context) error {
	select {
	case p.interactSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: gave up waiting for another caller's interactive sign-in to finish: %w", p.name, context.Cause(ctx))
	}
}

func (p *publicClient) unlockInteraction() { <-p.interactSem }

// authenticateLocked runs the flow, records the account and its refresh
// token, and hands the access token to the engine. The caller holds
// p.interactSem.
func (p *publicClient) authenticateLocked(ctx context.Context, tenant string, opts policy.TokenRequestOptions) (azcore.AccessToken, AuthenticationRecord, error) {
	claims, err := sts.MergeClaims(opts.Claims, opts.EnableCAE)
	if err != nil {
		return azcore.AccessToken{}, AuthenticationRecord{}, fmt.Errorf("%s: %w", p.name, err)
	}
	if p.discovery != nil {
		if err := p.discovery.Validate(ctx, p.host, tenant); err != nil {
			return azcore.AccessToken{}, AuthenticationRecord{}, newAuthenticationFailedError(p.name, err)
		}
	}
	r := interactRequest{tenant: tenant, scopes: withOIDCScopes(opts.Scopes), claims: claims}
	if rec := p.record.Load(); rec != nil {
		r.loginHint = rec.Username
	}
	resp, err := p.flow.interact(ctx, p, r)
	if err != nil {
		return azcore.AccessToken{}, AuthenticationRecord{}, err
	}
	rec, ut, err := p.accountOf(resp)
	if err != nil {
		return azcore.AccessToken{}, AuthenticationRecord{}, newAuthenticationFailedError(p.name, err)
	}
	if resp.RefreshToken != "" {
		if err := p.storeSignIn(ctx, p.userKey(rec.HomeAccountID), ut); err != nil {
			// Not fatal: this token is good; later calls interact again.
			p.logger.WarnContext(ctx, "could not store the refresh token; silent authentication will not work for this account",
				slog.String("credential", p.name), slog.String("error", err.Error()))
		}
	}
	p.record.Store(&rec)
	p.signIns.Add(1)

	tok, err := p.cache.Put(ctx, &tokencache.Request{
		TenantID:  accountTenant(tenant, &rec),
		Scopes:    opts.Scopes,
		EnableCAE: opts.EnableCAE,
		Account:   rec.HomeAccountID,
	}, tokencache.Token{AccessToken: resp.AccessToken, ExpiresIn: resp.ExpiresIn, RefreshIn: resp.RefreshIn})
	if err != nil {
		return azcore.AccessToken{}, rec, callerError(p.name, err)
	}
	return tok, rec, nil
}

// accountOf reads who signed in from a token response.
func (p *publicClient) accountOf(resp *sts.TokenResponse) (AuthenticationRecord, account.UserTokens, error) {
	var idt account.IDToken
	if resp.IDToken != "" {
		var err error
		if idt, err = account.ParseIDToken(resp.IDToken); err != nil {
			return AuthenticationRecord{}, account.UserTokens{}, fmt.Errorf("the token response's id_token: %w", err)
		}
	}
	var hid, uid, utid string
	if resp.ClientInfo != "" {
		ci, err := account.ParseClientInfo(resp.ClientInfo)
		if err != nil {
			return AuthenticationRecord{}, account.UserTokens{}, fmt.Errorf("the token response's client_info: %w", err)
		}
		hid, uid, utid = ci.HomeAccountID(), ci.UID, ci.UTID
	} else if idt.ObjectID != "" && idt.TenantID != "" {
		// No client_info (ADFS, some sovereign setups): the id_token's
		// object and tenant IDs identify the account as well.
		uid, utid = idt.ObjectID, idt.TenantID
		hid = uid + "." + utid
	} else {
		return AuthenticationRecord{}, account.UserTokens{}, errors.New("the token response names no account: it has neither client_info nor an id_token with oid and tid")
	}
	tenant := idt.TenantID
	if tenant == "" {
		tenant = utid
	}
	local := idt.ObjectID
	if local == "" {
		local = uid
	}
	rec := AuthenticationRecord{
		Authority:     "https://" + p.host.Host,
		ClientID:      p.clientID,
		HomeAccountID: hid,
		TenantID:      tenant,
		Username:      idt.Username(),
		Version:       supportedRecordVersion,
	}
	ut := account.UserTokens{
		Account: account.Account{
			HomeAccountID:  hid,
			Environment:    p.host.Host,
			Realm:          tenant,
			LocalAccountID: local,
			Username:       rec.Username,
		},
		RefreshToken: resp.RefreshToken,
		IDToken:      resp.IDToken,
	}
	return rec, ut, nil
}

func (p *publicClient) userKey(homeAccountID string) account.UserKey {
	return account.UserKey{Authority: p.host.Host, ClientID: p.clientID, HomeAccountID: homeAccountID}
}

// Acquire implements tokencache.Acquirer: a token for the account named by
// r.Account, from its refresh token.
func (p *publicClient) Acquire(ctx context.Context, r tokencache.Request) (tokencache.Token, error) {
	if p.discovery != nil {
		if err := p.discovery.Validate(ctx, p.host, r.TenantID); err != nil {
			return tokencache.Token{}, newAuthenticationFailedError(p.name, err)
		}
	}
	// One redemption at a time per account, each with the newest refresh
	// token, stored before the next starts: a server that detects reuse
	// revokes the whole sign-in when a refresh token is presented twice.
	key := p.userKey(r.Account)
	lk, err := p.lockAccount(ctx, key, r.Lock)
	if err != nil {
		return tokencache.Token{}, fmt.Errorf("%s: waiting for another refresh of the account's tokens: %w", p.name, err)
	}
	defer lk.unlock(ctx)
	ut, ok, err := lk.load(ctx)
	switch {
	case err != nil:
		p.logger.WarnContext(ctx, "could not read the refresh token store", slog.String("credential", p.name), slog.String("error", err.Error()))
		return tokencache.Token{}, &interactionRequiredError{err: fmt.Errorf("%s: reading the refresh token: %w", p.name, err)}
	case !ok || ut.RefreshToken == "":
		return tokencache.Token{}, &interactionRequiredError{err: fmt.Errorf("%s: %w", p.name, errNoRefreshToken)}
	}
	form := url.Values{}
	form.Set("grant_type", "refresh_token")
	form.Set("client_id", p.clientID)
	form.Set("refresh_token", ut.RefreshToken)
	form.Set("scope", strings.Join(withOIDCScopes(r.Scopes), " "))
	form.Set("client_info", "1")
	claims, err := sts.MergeClaims(r.Claims, r.EnableCAE)
	if err != nil {
		return tokencache.Token{}, fmt.Errorf("%s: %w", p.name, err)
	}
	if claims != "" {
		form.Set("claims", claims)
	}
	secrets := []string{ut.RefreshToken}
	if p.clientSecret != "" {
		form.Set("client_secret", p.clientSecret)
		secrets = append(secrets, p.clientSecret)
	}
	ctx = p.sts.AttemptContext(ctx, r.Background)
	resp, err := p.sts.Token(ctx, authority.TokenEndpoint(p.host, r.TenantID), form, secrets...)
	if err != nil {
		afe := newAuthenticationFailedError(p.name, err)
		var se *sts.Error
		if errors.As(err, &se) && needsInteraction(se) {
			return tokencache.Token{}, &interactionRequiredError{err: afe, claims: se.Claims}
		}
		return tokencache.Token{}, afe
	}
	if resp.ClientInfo != "" {
		ci, err := account.ParseClientInfo(resp.ClientInfo)
		if err != nil || !strings.EqualFold(ci.HomeAccountID(), r.Account) {
			// Never file one account's tokens under another's key.
			return tokencache.Token{}, newAuthenticationFailedError(p.name, errors.New("the refresh token answer is for another account than the one requested"))
		}
	}
	if resp.RefreshToken != "" && resp.RefreshToken != ut.RefreshToken {
		next := ut
		next.RefreshToken = resp.RefreshToken // rotation
		if resp.IDToken != "" {
			next.IDToken = resp.IDToken
		}
		if err := lk.save(ctx, ut, next); err != nil {
			p.logger.WarnContext(ctx, "could not store the rotated refresh token", slog.String("credential", p.name), slog.String("error", err.Error()))
		}
	}
	return tokencache.Token{AccessToken: resp.AccessToken, ExpiresIn: resp.ExpiresIn, RefreshIn: resp.RefreshIn}, nil
}

// accountLock is an account's locks held for one redemption of its
// refresh token (or for storing a new sign-in's).
type accountLock struct {
	p     *publicClient
	key   account.UserKey
	store account.UserLock // nil: the store is this process's alone, or its lock failed
	mem   *account.AccountLock
	// held is the engine's store lock the redemption runs under, if any.
	held tokencache.StoreLock
	// lockFailed means the store can lock but did not; the save is then
	// made after unlock (see lockAccount).
	lockFailed     bool
	spent, pending *account.UserTokens
}

// lockAccount takes key's locks: the shared store's lock first (a
// redemption in another process or instance), then this credential's own
// (its goroutines). The order is fixed because the engine's fleet lock
// may already hold the store's lock of the account's partition when
// Acquire runs. Waiting for either ends with ctx. When the store cannot
// lock (Redis unreachable), redemptions are still one at a time here, and
// the rotated token is written to the store after this credential's lock
// is released: an acquisition holding the store's lock of the account
// (the engine's fleet lock) may be waiting for it, and the write would
// wait for that acquisition (see saveLate). This credential's lock
// remembers the rotation meanwhile (AccountLock.Newest).
func (p *publicClient) lockAccount(ctx context.Context, key account.UserKey, held tokencache.StoreLock) (*accountLock, error) {
	a := &accountLock{p: p, key: key, held: held}
	if ls, ok := p.users.(account.LockingUserStore); ok {
		l, err := ls.LockUser(ctx, key, held)
		switch {
		case err == nil:
			a.store = l
		case ctx.Err() != nil:
			return nil, err
		default:
			p.logger.WarnContext(ctx, "could not lock the account in the token cache; another process may redeem the same refresh token",
				slog.String("credential", p.name), slog.String("error", err.Error()))
			a.lockFailed = true
		}
	}
	m, err := p.accounts.Lock(ctx, key)
	if err != nil {
		if a.store != nil {
			a.store.Unlock()
		}
		return nil, err
	}
	a.mem = m
	return a, nil
}

// load reads the account's newest refresh token under the lock.
func (a *accountLock) load(ctx context.Context) (account.UserTokens, bool, error) {
	var t account.UserTokens
	var ok bool
	var err error
	if a.store != nil {
		t, ok, err = a.store.Load(ctx)
	} else {
		t, ok, err = a.p.users.LoadUser(ctx, a.key)
	}
	if ok {
		t = a.mem.Newest(t)
	}
	return t, ok, err
}

// save stores next, which the server gave for spent's refresh token. This
// credential remembers next even if the store fails to keep it, so that
// its next redemption does not present spent's again.
func (a *accountLock) save(ctx context.Context, spent, next account.UserTokens) error {
	a.mem.Redeemed(spent, next)
	switch {
	case a.store != nil:
		return a.store.Save(ctx, next)
	case a.lockFailed:
		a.spent, a.pending = &spent, &next
		return nil
	}
	return a.p.users.SaveUser(ctx, a.key, next)
}

// unlock releases the locks, then makes a save deferred by a failed store
// lock.
func (a *accountLock) unlock(ctx context.Context) {
	a.mem.Unlock()
	if a.store != nil {
		a.store.Unlock()
	}
	if a.pending != nil {
		if err := a.saveLate(ctx, *a.spent, *a.pending); err != nil {
			a.p.logger.WarnContext(ctx, "could not store the rotated refresh token", slog.String("credential", a.p.name), slog.String("error", err.Error()))
		}
		a.spent, a.pending = nil, nil
	}
}

// saveLate stores a rotation made without the store's lock: under that
// lock if it can be had now, and then only over the refresh token it
// replaces, so that a newer one another redemption stored meanwhile is
// kept. A new sign-in (no spent token) replaces whatever is there.
func (a *accountLock) saveLate(ctx context.Context, spent, next account.UserTokens) error {
	ls, ok := a.p.users.(account.LockingUserStore)
	if !ok {
		return a.p.users.SaveUser(ctx, a.key, next)
	}
	l, err := ls.LockUser(ctx, a.key, a.held)
	if err != nil {
		return a.p.users.SaveUser(ctx, a.key, next)
	}
	defer l.Unlock()
	if spent.RefreshToken != "" {
		cur, ok, err := l.Load(ctx)
		if err == nil && ok && cur.RefreshToken != "" && cur.RefreshToken != spent.RefreshToken {
			return nil
		}
	}
	return l.Save(ctx, next)
}

// storeSignIn stores a new sign-in's tokens under the account's locks, so
// that a redemption of the account's previous refresh token running
// meanwhile does not overwrite them afterwards.
func (p *publicClient) storeSignIn(ctx context.Context, key account.UserKey, t account.UserTokens) error {
	lk, err := p.lockAccount(ctx, key, nil)
	if err != nil {
		return err
	}
	defer lk.unlock(ctx)
	return lk.save(ctx, account.UserTokens{}, t)
}

// needsInteraction reports whether Entra's refusal of a refresh token
// means the user must sign in again, as MSAL judges it: invalid_grant
// (expired, revoked, MFA or consent required) and interaction_required,
// and any claims challenge.
func needsInteraction(se *sts.Error) bool {
	switch se.Code {
	case "invalid_grant", "interaction_required", "login_required", "consent_required":
		return true
	}
	return se.Claims != ""
}

// cacheStats converts the engine's counters to the public type.
func (p *publicClient) cacheStats() CacheStats { return cacheStatsOf(p.cache.Stats()) }

// tokenEndpoint is the token endpoint for tenant.
func (p *publicClient) tokenEndpoint(tenant string) string {
	return authority.TokenEndpoint(p.host, tenant)
}

// endpoint is another OAuth endpoint of tenant, e.g. "devicecode".
func (p *publicClient) endpoint(tenant, name string) string {
	return p.host.Scheme + "://" + p.host.Host + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/" + name
}

// postForm posts form to an Entra endpoint that is not the token endpoint
// (device code) and returns a 2xx body; an Entra error is an *sts.Error.
func (p *publicClient) postForm(ctx context.Context, endpoint string, form url.Values) ([]byte, error) {
	req, err := runtime.NewRequest(ctx, http.MethodPost, endpoint)
	if err != nil {
		return nil, err
	}
	if err := req.SetBody(streaming.NopCloser(bytes.NewReader([]byte(form.Encode()))), "application/x-www-form-urlencoded"); err != nil {
		return nil, err
	}
	req.Raw().Header.Set("Accept", "application/json")
	runtime.SkipBodyDownload(req)
	resp, err := p.pl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20+1))
	if err != nil {
		return nil, err
	}
	if len(body) > 1<<20 {
		return nil, fmt.Errorf("the answer of %s exceeds 1 MiB", endpoint)
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return nil, sts.ParseError(resp, body)
	}
	return body, nil
}

// withOIDCScopes returns scopes followed by the OIDC scopes not already
// among them.
func withOIDCScopes(scopes []string) []string {
	out := make([]string, 0, len(scopes)+len(oidcScopes))
	for _, s := range scopes {
		for _, f := range strings.Fields(s) {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	for _, s := range oidcScopes {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// randomString returns n random bytes, base64url: states, verifiers,
// nonces.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// invalidate drops token from the signed-in account's cache entry for opts,
// if that entry still holds it.
func (p *publicClient) invalidate(opts policy.TokenRequestOptions, token string) bool {
	rec := p.record.Load()
	if rec == nil {
		return false
	}
	tenant, err := p.tenants.Resolve(opts.TenantID)
	if err != nil {
		return false
	}
	return p.cache.Invalidate(&tokencache.Request{TenantID: accountTenant(tenant, rec), Scopes: opts.Scopes, EnableCAE: opts.EnableCAE, Account: rec.HomeAccountID}, token)
}
