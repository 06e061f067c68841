package managedidentity

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Source names a managed identity environment.
type Source string

// The sources, in the order Detect tries them.
const (
	AppService    Source = "App Service"
	ServiceFabric Source = "Service Fabric"
	AzureML       Source = "Azure ML"
	CloudShell    Source = "Cloud Shell"
	AzureArc      Source = "Azure Arc"
	IMDS          Source = "IMDS"
)

// The environment variables the platforms set.
const (
	envIdentityEndpoint   = "IDENTITY_ENDPOINT"
	envIdentityHeader     = "IDENTITY_HEADER"
	envServerThumbprint   = "IDENTITY_SERVER_THUMBPRINT"
	envIMDSEndpoint       = "IMDS_ENDPOINT"
	envMSIEndpoint        = "MSI_ENDPOINT"
	envMSISecret          = "MSI_SECRET"
	envPodIdentityHost    = "AZURE_POD_IDENTITY_AUTHORITY_HOST"
	envDefaultIdentityCID = "DEFAULT_IDENTITY_CLIENT_ID"
)

// IDKind says how a user-assigned identity is named.
type IDKind int

// The ways to name an identity. SystemAssigned means "the host's own".
const (
	SystemAssigned IDKind = iota
	ClientID
	ObjectID
	ResourceID
)

// ID selects the identity to authenticate.
type ID struct {
	Kind  IDKind
	Value string
}

// String describes the ID for error messages; IDs are not secrets.
func (id ID) String() string {
	switch id.Kind {
	case ClientID:
		return fmt.Sprintf("client ID %q", id.Value)
	case ObjectID:
		return fmt.Sprintf("object ID %q", id.Value)
	case ResourceID:
		return fmt.Sprintf("resource ID %q", id.Value)
	}
	return "the system-assigned identity"
}

// Options configure [New].
type Options struct {
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// ID is the identity to authenticate; the zero value is the
	// system-assigned identity.
	ID ID
	// IMDSEndpoint overrides IMDS's base URL (scheme, host, port), as
	// AZURE_POD_IDENTITY_AUTHORITY_HOST does. It wins over that variable.
	IMDSEndpoint string
	// Now tells the time an answer arrived, to turn an absolute expires_on
	// into a lifetime; nil means time.Now. Tests share a fake clock with the
	// cache engine and the emulator.
	Now func() time.Time

	// Platform seams. Zero values mean the real platform.

	// GOOS replaces runtime.GOOS for Azure Arc's paths.
	GOOS string
	// ArcKeyDir is the directory Azure Arc's key files must be in.
	ArcKeyDir string
	// ArcAgentPath is the Arc agent (himds) whose presence means "this is an
	// Arc machine"; "-" means "no agent here".
	ArcAgentPath string
}

func (o *Options) getenv(k string) string {
	if o.Getenv == nil {
		return os.Getenv(k)
	}
	return o.Getenv(k)
}

// detect picks the source from the environment, in the order Microsoft's
// libraries use: App Service and Service Fabric (IDENTITY_ENDPOINT and
// IDENTITY_HEADER, the thumbprint telling them apart), Azure ML and Cloud
// Shell (MSI_ENDPOINT, with or without MSI_SECRET), Azure Arc
// (IDENTITY_ENDPOINT and IMDS_ENDPOINT, or the agent installed), else IMDS.
func detect(o *Options) Source {
	endpoint, header := o.getenv(envIdentityEndpoint), o.getenv(envIdentityHeader)
	switch {
	case endpoint != "" && header != "":
		if o.getenv(envServerThumbprint) != "" {
			return ServiceFabric
		}
		return AppService
	case o.getenv(envMSIEndpoint) != "":
		if o.getenv(envMSISecret) != "" {
			return AzureML
		}
		return CloudShell
	case endpoint != "" && o.getenv(envIMDSEndpoint) != "":
		return AzureArc
	case arcAgentInstalled(o):
		return AzureArc
	}
	return IMDS
}

func (o *Options) goos() string {
	if o.GOOS != "" {
		return o.GOOS
	}
	return runtime.GOOS
}

// arcAgentInstalled reports whether the Azure Connected Machine agent's
// himds is on this machine.
func arcAgentInstalled(o *Options) bool {
	p := o.ArcAgentPath
	if p == "-" {
		return false
	}
	if p == "" {
		switch o.goos() {
		case "linux":
			p = "/opt/azcmagent/bin/himds"
		case "windows":
			pd := o.getenv("ProgramData")
			if pd == "" {
				return false
			}
			p = filepath.Join(pd, "AzureConnectedMachineAgent", "himds.exe")
		default:
			return false
		}
	}
	_, err := os.Stat(p)
	return err == nil
}

// arcKeyDir is the directory the Arc agent writes its key files to.
func arcKeyDir(o *Options) (string, error) {
	if o.ArcKeyDir != "" {
		return o.ArcKeyDir, nil
	}
	switch o.goos() {
	case "linux":
		return "/var/opt/azcmagent/tokens", nil
	case "windows":
		pd := o.getenv("ProgramData")
		if pd == "" {
			return "", errors.New("ProgramData is not set, so the Azure Arc key directory is unknown")
		}
		return filepath.Join(pd, "AzureConnectedMachineAgent", "Tokens"), nil
	}
	return "", fmt.Errorf("Azure Arc managed identity is supported on Linux and Windows, not %s", o.goos())
}
