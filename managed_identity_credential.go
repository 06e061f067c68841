package azid

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
	"github.com/azid-go/azid/internal/managedidentity"
	"github.com/azid-go/azid/internal/sts"
	"github.com/azid-go/azid/internal/tokencache"
)

const credNameManagedIdentity = "ManagedIdentityCredential"

// defaultIMDSProbeTimeout is how long DefaultAzureCredential waits for
// IMDS to answer its probe before deciding there is none.
const defaultIMDSProbeTimeout = time.Second

type managedIdentityIDKind int

const (
	miClientID managedIdentityIDKind = iota
	miObjectID
	miResourceID
)

// ManagedIDKind is the ID of a user-assigned managed identity: a
// [ClientID], an [ObjectID] or a [ResourceID].
type ManagedIDKind interface {
	fmt.Stringer
	idKind() managedIdentityIDKind
}

// ClientID is the client (application) ID of a user-assigned managed
// identity. Cloud Shell and Service Fabric cannot select an identity, so
// [NewManagedIdentityCredential] rejects any ID there.
type ClientID string

func (ClientID) idKind() managedIdentityIDKind { return miClientID }

// String returns the ID.
func (c ClientID) String() string { return string(c) }

// ObjectID is the object (principal) ID of a user-assigned managed
// identity. Azure ML, Cloud Shell and Service Fabric do not accept one.
type ObjectID string

func (ObjectID) idKind() managedIdentityIDKind { return miObjectID }

// String returns the ID.
func (o ObjectID) String() string { return string(o) }

// ResourceID is the Azure resource ID of a user-assigned managed identity,
// "/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/name".
// Azure ML, Cloud Shell and Service Fabric do not accept one.
type ResourceID string

func (ResourceID) idKind() managedIdentityIDKind { return miResourceID }

// String returns the ID.
func (r ResourceID) String() string { return string(r) }

// ManagedIdentityCredentialOptions configures a [ManagedIdentityCredential].
// The zero value authenticates the host's system-assigned identity. The
// fields match azidentity's, plus IMDSEndpoint and Logger.
type ManagedIdentityCredentialOptions struct {
	// ClientOptions configures the HTTP pipeline. On IMDS, retries default
	// to what IMDS's documentation asks for: 6 retries on 404, 410, 429 and
	// 5xx, exponential from 2 s, at most 25 s apart, honouring Retry-After;
	// set Retry fields to change them. The default transport uses no proxy
	// and follows no redirects. On Service Fabric, Transport must be nil or
	// an *http.Client whose Transport is nil or an *http.Transport, because
	// the endpoint's certificate pin is installed in a copy of it.
	azcore.ClientOptions

	// ID selects a user-assigned identity by client, object or resource ID.
	// Leave it nil for the system-assigned identity. A source that cannot
	// honour the kind of ID given makes the constructor fail.
	ID ManagedIDKind

	// IMDSEndpoint replaces IMDS's address, http://169.254.169.254, for
	// environments that relay it (AKS pod identity) and for tests. Give the
	// base URL; the token path is appended. The AZURE_POD_IDENTITY_AUTHORITY_HOST
	// variable does the same and is used when this is empty. Plain http is
	// accepted only for loopback, link-local and private addresses.
	IMDSEndpoint string

	// Logger receives the cache's events. Tokens are never logged. Nil
	// discards them.
	Logger *slog.Logger
}

// ManagedIdentityCredential authenticates as an Azure managed identity:
// the identity of the virtual machine, App Service app, Function, container,
// Service Fabric application, Azure ML compute or Arc-enabled server the
// program runs on, or a user-assigned identity attached to it. The source
// is detected from the environment when the credential is constructed.
//
// Unlike azidentity's, each credential instance has its own cache (a new
// instance starts empty and two never share tokens); concurrent callers
// that miss the cache cause one request to the endpoint, not one each; and
// a long-lived token (managed identity tokens live about 24 hours) is
// refreshed in the background at half its lifetime, or at the endpoint's
// refresh_in, so callers never wait for a refresh and an endpoint outage
// goes unnoticed while the token lasts.
type ManagedIdentityCredential struct {
	mi       *managedidentity.Client
	pl       runtime.Pipeline
	tracer   tracing.Tracer // the ClientOptions' TracingProvider's, for GetToken spans
	cache    *tokencache.Cache
	identity string // the cache key's Identity: the user-assigned ID, "" for the system one

	// retry is the pipeline's retry options, for sts.AttemptContext.
	retry policy.RetryOptions

	// chained: inside DefaultAzureCredential, answers that mean "no managed
	// identity here" are credential-unavailable errors, and IMDS is probed
	// (probeTimeout > 0) until it first answers.
	chained      atomic.Bool
	probeTimeout time.Duration
	probed       atomic.Bool
}

