package cache

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkContention8Processes measures write throughput of the
// persistent cache under contention: 8 processes each store b.N/8 distinct
// tokens into one cache at once (lock, re-read, merge, encrypt, fsync,
// rename per token). It reports saves/s across all processes; ns/op is
// wall time per save. Process start-up is included, so use -benchtime of
// at least 800x.
func BenchmarkContention8Processes(b *testing.B) {
	if _, err := userKeyring(); err != nil {
		b.Fatalf("the kernel keyring is required: %v", err)
	}
	dir := b.TempDir()
	r := make([]byte, 6)
	rand.Read(r)
	name := "azid-bench-" + hex.EncodeToString(r)
	b.Cleanup(func() { unlinkKeys(name, name+".cae") })
	const procs = 8
	each := max(b.N/procs, 1)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range procs {
		cmd := helperCmd(b, "writer", name, strconv.Itoa(w), strconv.Itoa(each))
		cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+dir, "DBUS_SESSION_BUS_ADDRESS=")
		wg.Go(func() {
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Errorf("writer %d: %v\n%s", w, err, out)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(procs*each)/time.Since(start).Seconds(), "saves/s")
}
