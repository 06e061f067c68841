package metrics

import (
	"context"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// credential returns a ClientSecretCredential against a fresh emulator that
// has served n GetToken calls (1 token request, n-1 hits).
func credential(t *testing.T, n int) *azid.ClientSecretCredential {
	t.Helper()
	srv, err := entratest.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cred, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
		&azid.ClientSecretCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()}, Transport: srv.Client()},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}}); err != nil {
			t.Fatal(err)
		}
	}
	return cred
}

func TestPrometheusCollector(t *testing.T) {
	c := NewCollector(map[string]Source{"storage": credential(t, 10), "graph": credential(t, 3)})
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP azid_cache_hits_total GetToken calls answered from the cache without waiting.
# TYPE azid_cache_hits_total counter
azid_cache_hits_total{credential="graph"} 2
azid_cache_hits_total{credential="storage"} 9
# HELP azid_cache_token_requests_total Token requests made, foreground and background.
# TYPE azid_cache_token_requests_total counter
azid_cache_token_requests_total{credential="graph"} 1
azid_cache_token_requests_total{credential="storage"} 1
# HELP azid_cache_entries Cache keys currently held.
# TYPE azid_cache_entries gauge
azid_cache_entries{credential="graph"} 1
azid_cache_entries{credential="storage"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "azid_cache_hits_total", "azid_cache_token_requests_total", "azid_cache_entries"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c); n != 2*(len(counters)+1) {
		t.Fatalf("%d metrics, want %d", n, 2*(len(counters)+1))
	}
}

func TestOpenTelemetry(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	reg, err := RegisterOTel(mp.Meter("azid"), map[string]Source{"storage": credential(t, 10)})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if !d.IsMonotonic {
					t.Errorf("%s is not monotonic", m.Name)
				}
				for _, p := range d.DataPoints {
					if v, _ := p.Attributes.Value("credential"); v.AsString() != "storage" {
						t.Errorf("%s: credential attribute %q", m.Name, v.AsString())
					}
					got[m.Name] = p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					got[m.Name] = p.Value
				}
			}
		}
	}
	for name, want := range map[string]int64{"azid.cache.hits": 9, "azid.cache.misses": 1, "azid.cache.token_requests": 1, "azid.cache.entries": 1, "azid.cache.refresh_failures": 0} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %d (reported: %v), want %d", name, v, ok, want)
		}
	}
	if len(got) != len(counters)+1 {
		t.Errorf("%d instruments reported, want %d", len(got), len(counters)+1)
	}
}
