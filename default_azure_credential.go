package azid

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid/cache"
)

const credNameDefault = "DefaultAzureCredential"

// envTokenCredentials is the variable that narrows DefaultAzureCredential's
// chain. It also reads AZURE_ADDITIONALLY_ALLOWED_TENANTS
// (environment_credential.go) and AZURE_CLIENT_ID
// (workload_identity_credential.go); its members read their own.
const envTokenCredentials = "AZURE_TOKEN_CREDENTIALS"

// The names AZURE_TOKEN_CREDENTIALS accepts for single members: the
// credential types' names, as in azidentity.
const (
	memberEnvironment      = "EnvironmentCredential"
	memberWorkloadIdentity = "WorkloadIdentityCredential"
	memberManagedIdentity  = "ManagedIdentityCredential"
)

// DefaultAzureCredentialOptions configures a [DefaultAzureCredential]. The
// zero value is ready to use. Options apply to the members that have them.
// The fields match azidentity's, plus ManagedIdentityClientID,
// ManagedIdentityProbeTimeout, Cache and Logger.
type DefaultAzureCredentialOptions struct {
	// ClientOptions configure the members that call Entra ID or a managed
	// identity endpoint over HTTP; they do not apply to the developer tools.
	azcore.ClientOptions

	// AdditionallyAllowedTenants lists tenants, besides TenantID, for which
	// GetToken may be asked; "*" allows any. When empty, the
	// semicolon-separated AZURE_ADDITIONALLY_ALLOWED_TENANTS is used.
	AdditionallyAllowedTenants []string

	// DisableInstanceDiscovery skips asking Entra whether the authority host
	// is known; set it for private clouds, Azure Stack and local emulators.
	DisableInstanceDiscovery bool

	// RequireAzureTokenCredentials makes NewDefaultAzureCredential fail when
	// AZURE_TOKEN_CREDENTIALS is not set, so a deployment cannot silently
	// fall back to whatever identity happens to be available.
	RequireAzureTokenCredentials bool

	// TenantID is the default tenant of the workload identity and developer
	// tool members.
	TenantID string

	// ManagedIdentityClientID selects a user-assigned managed identity by
	// client ID; when empty, AZURE_CLIENT_ID is used, and without it the
	// system-assigned identity.
	ManagedIdentityClientID string

	// ManagedIdentityProbeTimeout bounds the managed identity member's first
	// request to the instance metadata service (IMDS): on a machine without
	// one, the chain moves on after this long instead of waiting for
	// retries. 0 means the managed identity credential's default (1 second).
	ManagedIdentityProbeTimeout time.Duration

	// Cache is a persistent token cache for the members that support one
	// (environment and workload identity); the zero value keeps tokens in
	// memory only.
	Cache cache.Cache

	// Logger receives the token cache events of the members that call
	// Entra ID or a managed identity endpoint (acquisitions, refresh
	// failures, persistent cache problems), as those members' own Logger
	// option does; nil discards them. Tokens are never logged.
	Logger *slog.Logger

	// Test seams.
	getenv func(string) string
	hooks  *toolHooks
}

// DefaultAzureCredential is a chain of the credentials an application most
// likely has, tried in this order until one returns a token:
//
//   - [EnvironmentCredential] (AZURE_TENANT_ID, AZURE_CLIENT_ID and a secret,
//     certificate or user name and password in the environment)
//   - [WorkloadIdentityCredential] (Kubernetes workload identity)
//   - [ManagedIdentityCredential] (Azure hosts), after a short probe of IMDS
//   - [AzureCLICredential], [AzureDeveloperCLICredential],
//     [AzurePowerShellCredential] (a developer's sign-in)
//
// It is convenient while developing; in production, a specific credential is
// more predictable. Once a member has returned a token, the chain uses only
// that member. A member that is not configured here is skipped; the error
// when no member works lists each one's reason.
//
// # Selecting members
//
// AZURE_TOKEN_CREDENTIALS narrows the chain: "dev" keeps the developer tools,
// "prod" the environment, workload identity and managed identity members, and
// a credential's type name (e.g. "AzureCLICredential") keeps that member
// alone. Any other value is an error from NewDefaultAzureCredential, and so
// is an unset variable when RequireAzureTokenCredentials is true.
//
// The developer tool members cache their tokens in memory and drop them when
// the tool signs in as someone else (see [AzureCLICredential]).
type DefaultAzureCredential struct {
	chain *ChainedTokenCredential
}