// miSeams are the unexported settings of a ManagedIdentityCredential: the
// chain's probe and the tests' seams.
type miSeams struct {
	// chained and probeTimeout: see ManagedIdentityCredential.
	chained      bool
	probeTimeout time.Duration

	getenv         func(string) string // nil: os.Getenv
	clock          tokencache.Clock    // nil: the system clock
	imdsRetryDelay time.Duration       // 0: 2 s
	arcKeyDir      string              // "": the platform's
	arcAgentPath   string              // "": the platform's; "-": none
}

// NewManagedIdentityCredential constructs a ManagedIdentityCredential for
// the environment it runs in. Pass nil options for the system-assigned
// identity and defaults. It fails when the environment's managed identity
// variables are malformed or when options.ID names an identity the
// detected source cannot select; the error names the source.
func NewManagedIdentityCredential(options *ManagedIdentityCredentialOptions) (*ManagedIdentityCredential, error) {
	return newManagedIdentityCredential(options, miSeams{})
}

// newManagedIdentityCredentialForChain is DefaultAzureCredential's
// constructor. On IMDS, the first token request is preceded by a probe
// that waits at most probeTimeout (0 means 1 s) for IMDS to answer at all;
// no answer is a credential-unavailable error, so the chain moves on
// instead of waiting through IMDS's retries. Once IMDS has answered, no
// more probes are sent. Answers that show there is no managed identity
// here (an IMDS address answered by something else, no system-assigned
// identity, Docker Desktop's relay) are credential-unavailable errors too.
func newManagedIdentityCredentialForChain(options *ManagedIdentityCredentialOptions, probeTimeout time.Duration) (*ManagedIdentityCredential, error) {
	if probeTimeout <= 0 {
		probeTimeout = defaultIMDSProbeTimeout
	}
	return newManagedIdentityCredential(options, miSeams{chained: true, probeTimeout: probeTimeout})
}

