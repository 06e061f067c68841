package azid

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/cache"
)

const credNameEnvironment = "EnvironmentCredential"

// Environment variables EnvironmentCredential reads (AZURE_CLIENT_ID and
// AZURE_TENANT_ID are shared with workload identity).
const (
	envClientSecret               = "AZURE_CLIENT_SECRET"
	envClientCertificatePath      = "AZURE_CLIENT_CERTIFICATE_PATH"
	envClientCertificatePassword  = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
	envClientSendCertificateChain = "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN"
	envUsername                   = "AZURE_USERNAME"
	envPassword                   = "AZURE_PASSWORD"
	envAdditionallyAllowedTenants = "AZURE_ADDITIONALLY_ALLOWED_TENANTS"
)

// EnvironmentCredentialOptions configures an [EnvironmentCredential]. The
// zero value is ready to use. DisableInstanceDiscovery matches azidentity;
// the other fields are azid's additions.
type EnvironmentCredentialOptions struct {
	azcore.ClientOptions

	// AdditionallyAllowedTenants lists tenants, besides AZURE_TENANT_ID,
	// for which GetToken may be asked. "*" allows any tenant. When empty,
	// AZURE_ADDITIONALLY_ALLOWED_TENANTS (semicolon-separated) is used.
	AdditionallyAllowedTenants []string

	// Cache is a persistent cache (see package cache). azidentity's
	// EnvironmentCredential caches in memory only; azid's persists with the
	// credential it chooses. The zero value keeps tokens in memory only.
	Cache cache.Cache

	// DisableInstanceDiscovery skips asking Entra whether the authority host
	// is a known Entra authority before the first token request.
	DisableInstanceDiscovery bool

	// Logger receives the cache's events at debug and warning level, and
	// which credential the environment selected. Secrets are never logged.
	// Nil discards them.
	Logger *slog.Logger
}

// EnvironmentCredential authenticates a service principal (or a user)
// configured by environment variables, choosing the first complete
// configuration of:
//
//   - AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET: a
//     [ClientSecretCredential];
//   - AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_CERTIFICATE_PATH (a
//     PEM or PKCS#12 file, see [ParseCertificates]), with
//     AZURE_CLIENT_CERTIFICATE_PASSWORD when the file has one and
//     AZURE_CLIENT_SEND_CERTIFICATE_CHAIN=true (or 1) to send the chain: a
//     [ClientCertificateCredential];
//   - AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_USERNAME and AZURE_PASSWORD: a
//     username/password credential.
//
// AZURE_AUTHORITY_HOST selects the cloud, as for every credential.
// The variables are read once, by the constructor.
type EnvironmentCredential struct {
	cred azcore.TokenCredential
}

// NewEnvironmentCredential builds the credential the environment describes.
// When the environment describes none, or only part of one, it returns a
// credential-unavailable error naming the missing variables (so a chain
// moves on); a complete but invalid configuration (an unreadable
// certificate) is an ordinary error.
func NewEnvironmentCredential(options *EnvironmentCredentialOptions) (*EnvironmentCredential, error) {
	return newEnvironmentCredential(options, os.Getenv)
}

func newEnvironmentCredential(options *EnvironmentCredentialOptions, getenv func(string) string) (*EnvironmentCredential, error) {
	if options == nil {
		options = &EnvironmentCredentialOptions{}
	}
	tenantID, clientID := getenv(envTenantID), getenv(envClientID)
	secret, certPath := getenv(envClientSecret), getenv(envClientCertificatePath)
	username, password := getenv(envUsername), getenv(envPassword)

	var missing []string
	if tenantID == "" {
		missing = append(missing, envTenantID)
	}
	if clientID == "" {
		missing = append(missing, envClientID)
	}
	switch {
	case secret == "" && certPath == "" && username == "" && password == "":
		missing = append(missing, envClientSecret+" (or "+envClientCertificatePath+", or "+envUsername+" and "+envPassword+")")
	case secret == "" && certPath == "" && username == "":
		missing = append(missing, envUsername)
	case secret == "" && certPath == "" && password == "":
		missing = append(missing, envPassword)
	}
	if len(missing) > 0 {
		return nil, newCredentialUnavailableError(credNameEnvironment,
			"the environment does not configure a credential: missing "+joinList(missing), nil)
	}

	allowed := options.AdditionallyAllowedTenants
	if len(allowed) == 0 {
		if v := getenv(envAdditionallyAllowedTenants); v != "" {
			allowed = strings.Split(v, ";")
		}
	}
	logger := options.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var cred azcore.TokenCredential
	var err error
	switch {
	case secret != "":
		logger.Debug("EnvironmentCredential will authenticate with ClientSecretCredential")
		cred, err = environmentSecretCredential(tenantID, clientID, secret, options, allowed)
	case certPath != "":
		logger.Debug("EnvironmentCredential will authenticate with ClientCertificateCredential")
		cred, err = environmentCertificateCredential(tenantID, clientID, certPath, getenv, options, allowed)
	default:
		logger.Debug("EnvironmentCredential will authenticate with UsernamePasswordCredential")
		cred, err = environmentUserCredential(tenantID, clientID, username, password, options, allowed)
	}
	if isUnavailable(err) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", credNameEnvironment, err)
	}
	return &EnvironmentCredential{cred: cred}, nil
}