// memberSet is a set of chain members, one bit each, in chain order.
type memberSet uint8

const (
	useEnvironment memberSet = 1 << iota
	useWorkloadIdentity
	useManagedIdentity
	useAzureCLI
	useAzureDeveloperCLI
	useAzurePowerShell

	useProd = useEnvironment | useWorkloadIdentity | useManagedIdentity
	useDev  = useAzureCLI | useAzureDeveloperCLI | useAzurePowerShell
	useAll  = useProd | useDev
)

// parseTokenCredentials reads AZURE_TOKEN_CREDENTIALS.
func parseTokenCredentials(v string, set, required bool) (memberSet, error) {
	if !set {
		if required {
			return 0, fmt.Errorf("%s: %s must be set because RequireAzureTokenCredentials is true. Set it to \"dev\", \"prod\" or the name of one credential type of the chain, such as %q", credNameDefault, envTokenCredentials, credNameAzureCLI)
		}
		return useAll, nil
	}
	name := strings.TrimSpace(v)
	for _, m := range []struct {
		name string
		set  memberSet
	}{
		{"dev", useDev},
		{"prod", useProd},
		{memberEnvironment, useEnvironment},
		{memberWorkloadIdentity, useWorkloadIdentity},
		{memberManagedIdentity, useManagedIdentity},
		{credNameAzureCLI, useAzureCLI},
		{credNameAzureDeveloperCLI, useAzureDeveloperCLI},
		{credNameAzurePowerShell, useAzurePowerShell},
	} {
		if strings.EqualFold(name, m.name) {
			return m.set, nil
		}
	}
	return 0, fmt.Errorf(`%s: invalid %s value %q. Valid values are "dev", "prod", or one of %s, %s, %s, %s, %s, %s`,
		credNameDefault, envTokenCredentials, v, memberEnvironment, memberWorkloadIdentity, memberManagedIdentity,
		credNameAzureCLI, credNameAzureDeveloperCLI, credNameAzurePowerShell)
}

// NewDefaultAzureCredential creates a DefaultAzureCredential. Pass nil
// options for the defaults.
func NewDefaultAzureCredential(options *DefaultAzureCredentialOptions) (*DefaultAzureCredential, error) {
	o := DefaultAzureCredentialOptions{}
	if options != nil {
		o = *options
	}
	getenv := o.getenv
	lookup := func(k string) (string, bool) { return os.LookupEnv(k) }
	if getenv == nil {
		getenv = os.Getenv
	} else {
		lookup = func(k string) (string, bool) { v := getenv(k); return v, v != "" }
	}
	v, set := lookup(envTokenCredentials)
	selected, err := parseTokenCredentials(v, set, o.RequireAzureTokenCredentials)
	if err != nil {
		return nil, err
	}
	if len(o.AdditionallyAllowedTenants) == 0 {
		if t := getenv(envAdditionallyAllowedTenants); t != "" {
			o.AdditionallyAllowedTenants = strings.Split(t, ";")
		}
	}
	if o.ManagedIdentityClientID == "" {
		o.ManagedIdentityClientID = getenv(envClientID)
	}
	o.getenv = getenv

	var sources []azcore.TokenCredential
	for _, m := range defaultChainMembers(&o, selected) {
		if selected&m.set == 0 {
			continue
		}
		cred, err := m.build()
		if err != nil {
			// Keep the member's place: the chain's error then says why it
			// could not be used.
			cred = &defaultMemberError{credType: m.name, err: err}
		}
		sources = append(sources, cred)
	}
	return &DefaultAzureCredential{chain: newChain(credNameDefault, sources, ChainedTokenCredentialOptions{})}, nil
}

// defaultMember is one member of the default chain: its type name, its bit,
// and how to build it from the chain's options.
type defaultMember struct {
	name  string
	set   memberSet
	build func() (azcore.TokenCredential, error)
}

