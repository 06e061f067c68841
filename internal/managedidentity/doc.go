// Package managedidentity speaks the managed identity protocols of Azure's
// hosting environments: IMDS (virtual machines, scale sets, AKS nodes), App
// Service and Functions, Service Fabric, Azure ML, Cloud Shell and Azure
// Arc. It detects the environment, builds each source's token request,
// sends it through an azcore pipeline and parses the answer into a token
// with a relative lifetime.
//
// It does no caching: the credential hands tokens to the cache engine
// (internal/tokencache), which owns single-flight, refresh and outage
// serving. Nothing here reads the process environment directly; the caller
// passes a getenv function, so tests run in parallel without os.Setenv.
package managedidentity
