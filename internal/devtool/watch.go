package devtool

import (
	"hash/maphash"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// File is a file or directory in which a tool keeps its signed-in state.
type File struct {
	Path string
	// Dir means Path is a directory: it and its entries (one level) are
	// watched, so files created, replaced or removed in it count.
	Dir bool
	// Tokens marks a token cache the tool rewrites by itself whenever it
	// acquires or refreshes a token. Changes made to it while one of the
	// credential's own tool processes runs are that process's bookkeeping,
	// not a new sign-in, and are not reported; at other times they are.
	Tokens bool
}

// WatchOptions tune a Watcher. The zero value is the default.
type WatchOptions struct {
	// Interval is how often the files are checked while the credential is
	// in use; 0 means DefaultWatchInterval.
	Interval time.Duration
	// IdleTicks is how many intervals without a Touch stop the checking; 0
	// means 10. The next Touch checks at once, then resumes.
	IdleTicks int
}

// DefaultWatchInterval bounds how long a cached token can outlive a change
// of the tool's signed-in account while the credential is in use.
const DefaultWatchInterval = time.Second

// Watcher reports changes to a tool's signed-in state by comparing stat
// fingerprints (device, inode, size, modification and change times) of the
// tool's files.
//
// It is built for a hot path. Touch, called on every GetToken, costs one
// atomic load: the files are checked by a goroutine on a ticker, which runs
// only while the credential is in use and stops after IdleTicks quiet
// intervals, so an unused credential costs nothing and leaks nothing. The
// first Touch after such a pause checks the files before returning, so a
// credential picked up again after an hour never serves a token of the
// account that was signed in an hour ago.
type Watcher struct {
	files     []File
	onChange  func()
	interval  time.Duration
	idleTicks int
	seed      maphash.Seed

	// state is watchIdle (no goroutine), watchActive (goroutine running,
	// no Touch since its last tick) or watchUsed.
	state atomic.Int32

	mu      sync.Mutex // guards base and runs; never held across a stat
	base    []uint64
	runs    int // the credential's tool processes in flight
	changes atomic.Uint64
}

const (
	watchIdle int32 = iota
	watchActive
	watchUsed
)

// NewWatcher returns a watcher of files that calls onChange (which must not
// block for long) whenever they change. The files are fingerprinted now; a
// change is any difference from then on. Nothing runs until Touch.
func NewWatcher(files []File, onChange func(), o WatchOptions) *Watcher {
	if o.Interval <= 0 {
		o.Interval = DefaultWatchInterval
	}
	if o.IdleTicks <= 0 {
		o.IdleTicks = 10
	}
	w := &Watcher{
		files:     append([]File(nil), files...),
		onChange:  onChange,
		interval:  o.Interval,
		idleTicks: o.IdleTicks,
		seed:      maphash.MakeSeed(),
	}
	w.base = w.fingerprint()
	return w
}

// Touch notes that the credential is in use. Call it before serving a
// token: when the watcher was idle, it checks the files first.
func (w *Watcher) Touch() {
	switch w.state.Load() {
	case watchUsed:
		return
	case watchActive:
		w.state.CompareAndSwap(watchActive, watchUsed)
		return
	}
	w.wake()
}

// wake checks the files on the caller's goroutine, then starts the ticker.
// Concurrent wakers all check (a check is idempotent); one starts it.
func (w *Watcher) wake() {
	w.Check()
	if w.state.CompareAndSwap(watchIdle, watchUsed) {
		go w.loop()
	}
}

func (w *Watcher) loop() {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	idle := 0
	for range t.C {
		if w.state.CompareAndSwap(watchUsed, watchActive) {
			idle = 0
		} else if idle++; idle >= w.idleTicks && w.state.CompareAndSwap(watchActive, watchIdle) {
			return
		}
		w.Check()
	}
}

// Running reports whether the checking goroutine runs (for tests).
func (w *Watcher) Running() bool { return w.state.Load() != watchIdle }

// Changes counts the changes reported so far.
func (w *Watcher) Changes() uint64 { return w.changes.Load() }

// Check compares the files with their last fingerprints now, reports a
// change to onChange, and returns whether there was one.
func (w *Watcher) Check() bool {
	fp := w.fingerprint()
	w.mu.Lock()
	changed := false
	for i, f := range fp {
		if f != w.base[i] && !(w.files[i].Tokens && w.runs > 0) {
			changed = true
		}
	}
	if changed {
		w.base = fp
	}
	w.mu.Unlock()
	if changed {
		w.report()
	}
	return changed
}

// BeginRun is called before the credential starts a tool process; the
// returned function is called when it has exited. It reports whether the
// signed-in state changed while the process ran, in which case its answer
// may belong to either account and should not be trusted.
//
// Token caches the process rewrote meanwhile become the new reference, so
// the tool's own bookkeeping is never mistaken for a sign-in.
func (w *Watcher) BeginRun() (end func() (changed bool)) {
	// A change made since the last tick must be seen now, before the
	// process's own writes blur it.
	w.Check()
	w.mu.Lock()
	w.runs++
	w.mu.Unlock()
	return func() bool {
		fp := w.fingerprint()
		w.mu.Lock()
		w.runs--
		changed := false
		for i, f := range fp {
			if f == w.base[i] {
				continue
			}
			if w.files[i].Tokens {
				w.base[i] = f
			} else {
				changed = true
			}
		}
		if changed {
			w.base = fp
		}
		w.mu.Unlock()
		if changed {
			w.report()
		}
		return changed
	}
}

func (w *Watcher) report() {
	w.changes.Add(1)
	if w.onChange != nil {
		w.onChange()
	}
}

// fingerprint hashes each file's stat; a missing file hashes to 0.
func (w *Watcher) fingerprint() []uint64 {
	out := make([]uint64, len(w.files))
	for i, f := range w.files {
		var h maphash.Hash
		h.SetSeed(w.seed)
		fi, err := os.Stat(f.Path)
		if err != nil {
			continue
		}
		writeStat(&h, fi)
		if f.Dir && fi.IsDir() {
			entries, _ := os.ReadDir(f.Path)
			for _, e := range entries {
				h.WriteString(e.Name())
				h.WriteByte(0)
				if info, err := e.Info(); err == nil {
					writeStat(&h, info)
				}
			}
		}
		out[i] = h.Sum64() | 1 // never 0, which means "missing"
	}
	return out
}
