// Package metrics exports azid credentials' cache counters to Prometheus
// and OpenTelemetry.
//
// It is a separate module so that azid itself depends on neither library:
// copy it, or import it if its dependencies suit you. Both exporters read
// CacheStats when metrics are collected, so there is nothing to update on
// the token path and nothing to start or stop.
//
// Every field of azid.CacheStats except Entries only grows, so each becomes
// a counter (azid_cache_<field>_total); Entries is a gauge. Each credential
// is told apart by a "credential" label (Prometheus) or attribute
// (OpenTelemetry) holding the name you give it.
package metrics

import (
	"context"
	"maps"
	"slices"

	"github.com/azid-go/azid"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Source is what the exporters read. Every azid credential and
// azid.CachingCredential satisfies it.
type Source interface {
	CacheStats() azid.CacheStats
}

// counter describes one exported counter.
type counter struct {
	name, help string
	value      func(azid.CacheStats) uint64
}

var counters = []counter{
	{"hits", "GetToken calls answered from the cache without waiting.", func(s azid.CacheStats) uint64 { return s.Hits }},
	{"misses", "GetToken calls that found no usable token and waited for one.", func(s azid.CacheStats) uint64 { return s.Misses }},
	{"coalesced", "Misses that shared another call's token request.", func(s azid.CacheStats) uint64 { return s.Coalesced }},
	{"token_requests", "Token requests made, foreground and background.", func(s azid.CacheStats) uint64 { return s.TokenRequests }},
	{"sign_ins", "Token requests that signed a user in.", func(s azid.CacheStats) uint64 { return s.SignIns }},
	{"token_request_failures", "Failed token requests.", func(s azid.CacheStats) uint64 { return s.TokenRequestFailures }},
	{"background_refreshes", "Refreshes ahead of expiry while callers kept being served.", func(s azid.CacheStats) uint64 { return s.BackgroundRefreshes }},
	{"refresh_failures", "Failed background refreshes; the cached token stayed in service.", func(s azid.CacheStats) uint64 { return s.RefreshFailures }},
	{"evictions", "Tokens dropped to keep the cache within its bound.", func(s azid.CacheStats) uint64 { return s.Evictions }},
	{"invalidations", "Tokens dropped because a resource rejected them.", func(s azid.CacheStats) uint64 { return s.Invalidations }},
	{"store_hits", "Misses answered by the persistent or distributed cache.", func(s azid.CacheStats) uint64 { return s.StoreHits }},
	{"store_errors", "Failed reads or writes of the persistent or distributed cache.", func(s azid.CacheStats) uint64 { return s.StoreErrors }},
	{"cleared", "Tokens dropped because the signed-in identity behind them may have changed.", func(s azid.CacheStats) uint64 { return s.Cleared }},
}

const entriesHelp = "Cache keys currently held."

// Collector is a prometheus.Collector for a fixed set of named credentials.
// Register it once: prometheus.MustRegister(metrics.NewCollector(...)).
type Collector struct {
	names   []string // sorted, for a stable output order
	sources map[string]Source
	descs   []*prometheus.Desc
	entries *prometheus.Desc
}

// NewCollector returns a collector for sources, keyed by the value of the
// "credential" label. The map is copied.
func NewCollector(sources map[string]Source) *Collector {
	c := &Collector{sources: maps.Clone(sources), names: slices.Sorted(maps.Keys(sources))}
	for _, k := range counters {
		c.descs = append(c.descs, prometheus.NewDesc("azid_cache_"+k.name+"_total", k.help, []string{"credential"}, nil))
	}
	c.entries = prometheus.NewDesc("azid_cache_entries", entriesHelp, []string{"credential"}, nil)
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	ch <- c.entries
}

// Collect implements prometheus.Collector: one CacheStats read per
// credential per scrape.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, name := range c.names {
		s := c.sources[name].CacheStats()
		for i, k := range counters {
			ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.CounterValue, float64(k.value(s)), name)
		}
		ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(s.Entries), name)
	}
}

// RegisterOTel creates observable instruments on meter and reports sources
// through them each time the meter's reader collects. Unregister the
// returned registration to stop.
func RegisterOTel(meter metric.Meter, sources map[string]Source) (metric.Registration, error) {
	sources = maps.Clone(sources)
	names := slices.Sorted(maps.Keys(sources))
	attrs := make(map[string]metric.ObserveOption, len(names))
	for _, n := range names {
		attrs[n] = metric.WithAttributeSet(attribute.NewSet(attribute.String("credential", n)))
	}
	var insts []metric.Observable
	ctrs := make([]metric.Int64ObservableCounter, len(counters))
	for i, k := range counters {
		ctr, err := meter.Int64ObservableCounter("azid.cache."+k.name, metric.WithDescription(k.help))
		if err != nil {
			return nil, err
		}
		ctrs[i] = ctr
		insts = append(insts, ctr)
	}
	entries, err := meter.Int64ObservableGauge("azid.cache.entries", metric.WithDescription(entriesHelp))
	if err != nil {
		return nil, err
	}
	insts = append(insts, entries)
	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, n := range names {
			s := sources[n].CacheStats()
			for i, k := range counters {
				o.ObserveInt64(ctrs[i], int64(k.value(s)), attrs[n])
			}
			o.ObserveInt64(entries, int64(s.Entries), attrs[n])
		}
		return nil
	}, insts...)
}
