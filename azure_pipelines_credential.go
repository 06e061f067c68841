package azid

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

const credNameAzurePipelines = "AzurePipelinesCredential"

const (
	// envSystemOIDCRequestURI is set by Azure Pipelines in every job: the
	// job's OIDC token endpoint.
	envSystemOIDCRequestURI = "SYSTEM_OIDCREQUESTURI"
	// pipelinesOIDCAPIVersion is the Azure DevOps REST API version of the
	// OIDC token request.
	pipelinesOIDCAPIVersion = "7.1"
	// Azure DevOps identifies a request with these response headers; they
	// are what its support asks for, so errors quote them.
	headerMSEdgeRef = "x-msedge-ref"
	headerVSSE2EID  = "x-vss-e2eid"
)

// AzurePipelinesCredentialOptions configures an [AzurePipelinesCredential].
// The zero value is ready to use. The fields match azidentity's; Logger and
// MaxCacheEntries are azid's additions.
type AzurePipelinesCredentialOptions struct {
	azcore.ClientOptions

	// AdditionallyAllowedTenants lists tenants, besides the one given to the
	// constructor, for which GetToken may be asked (TokenRequestOptions.TenantID).
	// "*" allows any tenant the application is provisioned in.
	AdditionallyAllowedTenants []string

	// Cache is a persistent cache (see package cache) shared across
	// processes and restarts. The zero value keeps tokens in memory only.
	Cache Cache

	// DisableInstanceDiscovery skips asking Entra whether the authority host
	// is a known Entra authority before the first token request. Set it for
	// private clouds, Azure Stack and local emulators.
	DisableInstanceDiscovery bool

	// Logger receives the cache's events at debug and warning level. Tokens
	// and the system access token are never logged. Nil discards them.
	Logger *slog.Logger

	// MaxCacheEntries bounds how many tokens the credential keeps in memory,
	// as for [ClientSecretCredentialOptions.MaxCacheEntries]. 0 means 10,000.
	MaxCacheEntries int
}

// AzurePipelinesCredential authenticates an Azure Pipelines job through a
// service connection that uses workload identity federation. For each token
// it needs from Entra, it asks the job's OIDC endpoint (the
// SYSTEM_OIDCREQUESTURI variable) for an ID token of the service connection,
// authorised by the job's System.AccessToken, and presents that ID token to
// Entra as the client assertion of the app the connection is federated
// with.
//
// Tokens are cached like every azid credential's: a cached token costs no
// request to Azure DevOps or Entra.
type AzurePipelinesCredential struct {
	app *appClient
}