// defaultChainMembers lists DefaultAzureCredential's members in chain order,
// each built by its public constructor from the chain's options.
func defaultChainMembers(o *DefaultAzureCredentialOptions, selected memberSet) []defaultMember {
	return []defaultMember{
		{memberEnvironment, useEnvironment, func() (azcore.TokenCredential, error) {
			return newEnvironmentCredential(&EnvironmentCredentialOptions{
				ClientOptions: o.ClientOptions, AdditionallyAllowedTenants: o.AdditionallyAllowedTenants,
				Cache: o.Cache, DisableInstanceDiscovery: o.DisableInstanceDiscovery, Logger: o.Logger,
			}, o.getenv)
		}},
		{memberWorkloadIdentity, useWorkloadIdentity, func() (azcore.TokenCredential, error) {
			tenant := o.TenantID
			if tenant == "" {
				tenant = o.getenv(envTenantID)
			}
			return NewWorkloadIdentityCredential(&WorkloadIdentityCredentialOptions{
				ClientOptions: o.ClientOptions, AdditionallyAllowedTenants: o.AdditionallyAllowedTenants,
				Cache: o.Cache, DisableInstanceDiscovery: o.DisableInstanceDiscovery, Logger: o.Logger,
				ClientID: o.getenv(envClientID), TenantID: tenant,
				TokenFilePath: o.getenv(envFederatedTokenFile),
			})
		}},
		{memberManagedIdentity, useManagedIdentity, func() (azcore.TokenCredential, error) {
			mo := &ManagedIdentityCredentialOptions{ClientOptions: o.ClientOptions, Logger: o.Logger}
			if o.ManagedIdentityClientID != "" {
				mo.ID = ClientID(o.ManagedIdentityClientID)
			}
			// Probe IMDS briefly only when there is somewhere else to go:
			// alone in the chain, managed identity keeps its full retries.
			seams := miSeams{getenv: o.getenv}
			if selected != useManagedIdentity {
				seams.chained, seams.probeTimeout = true, o.ManagedIdentityProbeTimeout
				if seams.probeTimeout <= 0 {
					seams.probeTimeout = defaultIMDSProbeTimeout
				}
			}
			return newManagedIdentityCredential(mo, seams)
		}},
		{credNameAzureCLI, useAzureCLI, func() (azcore.TokenCredential, error) {
			return NewAzureCLICredential(&AzureCLICredentialOptions{
				TenantID: o.TenantID, AdditionallyAllowedTenants: o.AdditionallyAllowedTenants,
				inDefaultChain: true, hooks: o.hooks,
			})
		}},
		{credNameAzureDeveloperCLI, useAzureDeveloperCLI, func() (azcore.TokenCredential, error) {
			return NewAzureDeveloperCLICredential(&AzureDeveloperCLICredentialOptions{
				TenantID: o.TenantID, AdditionallyAllowedTenants: o.AdditionallyAllowedTenants,
				inDefaultChain: true, hooks: o.hooks,
			})
		}},
		{credNameAzurePowerShell, useAzurePowerShell, func() (azcore.TokenCredential, error) {
			return NewAzurePowerShellCredential(&AzurePowerShellCredentialOptions{
				TenantID: o.TenantID, AdditionallyAllowedTenants: o.AdditionallyAllowedTenants,
				inDefaultChain: true, hooks: o.hooks,
			})
		}},
	}
}

// GetToken returns a token from the first member that provides one (after
// the first success, from that member alone). Azure SDK clients call it for
// you.
func (c *DefaultAzureCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.chain.GetToken(ctx, opts)
}

// defaultMemberError stands in for a member that could not be constructed
// (a malformed AZURE_CLIENT_CERTIFICATE_PATH, an invalid TenantID): it is
// unavailable, with the construction error as its reason.
type defaultMemberError struct {
	credType string
	err      error
}

func (d *defaultMemberError) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if isUnavailable(d.err) {
		return azcore.AccessToken{}, d.err
	}
	// Constructors' errors already name their credential.
	return azcore.AccessToken{}, newCredentialUnavailableError(d.credType, strings.TrimPrefix(d.err.Error(), d.credType+": "), nil)
}

// invalidate passes a rejected token on to the member that served it.
func (c *DefaultAzureCredential) invalidate(opts policy.TokenRequestOptions, token string) bool {
	return c.chain.invalidate(opts, token)
}

// engineBacked reports whether every member caches with azid's engine.
func (c *DefaultAzureCredential) engineBacked() bool { return c.chain.engineBacked() }

var _ azcore.TokenCredential = (*DefaultAzureCredential)(nil)