func newManagedIdentityCredential(options *ManagedIdentityCredentialOptions, s miSeams) (*ManagedIdentityCredential, error) {
	if options == nil {
		options = &ManagedIdentityCredentialOptions{}
	}
	getenv := s.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	var now func() time.Time
	if s.clock != nil {
		now = s.clock.Now
	}
	var id managedidentity.ID
	if options.ID != nil {
		id.Value = options.ID.String()
		switch options.ID.idKind() {
		case miClientID:
			id.Kind = managedidentity.ClientID
		case miObjectID:
			id.Kind = managedidentity.ObjectID
		default:
			id.Kind = managedidentity.ResourceID
		}
	}
	mi, err := managedidentity.New(managedidentity.Options{
		Getenv:       getenv,
		ID:           id,
		IMDSEndpoint: options.IMDSEndpoint,
		Now:          now,
		ArcKeyDir:    s.arcKeyDir,
		ArcAgentPath: s.arcAgentPath,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", credNameManagedIdentity, err)
	}

	copts := options.ClientOptions
	acquireTimeout := tokencache.DefaultAcquireTimeout
	if mi.Source() == managedidentity.IMDS {
		setIMDSRetryDefaults(&copts.Retry, s.imdsRetryDelay)
		// Room for IMDS's whole retry schedule (about 100 s at most);
		// callers can stop waiting sooner through their contexts.
		acquireTimeout = 3 * time.Minute
	} else {
		s.probeTimeout = 0 // the other sources' variables say they are there
	}
	if copts.Transport, err = mi.Transport(copts.Transport); err != nil {
		return nil, fmt.Errorf("%s: %w", credNameManagedIdentity, err)
	}
	az, err := newTokenPipeline(copts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", credNameManagedIdentity, err)
	}
	c := &ManagedIdentityCredential{
		mi:           mi,
		pl:           az.Pipeline(),
		tracer:       az.Tracer(),
		identity:     id.Value,
		probeTimeout: s.probeTimeout,
		retry:        copts.Retry,
	}
	c.chained.Store(s.chained)
	c.cache = tokencache.New(tokencache.AcquirerFunc(c.acquire), tokencache.Options{
		Authority:      "managed-identity:" + string(mi.Source()),
		Clock:          s.clock,
		Logger:         options.Logger,
		AcquireTimeout: acquireTimeout,
	})
	return c, nil
}

// inChain tells the credential it is one source of a chain
// (ChainedTokenCredential calls it, as azidentity's does): an IMDS address
// answered by something that is not IMDS then reads as "no managed identity
// here", so the chain moves on. It does not turn on the probe; only
// newManagedIdentityCredentialForChain does.
func (c *ManagedIdentityCredential) inChain() { c.chained.Store(true) }

// setIMDSRetryDefaults fills the retry options the caller left zero with
// IMDS's recommendations, as azidentity does.
func setIMDSRetryDefaults(o *policy.RetryOptions, delay time.Duration) {
	if o.MaxRetries == 0 {
		o.MaxRetries = 6
	}
	if o.RetryDelay == 0 {
		o.RetryDelay = 2 * time.Second
		if delay > 0 {
			o.RetryDelay = delay
		}
	}
	if o.MaxRetryDelay == 0 {
		o.MaxRetryDelay = 25 * time.Second
	}
	if o.StatusCodes == nil {
		o.StatusCodes = managedidentity.IMDSRetryStatusCodes
	}
	if o.TryTimeout == 0 {
		o.TryTimeout = time.Minute
	}
}

// GetToken returns a token for the single scope in opts.Scopes (a resource
// with or without "/.default", e.g. "https://management.azure.com/.default"),
// from the cache when it holds a usable one. Azure SDK clients call it for
// you. opts.Claims bypasses the cache; opts.TenantID and opts.EnableCAE do
// not apply to managed identities and are ignored, as in azidentity.
func (c *ManagedIdentityCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if c.tracer.Enabled() {
		return traceGetToken(ctx, &c.tracer, spanManagedIdentity, opts, c.getTokenCached)
	}
	// The hit path: a direct call (see traceGetToken).
	tok, _, err := c.getTokenCached(ctx, opts)
	return tok, err
}

// getTokenCached is GetToken that also reports whether the token came from
// the cache, for tracing.
func (c *ManagedIdentityCredential) getTokenCached(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, bool, error) {
	if len(opts.Scopes) != 1 || !singleScope(opts.Scopes[0]) {
		return azcore.AccessToken{}, false, fmt.Errorf("%s.GetToken requires exactly one scope", credNameManagedIdentity)
	}
	tok, cached, err := c.cache.GetTokenCached(ctx, &tokencache.Request{
		Scopes:   opts.Scopes,
		Claims:   opts.Claims,
		Identity: c.identity,
	})
	if err != nil {
		return tok, false, callerError(credNameManagedIdentity, err)
	}
	return tok, cached, nil
}

// singleScope reports whether s names exactly one scope, without
// allocating: GetToken checks it on every call, hits included.
func singleScope(s string) bool {
	s = strings.TrimSpace(s)
	return s != "" && strings.IndexFunc(s, unicode.IsSpace) < 0
}

// CacheStats reports what the credential's token cache has done so far.
func (c *ManagedIdentityCredential) CacheStats() CacheStats { return cacheStatsOf(c.cache.Stats()) }

// acquire is the cache's acquirer: one token from the endpoint.
func (c *ManagedIdentityCredential) acquire(ctx context.Context, r tokencache.Request) (tokencache.Token, error) {
	if len(r.Scopes) != 1 {
		return tokencache.Token{}, fmt.Errorf("%s.GetToken requires exactly one scope", credNameManagedIdentity)
	}
	// Managed identity endpoints take a v1 resource (an audience), not a
	// scope.
	resource := strings.TrimSuffix(r.Scopes[0], "/.default")
	if c.probeTimeout > 0 && !c.probed.Load() {
		if err := c.mi.Probe(ctx, c.pl, c.probeTimeout); err != nil {
			return tokencache.Token{}, newCredentialUnavailableError(credNameManagedIdentity, "", err)
		}
		c.probed.Store(true)
	}
	ctx = sts.AttemptContext(ctx, c.retry, r.Background)
	t, err := c.mi.Token(ctx, c.pl, resource)
	if err != nil {
		return tokencache.Token{}, c.failure(err)
	}
	return tokencache.Token{AccessToken: t.AccessToken, ExpiresIn: t.ExpiresIn, RefreshIn: t.RefreshIn}, nil
}

// failure classifies an acquisition error. On IMDS, some answers mean
// there is no usable managed identity here rather than a failure of one,
// and are credential-unavailable errors so that chains try their next
// source, as azidentity does: a 400 for the system-assigned identity (the
// host has none), Docker Desktop's 403 "unreachable" relay, and, inside a
// chain, a success that is not a token (something else answers at IMDS's
// address).
func (c *ManagedIdentityCredential) failure(err error) error {
	var re *managedidentity.ResponseError
	if c.mi.Source() == managedidentity.IMDS && errors.As(err, &re) {
		switch {
		case re.Malformed && c.chained.Load():
			return newCredentialUnavailableError(credNameManagedIdentity, "something other than IMDS answers at its address", err)
		case re.StatusCode == http.StatusBadRequest && c.identity == "":
			return newCredentialUnavailableError(credNameManagedIdentity, "this host has no system-assigned identity; assign one, or set ID to a user-assigned identity", err)
		case re.Unreachable:
			return newCredentialUnavailableError(credNameManagedIdentity, "IMDS is unreachable from here (a relay such as Docker Desktop's answered)", err)
		}
	}
	afe := newAuthenticationFailedError(credNameManagedIdentity, err)
	if re != nil && afe.ErrorCode == "" && re.Detail != "" {
		// The endpoint's own words beat sts's "not an Entra error".
		afe.Description = re.Detail
	}
	return afe
}

// invalidate drops token from the cache if it still holds it for opts: a
// resource rejected it (see [NewBearerTokenTransport]).
func (c *ManagedIdentityCredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	if len(opts.Scopes) != 1 {
		return false
	}
	return c.cache.Invalidate(&tokencache.Request{Scopes: opts.Scopes, Identity: c.identity}, token)
}

var _ azcore.TokenCredential = (*ManagedIdentityCredential)(nil)
