// Package bench runs azid's credential benchmarks (internal/benchkit) side
// by side against azidentity v1.15.0, the credential library azid replaces.
//
// It is a separate module so that azidentity and its dependencies (MSAL
// among them) are dependencies of the comparison only, never of azid:
//
//	go test ./...                                   # smoke tests: both credentials get valid tokens from the emulator
//	go test -run '^$' -bench Compare/WarmHit        # one workload, both implementations
//	go run ./cmd/report                             # every workload; writes ../docs/BENCHMARKS.md
//
// Benchmarks are named BenchmarkCompare/<workload>/impl=<implementation>.
package bench

import (
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/azid-go/azid/entratest"
	"github.com/azid-go/azid/internal/benchkit"
)

// Impl is one implementation under comparison.
type Impl struct {
	// Name appears in benchmark names as impl=<Name>.
	Name string
	// New builds a credential for the emulator.
	New benchkit.Factory
}

// Impls returns the implementations every workload runs against:
// azidentity first, then azid.
func Impls() []Impl {
	return []Impl{{"azidentity", Azidentity}, {"azid", benchkit.Azid}}
}

// BaselineImpls returns the extra implementations a workload also runs
// against, beyond [Impls]: for the distinct-keys cold herd, direct token
// requests with no client library ([benchkit.Direct]), which show the
// emulator's own floor on the shared cores.
func BaselineImpls(workload string) []Impl {
	if workload == "ColdHerdDistinctKeys" {
		return []Impl{{"direct", benchkit.Direct}}
	}
	return nil
}

// Azidentity is the benchkit.Factory for azidentity's
// ClientSecretCredential, configured exactly as benchkit.Azid configures
// azid's: same emulator, same HTTP client, default retry policy, instance
// discovery disabled (the emulator is not a known Entra authority).
func Azidentity(srv *entratest.Server, o benchkit.Options) azcore.TokenCredential {
	cred, err := azidentity.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&azidentity.ClientSecretCredentialOptions{
			ClientOptions:              benchkit.ClientOptions(srv),
			AdditionallyAllowedTenants: o.AdditionallyAllowedTenants,
			DisableInstanceDiscovery:   true,
		})
	if err != nil {
		panic(fmt.Sprintf("bench: building azidentity's ClientSecretCredential: %v", err))
	}
	return cred
}
