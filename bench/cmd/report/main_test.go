package main

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/azid-go/azid/internal/benchkit"
)

func TestSpecsCoverEveryWorkload(t *testing.T) {
	var want, got []string
	for _, w := range benchkit.Workloads() {
		want = append(want, w.Name)
	}
	for _, s := range specs() {
		got = append(got, s.workload)
		if s.count < 1 || s.benchtime == "" || s.headline == "" || len(s.metrics) == 0 {
			t.Errorf("%s: incomplete spec", s.workload)
		}
		if (s.check == nil) != (s.target == "") {
			t.Errorf("%s: a target needs both its text and its check", s.workload)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("specs cover %v; benchkit has %v", got, want)
	}
}

func TestBenchPattern(t *testing.T) {
	for in, want := range map[string]string{
		"WarmHit":                "^BenchmarkCompare$/^WarmHit$",
		"HitWithEntries/n=10000": "^BenchmarkCompare$/^HitWithEntries$/^n=10000$",
	} {
		if got := benchPattern(in); got != want {
			t.Errorf("benchPattern(%q) = %q, want %q", in, got, want)
		}
	}
}

const sample = `goos: linux
cpu: Some CPU
BenchmarkCompare/WarmHit/impl=azidentity-2         	  373978	      3314 ns/op	    1216 B/op	      18 allocs/op
BenchmarkCompare/WarmHit/impl=azid-2               	 8716585	       119.9 ns/op	       0 B/op	       0 allocs/op
BenchmarkCompare/WarmHit/impl=azid-2               	 8716585	       99.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkCompare/WarmHit/impl=azid-2               	 8716585	       90.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkCompare/HitWithEntries/n=10000/impl=azid-2	 8897638	       133.3 ns/op	      5000 hit-index	       0 B/op	       0 allocs/op
    some_test.go:12: a log line
BenchmarkHitParallel-2   	34511536	        33.44 ns/op	       0 B/op	       0 allocs/op
PASS
`

func TestParse(t *testing.T) {
	r := newResults()
	if err := r.parse(strings.NewReader(sample)); err != nil {
		t.Fatal(err)
	}
	if r.cpu != "Some CPU" {
		t.Errorf("cpu = %q", r.cpu)
	}
	if got := strings.Join(r.order, ","); got != "WarmHit,HitWithEntries/n=10000,BenchmarkHitParallel" {
		t.Errorf("order = %s", got)
	}
	if v, ok := r.median("WarmHit", implAzid, "ns/op"); !ok || v != 99 {
		t.Errorf("median = %v, %v; want 99", v, ok)
	}
	if v, _ := r.median("HitWithEntries/n=10000", implAzid, "hit-index"); v != 5000 {
		t.Errorf("hit-index = %v", v)
	}
	if n := r.count("BenchmarkHitParallel", ""); n != 1 {
		t.Errorf("engine runs = %d", n)
	}
	if got := strings.Join(r.units("WarmHit"), ","); got != "ns/op,B/op,allocs/op" {
		t.Errorf("units = %s", got)
	}
}

func TestMedianOfEvenCount(t *testing.T) {
	if m := medianOf([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median = %v, want 2.5", m)
	}
}

func TestFormatting(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{fmtDur(112.9), "113 ns"},
		{fmtDur(58.61), "58.6 ns"},
		{fmtDur(3314), "3.31 µs"},
		{fmtDur(22.15e6), "22.1 ms"},
		{fmtDur(9.597e9), "9.60 s"},
		{fmtNum(13750), "13,750"},
		{fmtNum(1), "1"},
		{fmtNum(0.5532), "0.553"},
		{fmtRatio(3314, 112.9, true), "29.4×"},
		{fmtRatio(1000, 1, true), "1,000×"},
		{fmtRatio(24, 0, true), "∞"},
		{fmtRatio(0, 0, true), "="},
		{fmtRatio(5, 1, false), "—"},
		{sig3(1234567), "1,230,000"},
		{fmtRatio(22.4e6, 151, true), "148,000×"},
		{anchor("Hit during another key's miss"), "hit-during-another-keys-miss"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// TestRender feeds a complete synthetic run through the document and checks
// the verdicts and the facts a reader needs.
func TestRender(t *testing.T) {
	var raw strings.Builder
	machine{CPU: "Test CPU", Cores: 2, Kernel: "6.1", Go: "go version go1.26.8 linux/amd64", Date: "2026-01-02 03:04 UTC",
		LoadStart: "0.10", LoadEnd: "0.20", Azid: "commit abc", Versions: []string{"azidentity v1.15.0"}}.write(&raw)
	line := func(workload, impl string, metrics ...any) {
		fmt.Fprintf(&raw, "BenchmarkCompare/%s/impl=%s-2 \t 100 \t", workload, impl)
		for i := 0; i < len(metrics); i += 2 {
			fmt.Fprintf(&raw, " %v %s\t", metrics[i], metrics[i+1])
		}
		raw.WriteString("\n")
	}
	raw.WriteString("# load WarmHit: 0.50 0.70\n")
	line("WarmHit", implAzidentity, 3314, "ns/op", 18, "allocs/op")
	line("WarmHit", implAzid, 112, "ns/op", 0, "allocs/op")
	line("WarmHitParallel", implAzid, 58, "ns/op", 0, "allocs/op")
	line("HitWithEntries/n=1", implAzid, 100, "ns/op")
	line("HitWithEntries/n=10000", implAzid, 95, "ns/op", 0, "allocs/op")
	line("WarmHitFreshStrings", implAzid, 98, "ns/op", 0, "allocs/op")
	line("ColdHerdOneKey", implAzid, 1, "token-requests/op", 22, "p50-ms", 25, "p99-ms")
	line("ColdHerdDistinctKeys", implAzid, 100, "token-requests/op", 70, "p50-ms", 125, "p99-ms")
	line("ColdHerdDistinctKeys", implDirect, 100, "token-requests/op", 75, "p50-ms", 128, "p99-ms")
	line("HitDuringMiss", implAzid, 0.15, "hit-p50-us", 0.22, "hit-p99-us")
	line("RefreshBoundary", implAzid, 0, "slow-calls/op", 2, "token-requests/op")
	line("ShortLived", implAzid, 1, "token-requests/op")
	line("OutagePastRefresh", implAzid, 0.0002, "call-p50-ms", 0.03, "call-max-ms", 0, "errors/op")
	raw.WriteString("BenchmarkHit-2 \t 100 \t 72.6 ns/op \t 0 allocs/op\n")

	d, err := buildDocument(raw.String(), false)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	d.render(&out)
	doc := out.String()
	for _, want := range []string{
		regenerate, "Test CPU", "| Cores | 2 |", "go1.26.8", "2026-01-02", "median",
		"**Target:** ≤ 100 ns and 0 allocs/op. **azid:** 112 ns, 0 allocs/op — **FAIL**",
		"58.0 ns = 0.52× the single figure (112 ns) — PASS",
		"95.0 ns, 0 allocs/op = 0.95× the 1-entry figure (100 ns) — PASS",
		"**Target:** ≤ 100 ns and 0 allocs/op. **azid:** 98.0 ns, 0 allocs/op — PASS",
		"**azid:** 125 ms — **FAIL**",
		"| caller latency p99 | — | 125 ms | — | 128 ms |",
		"| time per call | 3.31 µs | 112 ns | 29.6× |",
		"load average 0.50 → 0.70",
		"`Hit` | 72.6 ns/op, 0 allocs/op",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("the document lacks %q", want)
		}
	}
	if strings.Contains(doc, "NaN") || strings.Contains(doc, "Inf") || strings.Contains(doc, fmt.Sprint(math.Inf(1))) {
		t.Error("the document shows a NaN or infinity")
	}
}
