package azid_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
)

// statser is what an exporter needs from a credential. Every azid
// credential and CachingCredential satisfies it.
type statser interface{ CacheStats() azid.CacheStats }

// writePrometheus writes a credential's counters in the Prometheus text
// exposition format, which Prometheus scrapes and the OpenTelemetry
// Collector's prometheus receiver ingests, labelled with the credential's
// name. Serve it from a /metrics handler.
//
// With the Prometheus or OpenTelemetry Go libraries instead, read CacheStats
// in a collect callback (a prometheus.Collector's Collect, or an OTel
// Int64ObservableCounter's callback) and report each field: the counters
// only grow, so they map to counters; Entries is a gauge. The module
// examples/metrics does exactly that, so azid itself depends on neither.
func writePrometheus(w io.Writer, name string, c statser) {
	s := c.CacheStats()
	counters := []struct {
		metric, help string
		v            uint64
	}{
		{"hits", "GetToken calls answered from the cache without waiting", s.Hits},
		{"misses", "GetToken calls that waited for a token", s.Misses},
		{"coalesced", "misses that shared another call's token request", s.Coalesced},
		{"token_requests", "token requests, foreground and background", s.TokenRequests},
		{"token_request_failures", "failed token requests", s.TokenRequestFailures},
		{"background_refreshes", "refreshes ahead of expiry while callers were served", s.BackgroundRefreshes},
		{"refresh_failures", "failed background refreshes (the cached token stayed in service)", s.RefreshFailures},
		{"evictions", "tokens dropped to respect the cache bound", s.Evictions},
		{"invalidations", "tokens dropped because a resource rejected them", s.Invalidations},
	}
	for _, c := range counters {
		fmt.Fprintf(w, "# HELP azid_cache_%s_total %s.\n# TYPE azid_cache_%s_total counter\n", c.metric, c.help, c.metric)
		fmt.Fprintf(w, "azid_cache_%s_total{credential=%q} %d\n", c.metric, name, c.v)
	}
	fmt.Fprintf(w, "# HELP azid_cache_entries Cache keys held.\n# TYPE azid_cache_entries gauge\n")
	fmt.Fprintf(w, "azid_cache_entries{credential=%q} %d\n", name, s.Entries)
}

// Exporting a credential's cache counters as metrics, without a metrics
// library.
func ExampleCacheStats() {
	d := newDemo()
	defer d.close()
	cred := d.credential()
	opts := policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}}
	for range 100 {
		if _, err := cred.GetToken(context.Background(), opts); err != nil {
			log.Fatal(err)
		}
	}
	writePrometheus(os.Stdout, "storage", cred)
	// Output:
	// # HELP azid_cache_hits_total GetToken calls answered from the cache without waiting.
	// # TYPE azid_cache_hits_total counter
	// azid_cache_hits_total{credential="storage"} 99
	// # HELP azid_cache_misses_total GetToken calls that waited for a token.
	// # TYPE azid_cache_misses_total counter
	// azid_cache_misses_total{credential="storage"} 1
	// # HELP azid_cache_coalesced_total misses that shared another call's token request.
	// # TYPE azid_cache_coalesced_total counter
	// azid_cache_coalesced_total{credential="storage"} 0
	// # HELP azid_cache_token_requests_total token requests, foreground and background.
	// # TYPE azid_cache_token_requests_total counter
	// azid_cache_token_requests_total{credential="storage"} 1
	// # HELP azid_cache_token_request_failures_total failed token requests.
	// # TYPE azid_cache_token_request_failures_total counter
	// azid_cache_token_request_failures_total{credential="storage"} 0
	// # HELP azid_cache_background_refreshes_total refreshes ahead of expiry while callers were served.
	// # TYPE azid_cache_background_refreshes_total counter
	// azid_cache_background_refreshes_total{credential="storage"} 0
	// # HELP azid_cache_refresh_failures_total failed background refreshes (the cached token stayed in service).
	// # TYPE azid_cache_refresh_failures_total counter
	// azid_cache_refresh_failures_total{credential="storage"} 0
	// # HELP azid_cache_evictions_total tokens dropped to respect the cache bound.
	// # TYPE azid_cache_evictions_total counter
	// azid_cache_evictions_total{credential="storage"} 0
	// # HELP azid_cache_invalidations_total tokens dropped because a resource rejected them.
	// # TYPE azid_cache_invalidations_total counter
	// azid_cache_invalidations_total{credential="storage"} 0
	// # HELP azid_cache_entries Cache keys held.
	// # TYPE azid_cache_entries gauge
	// azid_cache_entries{credential="storage"} 1
}
