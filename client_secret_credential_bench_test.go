package azid_test

import (
	"testing"

	"github.com/azid-go/azid/internal/benchkit"
)

// BenchmarkClientSecret runs every benchkit workload against
// ClientSecretCredential and the emulator: go test -run '^$' -bench
// ClientSecret/WarmHit . The side-by-side comparison with azidentity is in
// the bench module (docs/BENCHMARKS.md).
func BenchmarkClientSecret(b *testing.B) { benchkit.RunAll(b, benchkit.Azid) }
