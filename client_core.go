package azid

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
	"github.com/azid-go/azid/cache"
	"github.com/azid-go/azid/internal/authority"
	"github.com/azid-go/azid/internal/persist"
	"github.com/azid-go/azid/internal/sts"
	"github.com/azid-go/azid/internal/tokencache"
)

// clientCore is what the application and user clients talk to Entra with.
// Both build it here, so that the authority host, the pipeline's
// protections, retries, tracing and instance discovery cannot drift
// between the two families.
type clientCore struct {
	host      *url.URL
	pl        runtime.Pipeline
	sts       *sts.Client
	tracer    tracing.Tracer       // the ClientOptions' TracingProvider's, for GetToken spans
	discovery *authority.Discovery // nil when instance discovery is disabled
}

// newClientCore builds the client of the credential name from its
// ClientOptions. discoveryHost is a test seam ("" outside tests). Its
// errors name the credential.
func newClientCore(name string, o azcore.ClientOptions, disableInstanceDiscovery bool, discoveryHost string) (clientCore, error) {
	host, err := authority.Host(o.Cloud, os.Getenv, authority.HostOptions{})
	if err != nil {
		return clientCore{}, fmt.Errorf("%s: %w", name, err)
	}
	az, err := newTokenPipeline(o)
	if err != nil {
		return clientCore{}, fmt.Errorf("%s: %w", name, err)
	}
	pl := az.Pipeline()
	c := clientCore{
		host:   host,
		pl:     pl,
		sts:    sts.NewClient(pl, sts.ClientOptions{Retry: o.Retry}),
		tracer: az.Tracer(),
	}
	if !disableInstanceDiscovery {
		c.discovery = authority.NewDiscovery(func(r *http.Request) (*http.Response, error) {
			return doRaw(pl, r)
		}, discoveryHost)
	}
	return c, nil
}

// cacheOptions are what a client's token cache engine is built from.
type cacheOptions struct {
	clock      tokencache.Clock
	maxEntries int // 0 is the engine's default
	logger     *slog.Logger
	store      cache.Cache
}

// checkMaxEntries validates a MaxCacheEntries option of the credential name.
func checkMaxEntries(name string, n int) error {
	if n < 0 {
		return fmt.Errorf("%s: MaxCacheEntries is %d; use 0 for the default bound (%d) or a positive number", name, n, tokencache.DefaultMaxEntries)
	}
	return nil
}

// newCache builds the token cache engine of the client clientID, which
// acquires through acq.
func (c *clientCore) newCache(acq tokencache.Acquirer, clientID string, o cacheOptions) *tokencache.Cache {
	return tokencache.New(acq, tokencache.Options{
		Authority:  c.host.Host,
		ClientID:   clientID,
		Clock:      o.clock,
		MaxEntries: o.maxEntries,
		Logger:     o.logger,
		Store:      persist.TokenStore(o.store),
	})
}

// doRaw sends a plain *http.Request through an azcore pipeline, for callers
// (instance discovery) written against net/http.
func doRaw(pl runtime.Pipeline, r *http.Request) (*http.Response, error) {
	req, err := runtime.NewRequest(r.Context(), r.Method, r.URL.String())
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Raw().Header.Add(k, v)
		}
	}
	return pl.Do(req)
}
