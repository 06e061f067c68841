package tokencache

import (
	"sync/atomic"
	"time"
)

// Clock tells the engine the time. Tests inject a fake one; the default is the
// system clock.
type Clock interface {
	Now() time.Time
}

// wallResync is how often, in run time, the default clock re-reads the wall
// clock: the bound on how long a wall-clock jump (a resume from suspend,
// which the monotonic clock does not count) goes unnoticed.
const wallResync = 10 * time.Millisecond

// systemClock is the default clock. It pays on the hit path: time.Now reads
// two clocks (about 54 ns on a virtual machine), the monotonic one alone
// half that, so hits read the monotonic clock plus a wall offset measured
// at most every wallResync.
type systemClock struct {
	base      time.Time    // carries a monotonic reading
	offset    atomic.Int64 // wall Unix ns minus monotonic ns since base
	lastCheck atomic.Int64 // monotonic ns since base of the last wall read
}

func newSystemClock() *systemClock {
	c := &systemClock{base: time.Now()}
	c.resync()
	return c
}

func (c *systemClock) Now() time.Time { return time.Unix(0, c.nanos()) }

// nanos returns the wall time in Unix nanoseconds.
func (c *systemClock) nanos() int64 {
	m := int64(time.Since(c.base))
	if m-c.lastCheck.Load() >= int64(wallResync) {
		return c.resync()
	}
	return c.offset.Load() + m
}

func (c *systemClock) resync() int64 {
	w := time.Now()
	m := int64(w.Sub(c.base)) // monotonic, from the same reading
	c.offset.Store(w.UnixNano() - m)
	c.lastCheck.Store(m)
	return w.UnixNano()
}