// NewAzurePipelinesCredential constructs an AzurePipelinesCredential.
//
//   - tenantID and clientID: the tenant and the app (service principal) the
//     service connection is federated with.
//   - serviceConnectionID: the ID of the service connection (not its name).
//   - systemAccessToken: the job's System.AccessToken; pipelines pass it to a
//     step as an environment variable, e.g. SYSTEM_ACCESSTOKEN: $(System.AccessToken).
//
// The job's OIDC endpoint comes from the SYSTEM_OIDCREQUESTURI environment
// variable, which Azure Pipelines sets. Pass nil options for the defaults.
func NewAzurePipelinesCredential(tenantID, clientID, serviceConnectionID, systemAccessToken string, options *AzurePipelinesCredentialOptions) (*AzurePipelinesCredential, error) {
	if clientID == "" {
		return nil, errors.New(credNameAzurePipelines + ": no client ID specified; pass the client ID of the app the service connection is federated with")
	}
	if serviceConnectionID == "" {
		return nil, errors.New(credNameAzurePipelines + ": no service connection ID specified; pass the ID of the service connection")
	}
	if systemAccessToken == "" {
		return nil, errors.New(credNameAzurePipelines + ": no system access token specified; map $(System.AccessToken) into the step's environment and pass it")
	}
	oidcURI := os.Getenv(envSystemOIDCRequestURI)
	if oidcURI == "" {
		return nil, fmt.Errorf("%s: no value for environment variable %s, which Azure Pipelines sets in a job; run in a pipeline job or set it", credNameAzurePipelines, envSystemOIDCRequestURI)
	}
	endpoint, err := pipelinesOIDCEndpoint(oidcURI, serviceConnectionID)
	if err != nil {
		return nil, err
	}
	if options == nil {
		options = &AzurePipelinesCredentialOptions{}
	}
	copts := options.ClientOptions
	// Azure DevOps' identification of a failed request is worth logging.
	copts.Logging.AllowedHeaders = append(append([]string(nil), copts.Logging.AllowedHeaders...), headerMSEdgeRef, headerVSSE2EID)
	// The OIDC request carries the system access token and its answer is
	// a token: the same protections as a token request.
	az, err := newTokenPipeline(copts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", credNameAzurePipelines, err)
	}
	grant := &pipelinesGrant{pipeline: az.Pipeline(), endpoint: endpoint, systemAccessToken: systemAccessToken}
	app, err := newAppClient(credNameAzurePipelines, tenantID, clientID, clientCredentialsGrant{grant}, appOptions{
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
	return &AzurePipelinesCredential{app: app}, nil
}

// pipelinesOIDCEndpoint adds the API version and the service connection to
// the job's OIDC request URI, keeping any query it already has.
func pipelinesOIDCEndpoint(oidcURI, serviceConnectionID string) (string, error) {
	u, err := url.Parse(oidcURI)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("%s: %s is not an absolute http(s) URL; it should be set by Azure Pipelines", credNameAzurePipelines, envSystemOIDCRequestURI)
	}
	q := u.Query()
	q.Set("api-version", pipelinesOIDCAPIVersion)
	q.Set("serviceConnectionId", serviceConnectionID)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// GetToken returns an access token for opts.Scopes, from the cache when it
// holds a usable one. Azure SDK clients call it for you. opts.TenantID,
// opts.EnableCAE and opts.Claims work as for [ClientSecretCredential.GetToken].
func (c *AzurePipelinesCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.app.getToken(ctx, spanAzurePipelines, opts)
}

// CacheStats reports what the credential's token cache has done so far.
func (c *AzurePipelinesCredential) CacheStats() CacheStats { return c.app.cacheStats() }

func (c *AzurePipelinesCredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	return c.app.invalidate(opts, token)
}

// pipelinesGrant authenticates the app with an ID token from the job's
// OIDC endpoint, fetched afresh for every acquisition: the ID token is
// short-lived and the engine calls this only when Entra must be asked.
type pipelinesGrant struct {
	pipeline          runtime.Pipeline
	endpoint          string
	systemAccessToken string
}

// maxOIDCErrorExcerpt bounds how much of an error body an error quotes.
const maxOIDCErrorExcerpt = 200

func (g *pipelinesGrant) authenticateClient(ctx context.Context, form url.Values, _ string) ([]string, error) {
	assertion, err := g.oidcToken(ctx)
	if err != nil {
		return nil, err
	}
	form.Set("client_assertion_type", clientAssertionType)
	form.Set("client_assertion", assertion)
	return []string{assertion, g.systemAccessToken}, nil
}

func (g *pipelinesGrant) oidcToken(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.endpoint, nil)
	if err != nil {
		return "", g.fail("couldn't create the OIDC token request: " + err.Error())
	}
	req.Header.Set("Authorization", "Bearer "+g.systemAccessToken)
	// Without it, Azure DevOps answers a bad system access token with a
	// redirect to a sign-in page rather than a 401.
	req.Header.Set("X-TFS-FedAuthRedirect", "Suppress")
	resp, err := doRaw(g.pipeline, req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return "", fmt.Errorf("requesting the OIDC token: %w", context.Cause(ctx))
		}
		return "", g.fail("couldn't send the OIDC token request: " + g.scrub(err.Error()))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", g.fail("couldn't read the OIDC endpoint's answer: " + g.scrub(err.Error()))
	}
	if resp.StatusCode != http.StatusOK {
		var b strings.Builder
		fmt.Fprintf(&b, "the OIDC endpoint answered %s; check the service connection ID, that the service connection allows this pipeline, and that the step gets the job's System.AccessToken", resp.Status)
		for _, h := range []string{headerMSEdgeRef, headerVSSE2EID} {
			if v := resp.Header.Get(h); v != "" {
				fmt.Fprintf(&b, " (%s: %s)", h, oneLineExcerpt(g.scrub(v), 100))
			}
		}
		if excerpt := oneLineExcerpt(g.scrub(string(body)), maxOIDCErrorExcerpt); excerpt != "" {
			b.WriteString(": ")
			b.WriteString(excerpt)
		}
		return "", g.fail(b.String())
	}
	tok, ok := parseOIDCResponse(body)
	if !ok {
		// The body is not quoted: an OK answer may well hold a token.
		return "", g.fail("the OIDC endpoint's answer has no oidcToken; check that SYSTEM_OIDCREQUESTURI is the job's OIDC endpoint")
	}
	return tok, nil
}

// parseOIDCResponse reads the ID token from the OIDC endpoint's answer,
// {"oidcToken": "..."}; ok is false for anything else.
func parseOIDCResponse(body []byte) (token string, ok bool) {
	var r struct {
		OIDCToken string `json:"oidcToken"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(body), &r); err != nil || r.OIDCToken == "" {
		return "", false
	}
	return r.OIDCToken, true
}

// fail makes an OIDC failure an AuthenticationFailedError, as the failure
// of a token request is. Its text never holds the system access token.
func (g *pipelinesGrant) fail(msg string) error {
	return &AuthenticationFailedError{CredentialType: credNameAzurePipelines, Description: msg, err: errors.New(msg)}
}

func (g *pipelinesGrant) scrub(s string) string {
	return strings.ReplaceAll(s, g.systemAccessToken, "[REDACTED]")
}

// oneLineExcerpt folds s onto one line and cuts it at n bytes.
func oneLineExcerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}

var _ azcore.TokenCredential = (*AzurePipelinesCredential)(nil)
