package devtool

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replace writes path the way tools do: a temporary file renamed over it.
func replace(t *testing.T, path, s string) {
	t.Helper()
	tmp := path + ".tmp"
	write(t, tmp, s)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWatcherCheck(t *testing.T) {
	dir := t.TempDir()
	profile := filepath.Join(dir, "azureProfile.json")
	write(t, profile, `{"user":"a"}`)
	var calls atomic.Int32
	w := NewWatcher([]File{{Path: profile}, {Path: filepath.Join(dir, "clouds.config")}}, func() { calls.Add(1) }, WatchOptions{})
	if w.Check() {
		t.Fatal("change reported without one")
	}
	steps := []struct {
		name string
		do   func()
	}{
		{"same size, new content", func() { write(t, profile, `{"user":"b"}`) }},
		{"replaced by rename", func() { replace(t, profile, `{"user":"b"}`) }},
		{"created", func() { write(t, filepath.Join(dir, "clouds.config"), "[AzureCloud]") }},
		{"removed", func() { os.Remove(profile) }},
		{"recreated", func() { write(t, profile, `{}`) }},
	}
	for i, s := range steps {
		s.do()
		if !w.Check() {
			t.Fatalf("%s: no change reported", s.name)
		}
		if w.Check() {
			t.Fatalf("%s: change reported twice", s.name)
		}
		if int(calls.Load()) != i+1 {
			t.Fatalf("%s: onChange called %d times, want %d", s.name, calls.Load(), i+1)
		}
	}
}

func TestWatcherDirectory(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth")
	os.Mkdir(auth, 0o700)
	w := NewWatcher([]File{{Path: auth, Dir: true}}, nil, WatchOptions{})
	write(t, filepath.Join(auth, "msal.json"), "{}")
	if !w.Check() {
		t.Fatal("a file created in the directory went unnoticed")
	}
	write(t, filepath.Join(auth, "msal.json"), `{"x":1}`)
	if !w.Check() {
		t.Fatal("a file rewritten in the directory went unnoticed")
	}
}

// The tool's own token cache writes, made while its process runs, are not a
// change of account; the same writes made by someone else are.
func TestWatcherOwnRuns(t *testing.T) {
	dir := t.TempDir()
	profile := filepath.Join(dir, "azureProfile.json")
	cache := filepath.Join(dir, "msal_token_cache.json")
	write(t, profile, "a")
	write(t, cache, "1")
	w := NewWatcher([]File{{Path: profile}, {Path: cache, Tokens: true}}, nil, WatchOptions{})

	end := w.BeginRun()
	write(t, cache, "12") // the tool refreshed a token
	if w.Check() {
		t.Fatal("a token cache write during a run was reported by a concurrent check")
	}
	if end() {
		t.Fatal("the run's own token cache write was reported")
	}
	if w.Check() {
		t.Fatal("the run's own token cache write was reported after the run")
	}

	write(t, cache, "123") // someone else's az
	if !w.Check() {
		t.Fatal("a token cache change outside any run went unnoticed")
	}

	end = w.BeginRun()
	write(t, profile, "b") // az login in another terminal, during our run
	if !end() {
		t.Fatal("an account change during a run was not reported by its end")
	}
	if w.Changes() != 2 {
		t.Fatalf("Changes() = %d, want 2", w.Changes())
	}
}

// After a pause, the first Touch checks before returning: deterministic, no
// waiting on the ticker.
func TestWatcherTouchAfterIdleChecksAtOnce(t *testing.T) {
	dir := t.TempDir()
	profile := filepath.Join(dir, "azureProfile.json")
	write(t, profile, "a")
	var calls atomic.Int32
	w := NewWatcher([]File{{Path: profile}}, func() { calls.Add(1) }, WatchOptions{Interval: time.Millisecond, IdleTicks: 2})
	write(t, profile, "bb")
	w.Touch()
	if calls.Load() != 1 {
		t.Fatalf("Touch on an idle watcher did not check: %d calls", calls.Load())
	}
	eventually(t, "the watcher to go idle", func() bool { return !w.Running() })
	write(t, profile, "ccc")
	w.Touch()
	if calls.Load() != 2 {
		t.Fatalf("Touch after idling did not check: %d calls", calls.Load())
	}
}

// While in use, the ticker notices a change without any call.
func TestWatcherTicks(t *testing.T) {
	dir := t.TempDir()
	profile := filepath.Join(dir, "azureProfile.json")
	write(t, profile, "a")
	var calls atomic.Int32
	w := NewWatcher([]File{{Path: profile}}, func() { calls.Add(1) }, WatchOptions{Interval: 2 * time.Millisecond, IdleTicks: 1000})
	w.Touch()
	if !w.Running() {
		t.Fatal("Touch did not start the watcher")
	}
	write(t, profile, "bb")
	eventually(t, "the ticker to notice the change", func() bool { return calls.Load() == 1 })
}

func BenchmarkTouch(b *testing.B) {
	dir := b.TempDir()
	w := NewWatcher([]File{{Path: filepath.Join(dir, "x")}}, nil, WatchOptions{IdleTicks: 1 << 30})
	w.Touch()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.Touch()
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	dir := b.TempDir()
	var files []File
	for _, n := range []string{"azureProfile.json", "msal_token_cache.json", "clouds.config", "msal_token_cache.bin", "service_principal_entries.json"} {
		p := filepath.Join(dir, n)
		os.WriteFile(p, []byte("{}"), 0o600)
		files = append(files, File{Path: p})
	}
	w := NewWatcher(files, nil, WatchOptions{})
	b.ReportAllocs()
	for b.Loop() {
		w.Check()
	}
}
