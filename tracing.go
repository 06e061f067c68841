package azid

import (
	"context"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
)

// AttributeTokenFromCache is the boolean attribute set on a credential's
// GetToken span: true when the token was served from the credential's
// cache, false when the call waited for a token request (or failed).
const AttributeTokenFromCache = "azid.token.from_cache"

// cachedGetter is a credential family's GetToken that also reports whether
// the token came from the cache.
type cachedGetter func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, bool, error)

// traceGetToken runs get inside a span named span (azidentity's names,
// "ClientSecretCredential.GetToken") from tracer, the ClientOptions'
// TracingProvider's. The span ends with an error status when get fails and
// says whether the token came from the cache. It is called only when the
// tracer is enabled: without a provider, each family's GetToken calls its
// getTokenCached directly (see appClient.getToken), because an indirect
// call through a method value costs the hit path about a third of its time.
//
// The span is started by azcore's StartSpan, as azidentity's are, so that
// the token request's HTTP span is its child and a GetToken inside an SDK
// client's operation span adds no span of its own (azcore suppresses
// nested ones). StartSpan does not say whether it suppressed the span, so
// the tracer is wrapped to see the one span StartSpan creates, if any: the
// cache attribute goes on that span and never on a caller's.
func traceGetToken(ctx context.Context, tracer *tracing.Tracer, span string, opts policy.TokenRequestOptions, get cachedGetter) (azcore.AccessToken, error) {
	var (
		// starting is true until StartSpan returns; the wrapped tracer
		// keeps only a span started meanwhile (later ones are the HTTP
		// spans of token requests, possibly on another goroutine).
		starting atomic.Bool
		ours     tracing.Span
	)
	starting.Store(true)
	spy := tracing.WrapTracer(*tracer, func(t tracing.Tracer) tracing.Tracer {
		return tracing.NewTracer(func(ctx context.Context, name string, o *tracing.SpanOptions) (context.Context, tracing.Span) {
			ctx, s := t.Start(ctx, name, o)
			if starting.CompareAndSwap(true, false) {
				ours = s
			}
			return ctx, s
		}, &tracing.TracerOptions{SpanFromContext: t.SpanFromContext})
	})
	ctx, end := runtime.StartSpan(ctx, span, spy, nil)
	created := !starting.Swap(false)
	tok, cached, err := get(ctx, opts)
	if created {
		ours.SetAttributes(tracing.Attribute{Key: AttributeTokenFromCache, Value: cached})
	}
	end(err)
	return tok, err
}

// traceAuthenticate runs a user credential's Authenticate inside a span
// named span ("DeviceCodeCredential.Authenticate", as azidentity names it),
// ended with an error status when it fails. Authenticate interacts with the
// user, so the span's cost does not matter.
func traceAuthenticate(ctx context.Context, tracer tracing.Tracer, span string, opts *policy.TokenRequestOptions, authenticate func(context.Context, *policy.TokenRequestOptions) (AuthenticationRecord, error)) (AuthenticationRecord, error) {
	ctx, end := runtime.StartSpan(ctx, span, tracer, nil)
	rec, err := authenticate(ctx, opts)
	end(err)
	return rec, err
}

// The GetToken span names, as azidentity names them.
const (
	spanGetToken         = ".GetToken"
	spanSecret           = credNameSecret + spanGetToken
	spanCert             = credNameCert + spanGetToken
	spanAssertion        = credNameAssertion + spanGetToken
	spanWorkloadIdentity = credNameWorkloadIdentity + spanGetToken
	spanAzurePipelines   = credNameAzurePipelines + spanGetToken
	spanOBO              = credNameOBO + spanGetToken
	spanManagedIdentity  = credNameManagedIdentity + spanGetToken
	spanDeviceCode       = credNameDeviceCode + spanGetToken
	spanBrowser          = credNameBrowser + spanGetToken
	spanUserPassword     = credNameUserPassword + spanGetToken
	spanAuthCode         = credNameAuthCode + spanGetToken

	spanAuthenticate     = ".Authenticate"
	spanDeviceCodeAuth   = credNameDeviceCode + spanAuthenticate
	spanBrowserAuth      = credNameBrowser + spanAuthenticate
	spanUserPasswordAuth = credNameUserPassword + spanAuthenticate
	spanAuthCodeAuth     = credNameAuthCode + spanAuthenticate
)
