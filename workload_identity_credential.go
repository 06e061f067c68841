package azid

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/cache"
)

const credNameWorkloadIdentity = "WorkloadIdentityCredential"

// Environment variables of workload identity, set by the Azure Workload
// Identity webhook in a Kubernetes pod.
const (
	envFederatedTokenFile = "AZURE_FEDERATED_TOKEN_FILE"
	envClientID           = "AZURE_CLIENT_ID"
	envTenantID           = "AZURE_TENANT_ID"
)

// WorkloadIdentityCredentialOptions configures a
// [WorkloadIdentityCredential]. The zero value reads everything from the
// environment. The fields match azidentity's; Logger and MaxCacheEntries
// are azid's additions.
type WorkloadIdentityCredentialOptions struct {
	azcore.ClientOptions

	// AdditionallyAllowedTenants lists tenants, besides TenantID, for which
	// GetToken may be asked. "*" allows any tenant.
	AdditionallyAllowedTenants []string

	// Cache is a persistent cache (see package cache) shared across
	// processes and restarts. The zero value keeps tokens in memory only.
	Cache cache.Cache

	// ClientID of the app registration or user-assigned managed identity
	// the pod's service account is federated with. Default: AZURE_CLIENT_ID.
	ClientID string

	// DisableInstanceDiscovery skips asking Entra whether the authority host
	// is a known Entra authority before the first token request.
	DisableInstanceDiscovery bool

	// EnableAzureProxy sends token requests through the AKS identity
	// bindings token proxy when the pod's environment configures one:
	// AZURE_KUBERNETES_TOKEN_PROXY (its https URL), with optionally
	// AZURE_KUBERNETES_CA_FILE or AZURE_KUBERNETES_CA_DATA (the CA that
	// signed its certificate; the file is re-read as the cluster rotates
	// it) and AZURE_KUBERNETES_SNI_NAME (the name its certificate is for).
	// The proxy then replaces ClientOptions.Transport. Without
	// AZURE_KUBERNETES_TOKEN_PROXY, requests go to Entra directly; the
	// proxy's other variables without it are a configuration error.
	EnableAzureProxy bool

	// TenantID of the app registration. Default: AZURE_TENANT_ID.
	TenantID string

	// TokenFilePath is the file holding the service account token. Default:
	// AZURE_FEDERATED_TOKEN_FILE.
	TokenFilePath string

	// Logger receives the cache's events at debug and warning level. Tokens
	// are never logged. Nil discards them.
	Logger *slog.Logger

	// MaxCacheEntries bounds how many tokens the credential keeps in memory:
	// one per tenant, scope set and CAE setting. 0 means 10,000. Past the
	// bound, expired tokens are dropped first, then those closest to expiry,
	// and a dropped token is simply requested again when next needed. A
	// multi-tenant service that gets tokens for more tenants than that
	// should raise it. azid's addition; azidentity has no bound to set.
	MaxCacheEntries int
}

// WorkloadIdentityCredential authenticates a Kubernetes workload (AKS
// workload identity, or any cluster federated with Entra): the pod's
// projected service account token, read from a file, is the client
// assertion.
//
// Kubernetes rotates the file's token well before it expires. The
// credential checks the file (its size, modification time and identity —
// a rotation swaps a symlink, giving a new file) only when it needs a new
// access token, and reads it only when it changed; cached access tokens
// cost no file access at all.
type WorkloadIdentityCredential struct {
	app  *appClient
	file *tokenFile
}

// NewWorkloadIdentityCredential constructs a WorkloadIdentityCredential
// from options, falling back to the environment for what they leave empty.
// When the client ID, tenant ID or token file is configured nowhere, it
// returns a credential-unavailable error naming the missing setting (so
// that a chain such as DefaultAzureCredential moves on). The file is first
// read by the first GetToken.
func NewWorkloadIdentityCredential(options *WorkloadIdentityCredentialOptions) (*WorkloadIdentityCredential, error) {
	if options == nil {
		options = &WorkloadIdentityCredentialOptions{}
	}
	clientID := options.ClientID
	if clientID == "" {
		clientID = os.Getenv(envClientID)
	}
	tenantID := options.TenantID
	if tenantID == "" {
		tenantID = os.Getenv(envTenantID)
	}
	path := options.TokenFilePath
	if path == "" {
		path = os.Getenv(envFederatedTokenFile)
	}
	var missing []string
	if clientID == "" {
		missing = append(missing, "the client ID (set ClientID or "+envClientID+")")
	}
	if tenantID == "" {
		missing = append(missing, "the tenant ID (set TenantID or "+envTenantID+")")
	}
	if path == "" {
		missing = append(missing, "the token file (set TokenFilePath or "+envFederatedTokenFile+")")
	}
	if len(missing) > 0 {
		return nil, newCredentialUnavailableError(credNameWorkloadIdentity,
			fmt.Sprintf("missing %s; check the pod's workload identity configuration", joinList(missing)), nil)
	}
	copts := options.ClientOptions
	if options.EnableAzureProxy {
		proxy, err := newTokenProxyTransport(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", credNameWorkloadIdentity, err)
		}
		if proxy != nil {
			copts.Transport = proxy
		}
	}
	f := &tokenFile{path: path}
	app, err := newAppClient(credNameWorkloadIdentity, tenantID, clientID, clientCredentialsGrant{callbackAuth(f.token)}, appOptions{
		ClientOptions:              copts,
		AdditionallyAllowedTenants: options.AdditionallyAllowedTenants,
		DisableInstanceDiscovery:   options.DisableInstanceDiscovery,
		Logger:                     options.Logger,
		Cache:                      options.Cache,
		MaxCacheEntries:            options.MaxCacheEntries,
	})
	if err != nil {
		return nil, err
	}
	return &WorkloadIdentityCredential{app: app, file: f}, nil
}

