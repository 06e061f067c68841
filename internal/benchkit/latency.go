package benchkit

import (
	"math"
	"math/bits"
	"time"
)

// Latencies collects durations for percentiles without allocating per
// sample, so that recording inside a timed loop of millions of
// nanosecond-scale hits costs a few instructions and never triggers a GC.
//
// Durations go into log-linear buckets: exact below 128 ns, then 64 buckets
// per power of two, so a percentile is within 1.6% of the true sample. The
// zero value is not usable; call [NewLatencies].
type Latencies struct {
	counts []uint64
	n      uint64
}

const (
	subBits    = 6
	subBuckets = 1 << subBits // buckets per power of two
	// numBuckets covers every positive int64: the top power of two is 2^62.
	numBuckets = (62 - subBits + 2) * subBuckets
)

// NewLatencies returns an empty collector.
func NewLatencies() *Latencies {
	return &Latencies{counts: make([]uint64, numBuckets)}
}

// bucket maps a duration in nanoseconds to its bucket. Below 128 ns each
// nanosecond has its own bucket; above, the bucket is the leading seven bits
// of the value, one bucket range per power of two.
func bucket(ns int64) int {
	if ns < 2*subBuckets {
		return int(max(ns, 0))
	}
	p := bits.Len64(uint64(ns)) - 1 // position of the leading bit, >= 7
	return (p-subBits+1)*subBuckets + int(uint64(ns)>>(p-subBits)) - subBuckets
}

// bucketMid is the middle of bucket i's range, the value a percentile
// reports, so the error is at most half a bucket either way.
func bucketMid(i int) float64 {
	if i < 2*subBuckets {
		return float64(i)
	}
	p := i/subBuckets + subBits - 1
	m := i%subBuckets + subBuckets
	lo := float64(uint64(m) << (p - subBits))
	width := float64(uint64(1) << (p - subBits))
	return lo + (width-1)/2
}

// Add records one duration.
func (l *Latencies) Add(d time.Duration) {
	l.counts[bucket(int64(d))]++
	l.n++
}

// Merge adds every sample of o to l, for workloads whose goroutines collect
// their own samples without sharing a collector.
func (l *Latencies) Merge(o *Latencies) {
	for i, c := range o.counts {
		l.counts[i] += c
	}
	l.n += o.n
}

// Len is the number of samples recorded.
func (l *Latencies) Len() int { return int(l.n) }

// Percentile returns the nearest-rank q-quantile (q in [0, 1]), or 0 when
// nothing was recorded. Nearest rank rather than interpolation: with 100
// samples, p99 is the 99th slowest caller, a latency some caller really saw.
func (l *Latencies) Percentile(q float64) time.Duration {
	if l.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(l.n)))
	rank = min(max(rank, 1), l.n)
	var seen uint64
	for i, c := range l.counts {
		seen += c
		if seen >= rank {
			return time.Duration(math.Round(bucketMid(i)))
		}
	}
	return time.Duration(math.MaxInt64) // unreachable: seen reaches n
}

// ReportPercentiles reports the 50th and 99th percentiles of l as metrics
// named prefix+"p50-"+unit and prefix+"p99-"+unit, in unit (which must be
// "ms" or "us"). Nothing is reported when l is empty: a missing metric is
// easier to spot than a fake zero.
func (l *Latencies) ReportPercentiles(r interface{ ReportMetric(float64, string) }, prefix, unit string) {
	if l.n == 0 {
		return
	}
	var scale float64
	switch unit {
	case "ms":
		scale = 1e6
	case "us":
		scale = 1e3
	default:
		panic("benchkit: unknown latency unit " + unit)
	}
	r.ReportMetric(float64(l.Percentile(0.50))/scale, prefix+"p50-"+unit)
	r.ReportMetric(float64(l.Percentile(0.99))/scale, prefix+"p99-"+unit)
}
