package cache

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azid-go/azid/internal/persist"
	"github.com/godbus/dbus/v5"
)

// busConfig is a private session bus's configuration: anyone on this
// machine's user may connect and own names, and nothing is activated.
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// lockedBuffer is a bytes.Buffer that a child process's output copier and
// the test may use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startSecretService starts a private D-Bus session and gnome-keyring's
// Secret Service on it (its login collection unlocked with a password),
// both stopped by PID at cleanup, and returns the bus address.
func startSecretService(t *testing.T) string {
	t.Helper()
	for _, bin := range []string{"dbus-daemon", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is required for the Secret Service tests (apt-get install dbus gnome-keyring): %v", bin, err)
		}
	}
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_RUNTIME_DIR="+filepath.Join(home, "run"))
	os.MkdirAll(filepath.Join(home, "run"), 0o700)

	// A session bus without service directories: the standard session
	// configuration would let a probe sent before our daemon owns its name
	// activate another gnome-keyring-daemon, one with no unlocked login
	// collection, and ours would then exit ("another secret service is
	// running").
	conf := filepath.Join(home, "bus.conf")
	if err := os.WriteFile(conf, []byte(busConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	bus := exec.Command("dbus-daemon", "--config-file="+conf, "--fork", "--print-address=1", "--print-pid=1")
	bus.Env = env
	out, err := bus.Output()
	if err != nil {
		t.Fatalf("starting dbus-daemon: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) < 2 {
		t.Fatalf("dbus-daemon printed %q", out)
	}
	addr := lines[0]
	pid, _ := strconv.Atoi(lines[1])
	t.Cleanup(func() {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
	})

	gk := exec.Command("gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")
	gk.Env = append(env, "DBUS_SESSION_BUS_ADDRESS="+addr)
	gk.Stdin = strings.NewReader("test-password")
	logs := &lockedBuffer{}
	gk.Stdout, gk.Stderr = logs, logs
	if err := gk.Start(); err != nil {
		t.Fatalf("starting gnome-keyring-daemon: %v", err)
	}
	t.Cleanup(func() { gk.Process.Kill(); gk.Wait() })

	// Wait until the service owns its name and its default collection
	// exists.
	ss := &secretService{addr: addr}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(bg, time.Second)
		err := ss.store(ctx, "azid-probe", make([]byte, 32))
		cancel()
		if err == nil {
			ss.remove(bg, "azid-probe")
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Secret Service did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// After a "reboot" (the kernel keyring emptied) the key comes back from
// the Secret Service and the cache opens, with the token another process
// stored.
func TestSecretServiceEscrowSurvivesReboot(t *testing.T) {
	requireKeyring(t)
	addr := startSecretService(t)
	name, _ := testCache(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
	ss := &secretService{addr: addr}
	t.Cleanup(func() { ss.remove(bg, name) })

	s := persist.TokenStore(mustNew(t, &Options{Name: name}))
	if err := s.Save(bg, keyOf("api://x/.default"), storedTok("before-reboot")); err != nil {
		t.Fatal(err)
	}
	escrowed, err := ss.lookup(bg, name)
	if err != nil || len(escrowed) != 32 {
		t.Fatalf("key not escrowed: %v (%d bytes)", err, len(escrowed))
	}
	codec := &keyringCodec{}
	codec.ring, _ = userKeyring()
	if k, _, err := codec.findKey(name); err != nil || !bytes.Equal(k, escrowed) {
		t.Fatalf("escrowed key differs from the keyring's: %v", err)
	}

	unlinkKeys(name) // the reboot
	var logs bytes.Buffer
	after := persist.TokenStore(mustNew(t, &Options{Name: name, Logger: slog.New(slog.NewTextHandler(&logs, nil))}))
	got, ok, err := after.Load(bg, keyOf("api://x/.default"))
	if err != nil || !ok || got.AccessToken != "before-reboot" {
		t.Fatalf("after the reboot: %+v %v %v", got, ok, err)
	}
	if k, _, err := codec.findKey(name); err != nil || !bytes.Equal(k, escrowed) {
		t.Fatal("key not restored to the kernel keyring")
	}
	if !strings.Contains(logs.String(), "restored") {
		t.Fatalf("restore not logged: %s", logs.String())
	}
}

// A locked collection would need a prompt: the escrow reports it as
// unavailable at once instead of waiting, and the cache still works.
func TestSecretServiceLockedIsUnavailable(t *testing.T) {
	requireKeyring(t)
	addr := startSecretService(t)
	name, _ := testCache(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
	ss := &secretService{addr: addr}
	if err := ss.store(bg, name, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.remove(bg, name) })

	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var coll dbus.ObjectPath
	conn.Object(ssName, ssPath).Call(ssService+".ReadAlias", 0, "default").Store(&coll)
	var locked []dbus.ObjectPath
	var prompt dbus.ObjectPath
	if err := conn.Object(ssName, ssPath).Call(ssService+".Lock", 0, []dbus.ObjectPath{coll}).Store(&locked, &prompt); err != nil {
		t.Fatal("locking the collection:", err)
	}

	if _, err := ss.lookup(bg, name); err != errPromptRequired {
		t.Fatalf("lookup in a locked collection: %v", err)
	}
	if err := ss.store(bg, name+"-2", make([]byte, 32)); err != errPromptRequired {
		t.Fatalf("store in a locked collection: %v", err)
	}
	var logs bytes.Buffer
	s := persist.TokenStore(mustNew(t, &Options{Name: name, Logger: slog.New(slog.NewTextHandler(&logs, nil))}))
	if err := s.Save(bg, keyOf("api://x/.default"), storedTok("t")); err != nil {
		t.Fatal("the cache must work without the escrow:", err)
	}
	if !strings.Contains(logs.String(), "will not survive a reboot") {
		t.Fatalf("missing escrow not logged: %s", logs.String())
	}
}

// Removing a cache for good (persist.Remove, "azid cache clear --all")
// removes its key from the kernel keyring and its copy from the Secret
// Service, and its file: the next write makes a new key.
func TestRemoveDeletesKeyAndEscrow(t *testing.T) {
	requireKeyring(t)
	addr := startSecretService(t)
	name, _ := testCache(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
	ss := &secretService{addr: addr}
	t.Cleanup(func() { ss.remove(bg, name) })

	c := mustNew(t, &Options{Name: name})
	if err := persist.TokenStore(c).Save(bg, keyOf("api://x/.default"), storedTok("to-remove")); err != nil {
		t.Fatal(err)
	}
	codec := &keyringCodec{}
	codec.ring, _ = userKeyring()
	first, _, err := codec.findKey(name)
	if err != nil {
		t.Fatalf("no key after a write: %v", err)
	}
	if k, err := ss.lookup(bg, name); err != nil || len(k) != 32 {
		t.Fatalf("key not escrowed: %v", err)
	}

	if err := persist.Remove(bg, c); err != nil {
		t.Fatal(err)
	}
	if _, _, err := codec.findKey(name); !errors.Is(err, errNoKey) {
		t.Errorf("the key is still in the kernel keyring: %v", err)
	}
	if k, err := ss.lookup(bg, name); err != nil || k != nil {
		t.Errorf("the Secret Service still holds the key (%d bytes, %v)", len(k), err)
	}
	if _, ok, err := persist.TokenStore(c).Load(bg, keyOf("api://x/.default")); ok || err != nil {
		t.Errorf("a removed cache still serves the token (%v)", err)
	}

	// The next write starts over with a new key.
	if err := persist.TokenStore(mustNew(t, &Options{Name: name})).Save(bg, keyOf("api://x/.default"), storedTok("after")); err != nil {
		t.Fatal(err)
	}
	if second, _, err := codec.findKey(name); err != nil || bytes.Equal(first, second) {
		t.Errorf("after removal: key %v, same as before: %v", err, bytes.Equal(first, second))
	}
}