// GetToken returns an access token for opts.Scopes, from the cache when it
// holds a usable one. Azure SDK clients call it for you. opts.TenantID,
// opts.EnableCAE and opts.Claims work as for [ClientSecretCredential.GetToken].
func (w *WorkloadIdentityCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return w.app.getToken(ctx, spanWorkloadIdentity, opts)
}

// CacheStats reports what the credential's token cache has done so far.
func (w *WorkloadIdentityCredential) CacheStats() CacheStats { return w.app.cacheStats() }

// invalidate drops token from the cache if it still holds it for opts: a
// resource rejected it (see [NewBearerTokenTransport]).
func (w *WorkloadIdentityCredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	return w.app.invalidate(opts, token)
}

var _ azcore.TokenCredential = (*WorkloadIdentityCredential)(nil)

// maxTokenFileSize bounds what is read from the token file: service account
// tokens are a kilobyte or two.
const maxTokenFileSize = 64 << 10

// tokenFile is the federated token file, re-read only when it changes.
type tokenFile struct {
	path string

	mu     sync.Mutex
	info   os.FileInfo // of the file last read; nil before the first read
	cached string
	reads  atomic.Int32 // how many times the file was read, for tests
}

// token returns the file's token, reading the file only when its identity,
// size or modification time differ from the last read. The file is touched
// outside the lock; two acquisitions racing past a rotation may both read
// it, which costs a read and is harmless.
func (f *tokenFile) token(context.Context) (string, error) {
	f.mu.Lock()
	last, cached := f.info, f.cached
	f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err != nil {
		return "", fmt.Errorf("reading the federated token file: %w", err)
	}
	if last != nil && os.SameFile(last, fi) && fi.Size() == last.Size() && fi.ModTime().Equal(last.ModTime()) {
		return cached, nil
	}
	fh, err := os.Open(f.path)
	if err != nil {
		return "", fmt.Errorf("reading the federated token file: %w", err)
	}
	defer fh.Close()
	// Stat the opened file, so the identity recorded is that of the
	// content read even if the path is swapped meanwhile.
	if fi, err = fh.Stat(); err != nil {
		return "", fmt.Errorf("reading the federated token file: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxTokenFileSize+1))
	if err != nil {
		return "", fmt.Errorf("reading the federated token file %s: %w", f.path, err)
	}
	tok, err := parseFederatedToken(data)
	if err != nil {
		return "", fmt.Errorf("the federated token file %s: %w", f.path, err)
	}
	f.reads.Add(1)
	f.mu.Lock()
	f.info, f.cached = fi, tok
	f.mu.Unlock()
	return tok, nil
}

// parseFederatedToken extracts the token from a token file's content:
// surrounding whitespace (a trailing newline from a hand-written file) is
// dropped; anything else that cannot be in a JWT is an error, since sending
// it would only earn an obscure AADSTS error from Entra.
func parseFederatedToken(data []byte) (string, error) {
	if len(data) > maxTokenFileSize {
		return "", fmt.Errorf("the file is larger than %d bytes; it should hold one token", maxTokenFileSize)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return "", errors.New("the file is empty; it should hold the service account token (check the pod's projected volume)")
	}
	for _, c := range data {
		if c <= ' ' || c >= 0x7f {
			return "", errors.New("the file holds more than one token, or characters a token cannot contain")
		}
	}
	return string(data), nil
}

// joinList joins items as "a, b and c".
func joinList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	s := items[0]
	for _, it := range items[1 : len(items)-1] {
		s += ", " + it
	}
	return s + " and " + items[len(items)-1]
}
