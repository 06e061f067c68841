package azid

import (
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/azid-go/azid/internal/authority"
	"github.com/azid-go/azid/internal/sts"
)

// newTokenPipeline builds the azcore pipeline of a credential that sends
// secrets: every application, user and managed identity credential builds
// its pipeline here, so that what protects those secrets cannot drift
// between families. o is the caller's options, already adjusted by the
// credential (retries, transport); the caller's value is not changed.
//
// Whatever the caller asked of its other clients:
//   - bodies are never logged: token requests carry secrets (client
//     secrets, assertions, passwords, refresh tokens, codes) and their
//     answers tokens, and an error page may echo the request;
//   - the values of secret headers (isSecretHeader) are never logged, even when listed in
//     Logging.AllowedHeaders;
//   - every response body azcore reads is bounded (sts.MaxResponseBytes);
//   - a host that does not resolve fails at once (authority.FailFastOnUnknownHost).
func newTokenPipeline(o azcore.ClientOptions) (*azcore.Client, error) {
	o.Logging = tokenLogOptions(o.Logging)
	// A host that does not resolve fails at once, not after every retry.
	o.Transport = authority.FailFastOnUnknownHost(sts.LimitResponseBodies(o.Transport))
	return azcore.NewClient(moduleName, moduleVersion, runtime.PipelineOptions{
		Tracing: runtime.TracingOptions{Namespace: "Microsoft.Entra"},
		// A certificate credential's retried request gets a newly signed
		// client assertion (sts.TokenOptions.Resign); other requests pass
		// through untouched.
		PerRetry: []policy.Policy{sts.ResignPolicy()},
	}, &o)
}

// tokenLogOptions is o for a token pipeline: no bodies, and no secret
// header among the allowed ones. The caller's slices are not modified.
func tokenLogOptions(o policy.LogOptions) policy.LogOptions {
	o.IncludeBody = false
	if len(o.AllowedHeaders) > 0 {
		allowed := make([]string, 0, len(o.AllowedHeaders))
		for _, h := range o.AllowedHeaders {
			if !isSecretHeader(h) {
				allowed = append(allowed, h)
			}
		}
		o.AllowedHeaders = allowed
	}
	return o
}

// isSecretHeader reports whether a header named name carries a credential
// on some token pipeline: Azure Arc's and a proxy's Authorization, App
// Service's X-IDENTITY-HEADER, Service Fabric's and Azure ML's secret, and
// cookies a gateway may set. azcore's logging policy prints the value of a
// header only when it is allowed, so none of these may be allowed on a
// token pipeline. Names compare as azcore compares them, ignoring case.
func isSecretHeader(name string) bool {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "authorization", "proxy-authorization", "cookie", "set-cookie", "x-identity-header", "secret":
		return true
	}
	return false
}
