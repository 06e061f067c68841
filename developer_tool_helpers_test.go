// The fake tools are shell scripts.

//go:build unix

package azid

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azid-go/azid/internal/devtool"
)

// fakeTool is a developer tool stand-in (a script from testdata/fakebin)
// alone on PATH, with its state in a fresh directory.
type fakeTool struct {
	t     testing.TB
	home  string
	bin   string
	state string // where the script keeps fake_mode, calls.log and the account
	env   []string
}

// newFakeTool installs testdata/fakebin/<name> as the only program on PATH.
// stateEnv names the variable pointing the tool at its state directory.
func newFakeTool(t testing.TB, name, stateEnv string) *fakeTool {
	t.Helper()
	root := t.TempDir()
	ft := &fakeTool{t: t, home: filepath.Join(root, "home"), bin: filepath.Join(root, "bin"), state: filepath.Join(root, "state")}
	for _, d := range []string{ft.home, ft.bin, ft.state} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	src, err := filepath.Abs(filepath.Join("testdata", "fakebin", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("fake %s missing: %v", name, err)
	}
	if err := os.Symlink(src, filepath.Join(ft.bin, name)); err != nil {
		t.Fatal(err)
	}
	ft.env = []string{"PATH=" + ft.bin, "HOME=" + ft.home, stateEnv + "=" + ft.state}
	if tz, ok := os.LookupEnv("TZ"); ok {
		ft.env = append(ft.env, "TZ="+tz)
	}
	return ft
}

func (ft *fakeTool) write(name, content string) {
	ft.t.Helper()
	if err := os.WriteFile(filepath.Join(ft.state, name), []byte(content), 0o600); err != nil {
		ft.t.Fatal(err)
	}
}

func (ft *fakeTool) setMode(mode string) { ft.write("fake_mode", mode) }

// calls returns the argument lines of every run so far.
func (ft *fakeTool) calls() []string {
	b, err := os.ReadFile(filepath.Join(ft.state, "calls.log"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		ft.t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// hooks points a credential at the fake. The watcher ticks slowly unless a
// test asks otherwise, so that only the test decides when files change.
func (ft *fakeTool) hooks(mod func(*toolHooks)) *toolHooks {
	h := &toolHooks{env: ft.env, watch: devtool.WatchOptions{Interval: time.Hour}}
	if mod != nil {
		mod(h)
	}
	return h
}

// pidGone reports whether the process whose PID the fake wrote to file has
// ended (a zombie counts as ended: nobody may reap it in a container).
func pidGone(t testing.TB, file string) bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("reading %s: %v", file, err)
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/stat")
	if err != nil {
		return true
	}
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

func mkdirAll(dir string) error { return os.MkdirAll(dir, 0o700) }
