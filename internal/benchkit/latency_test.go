package benchkit

import (
	"math"
	"testing"
	"time"
)

// The buckets must tile the durations: every value lands in a bucket whose
// middle is within 1.6% of it, and bucket numbers never go down as values
// go up, or percentiles would come out of order.
func TestBucketsTileDurations(t *testing.T) {
	prev := -1
	check := func(ns int64) {
		t.Helper()
		b := bucket(ns)
		if b < prev {
			t.Fatalf("bucket(%d) = %d, below the previous value's %d", ns, b, prev)
		}
		if b >= numBuckets {
			t.Fatalf("bucket(%d) = %d, out of range", ns, b)
		}
		prev = b
		if mid := bucketMid(b); math.Abs(mid-float64(ns)) > 0.016*float64(ns) {
			t.Fatalf("bucket(%d) has middle %v, more than 1.6%% away", ns, mid)
		}
	}
	for ns := int64(0); ns < 100_000; ns++ {
		check(ns)
	}
	for ns := int64(100_000); ns < math.MaxInt64/9; ns = ns*9/8 + 1 {
		check(ns)
	}
	check(math.MaxInt64)
}

func TestPercentiles(t *testing.T) {
	l := NewLatencies()
	if l.Percentile(0.5) != 0 {
		t.Error("an empty collector has a percentile")
	}
	// 1..100 ms: nearest rank makes p50 the 50th value and p99 the 99th.
	for i := 100; i >= 1; i-- {
		l.Add(time.Duration(i) * time.Millisecond)
	}
	if l.Len() != 100 {
		t.Fatalf("Len = %d", l.Len())
	}
	for q, want := range map[float64]time.Duration{0: time.Millisecond, 0.5: 50 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond} {
		got := l.Percentile(q)
		if math.Abs(float64(got-want)) > 0.016*float64(want) {
			t.Errorf("p%v = %v, want %v", q*100, got, want)
		}
	}

	small := NewLatencies()
	small.Add(42 * time.Nanosecond)
	l.Merge(small)
	if l.Len() != 101 || l.Percentile(0) != 42*time.Nanosecond {
		t.Errorf("after Merge: Len %d, min %v", l.Len(), l.Percentile(0))
	}
}

type metrics map[string]float64

func (m metrics) ReportMetric(v float64, unit string) { m[unit] = v }

func TestReportPercentiles(t *testing.T) {
	l := NewLatencies()
	m := metrics{}
	l.ReportPercentiles(m, "hit-", "us")
	if len(m) != 0 {
		t.Errorf("an empty collector reported %v", m)
	}
	l.Add(1500 * time.Nanosecond)
	l.ReportPercentiles(m, "hit-", "us")
	if v := m["hit-p50-us"]; math.Abs(v-1.5) > 0.03 {
		t.Errorf("hit-p50-us = %v, want 1.5", v)
	}
	if _, ok := m["hit-p99-us"]; !ok {
		t.Error("no hit-p99-us")
	}
}
