package bench

import (
	"testing"

	"github.com/azid-go/azid/internal/benchkit"
)

// BenchmarkCompare runs every benchkit workload against every
// implementation: BenchmarkCompare/<workload>/impl=<name>. Note that go
// test's -count repeats each leaf benchmark in a row; the report generator
// (cmd/report) instead runs one round at a time, so that the
// implementations alternate and a noisy minute on the machine hits both.
func BenchmarkCompare(b *testing.B) {
	for _, w := range benchkit.Workloads() {
		b.Run(w.Name, func(b *testing.B) {
			for _, impl := range append(Impls(), BaselineImpls(w.Name)...) {
				b.Run("impl="+impl.Name, func(b *testing.B) { w.Run(b, impl.New) })
			}
		})
	}
}