// environmentSecretCredential builds the client secret credential, with the
// environment credential's options.
func environmentSecretCredential(tenantID, clientID, secret string, o *EnvironmentCredentialOptions, allowed []string) (*ClientSecretCredential, error) {
	return NewClientSecretCredential(tenantID, clientID, secret, &ClientSecretCredentialOptions{
		ClientOptions:              o.ClientOptions,
		AdditionallyAllowedTenants: allowed,
		Cache:                      o.Cache,
		DisableInstanceDiscovery:   o.DisableInstanceDiscovery,
		Logger:                     o.Logger,
	})
}

func environmentCertificateCredential(tenantID, clientID, path string, getenv func(string) string, o *EnvironmentCredentialOptions, allowed []string) (*ClientCertificateCredential, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the certificate file named by %s: %w", envClientCertificatePath, err)
	}
	var password []byte
	if v := getenv(envClientCertificatePassword); v != "" {
		password = []byte(v)
	}
	certs, key, err := ParseCertificates(data, password)
	if err != nil {
		return nil, fmt.Errorf("the certificate file %s: %w", path, err)
	}
	send := getenv(envClientSendCertificateChain)
	return NewClientCertificateCredential(tenantID, clientID, certs, key, &ClientCertificateCredentialOptions{
		ClientOptions:              o.ClientOptions,
		AdditionallyAllowedTenants: allowed,
		Cache:                      o.Cache,
		DisableInstanceDiscovery:   o.DisableInstanceDiscovery,
		SendCertificateChain:       send == "1" || strings.EqualFold(send, "true"),
		Logger:                     o.Logger,
	})
}

// environmentUserCredential builds the username/password credential
// (ROPC, deprecated by Microsoft but still selected by these variables, as
// in azidentity).
func environmentUserCredential(tenantID, clientID, username, password string, o *EnvironmentCredentialOptions, allowed []string) (azcore.TokenCredential, error) {
	return NewUsernamePasswordCredential(tenantID, clientID, username, password, &UsernamePasswordCredentialOptions{
		ClientOptions:              o.ClientOptions,
		AdditionallyAllowedTenants: allowed,
		Cache:                      o.Cache,
		DisableInstanceDiscovery:   o.DisableInstanceDiscovery,
		Logger:                     o.Logger,
	})
}

// GetToken returns an access token from the credential the environment
// selected. Azure SDK clients call it for you.
func (c *EnvironmentCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.cred.GetToken(ctx, opts)
}

// CacheStats reports what the token cache of the credential the environment
// described has done so far.
func (c *EnvironmentCredential) CacheStats() CacheStats {
	if s, ok := c.cred.(interface{ CacheStats() CacheStats }); ok {
		return s.CacheStats()
	}
	return CacheStats{}
}

// invalidate passes a rejected token on to the credential the environment
// described, whose cache holds it.
func (c *EnvironmentCredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	inv, ok := c.cred.(invalidator)
	return ok && inv.invalidate(opts, token)
}

// engineBacked reports whether the credential the environment described
// caches with azid's engine (they all do).
func (c *EnvironmentCredential) engineBacked() bool { return isEngineBacked(c.cred) }

var _ azcore.TokenCredential = (*EnvironmentCredential)(nil)
