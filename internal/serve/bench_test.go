package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/azid-go/azid"
	"github.com/azid-go/azid/entratest"
)

// roundTrips sends b.N requests to url on one keep-alive client, as an SDK
// does, reading each body whole.
func roundTrips(b *testing.B, client *http.Client, url, secret string) {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("X-IDENTITY-HEADER", secret)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkServedCacheHit is a token served from the engine's memory over
// loopback HTTP, end to end: compare with BenchmarkEmptyHandlerRoundTrip.
func BenchmarkServedCacheHit(b *testing.B) {
	f := newFixture(b, func(o *Options) { o.Rate = -1; o.Log = nil })
	client := &http.Client{Transport: &http.Transport{}}
	url := f.url(q2019("api://demo"))
	roundTrips(b, client, url, f.secret) // warm: the first request acquires
}

// BenchmarkEmptyHandlerRoundTrip is the floor: the same client, the same
// loopback HTTP, a handler that writes a token-sized fixed answer.
func BenchmarkEmptyHandlerRoundTrip(b *testing.B) {
	body := make([]byte, 1400) // about a served answer's size
	for i := range body {
		body[i] = 'x'
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	roundTrips(b, &http.Client{Transport: &http.Transport{}}, srv.URL+Path+"?"+q2019("api://demo"), "x")
}

// BenchmarkColdHerd1000 is 1,000 clients asking at once for a resource the
// server has no token for: one upstream request. It reports the clients'
// p50 and p99 latency beside the upstream token request's own latency
// (measured just before, with a fresh credential, against the same
// emulator).
func BenchmarkColdHerd1000(b *testing.B) {
	emu, err := entratest.NewServer(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	newCred := func() *azid.ClientSecretCredential {
		c, err := azid.NewClientSecretCredential(entratest.DefaultTenantID, entratest.DefaultClientID, entratest.DefaultClientSecret,
			&azid.ClientSecretCredentialOptions{
				ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: emu.AuthorityHost()}, Transport: emu.Client()},
				DisableInstanceDiscovery: true,
			})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	secret, _ := NewSecret()
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 1000}}
	const n = 1000
	var p50s, p99s, floor99s, upstream []float64
	for range b.N {
		b.StopTimer()
		up := newCred()
		t0 := time.Now()
		if _, err := up.GetToken(b.Context(), policy.TokenRequestOptions{Scopes: []string{"api://demo/.default"}}); err != nil {
			b.Fatal(err)
		}
		upstream = append(upstream, float64(time.Since(t0).Microseconds())/1000)
		h, err := New(Options{Credential: newCred(), Secret: secret, Rate: -1})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(h)
		emu.ResetCounts()
		b.StartTimer()
		lat := herd(b, client, srv.URL+Path+"?"+q2019("api://demo"), secret, n)
		b.StopTimer()
		srv.Close()
		client.CloseIdleConnections()
		if got := emu.Requests(entratest.EndpointToken); got != 1 {
			b.Fatalf("%d token requests, want 1", got)
		}
		p50s = append(p50s, lat[n/2])
		p99s = append(p99s, lat[n*99/100])
		// The same herd against the empty handler: what 1,000 new
		// connections cost this machine by themselves.
		empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("{}")) }))
		lat = herd(b, client, empty.URL, secret, n)
		empty.Close()
		client.CloseIdleConnections()
		floor99s = append(floor99s, lat[n*99/100])
	}
	b.ReportMetric(median(p50s), "p50-ms")
	b.ReportMetric(median(p99s), "p99-ms")
	b.ReportMetric(median(upstream), "upstream-ms")
	b.ReportMetric(median(floor99s), "empty-p99-ms")
	b.ReportMetric(1, "token-requests")
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

// BenchmarkHandlerHit is the handler's own cost for a cache hit, without
// the network: the part BenchmarkServedCacheHit adds to the round trip.
func BenchmarkHandlerHit(b *testing.B) {
	f := newFixture(b, func(o *Options) { o.Rate = -1; o.Log = nil })
	h, err := New(Options{Credential: f.cred, Secret: f.secret, ClientID: entratest.DefaultClientID, Rate: -1})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, f.url(q2019("api://demo")), nil)
	r.Header.Set("X-IDENTITY-HEADER", f.secret)
	h.ServeHTTP(httptest.NewRecorder(), r)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkServedVsEmpty alternates batches of requests to the served
// endpoint and to the empty handler on the same client, so that load from
// elsewhere on the machine falls on both alike; it reports each one's
// median per-request time over the batches and their ratio.
func BenchmarkServedVsEmpty(b *testing.B) {
	f := newFixture(b, func(o *Options) { o.Rate = -1; o.Log = nil })
	body := make([]byte, 1400)
	for i := range body {
		body[i] = 'x'
	}
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer empty.Close()
	client := &http.Client{Transport: &http.Transport{}}
	newReq := func(u string) *http.Request {
		r, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			b.Fatal(err)
		}
		r.Header.Set("X-IDENTITY-HEADER", f.secret)
		return r
	}
	served, floor := newReq(f.url(q2019("api://demo"))), newReq(empty.URL+Path+"?"+q2019("api://demo"))
	do := func(r *http.Request) {
		resp, err := client.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	do(served) // the first request acquires
	do(floor)
	const batch = 100
	var s, e []float64
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		for _, x := range []struct {
			r   *http.Request
			out *[]float64
		}{{served, &s}, {floor, &e}} {
			t := time.Now()
			for range batch {
				do(x.r)
			}
			*x.out = append(*x.out, float64(time.Since(t).Nanoseconds())/batch)
		}
	}
	ms, me := median(s), median(e)
	b.ReportMetric(ms, "served-ns/req")
	b.ReportMetric(me, "empty-ns/req")
	b.ReportMetric(ms/me, "ratio")
}

// herd sends n requests at once, each on a new connection, and returns
// their latencies in milliseconds, sorted.
func herd(b *testing.B, client *http.Client, url, secret string, n int) []float64 {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("X-IDENTITY-HEADER", secret)
	lat := make([]float64, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			t := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
			}
			lat[i] = float64(time.Since(t).Microseconds()) / 1000
		})
	}
	close(start)
	wg.Wait()
	slices.Sort(lat)
	return lat
}
