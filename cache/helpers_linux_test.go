package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/azid-go/azid/internal/persist"
	"github.com/azid-go/azid/internal/tokencache"
	"golang.org/x/sys/unix"
)

var bg = context.Background()

// testCache gives a test its own cache directory and a unique cache name,
// and removes the name's keyring keys afterwards so that no test key is
// left in the keyring.
func testCache(t *testing.T) (name, dir string) {
	t.Helper()
	dir = t.TempDir()
	t.Setenv("XDG_CACHE_HOME", dir)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	b := make([]byte, 6)
	rand.Read(b)
	name = "azid-test-" + hex.EncodeToString(b)
	t.Cleanup(func() { unlinkKeys(name, name+".cae") })
	return name, dir + "/.IdentityService"
}

// unlinkKeys removes the keyring keys with these descriptions.
func unlinkKeys(names ...string) {
	ring, err := userKeyring()
	if err != nil {
		return
	}
	for _, n := range names {
		for {
			id, err := unix.KeyctlSearch(ring, "user", n, 0)
			if err != nil {
				break
			}
			if _, err := unix.KeyctlInt(unix.KEYCTL_UNLINK, id, ring, 0, 0); err != nil {
				// Linked elsewhere (the user keyring): revoke it.
				unix.KeyctlInt(unix.KEYCTL_REVOKE, id, 0, 0, 0)
			}
		}
	}
}

func keyOf(scope string) tokencache.Key {
	return tokencache.Key{Authority: "login.example", ClientID: "client", TenantID: "tenant", Scopes: []string{scope}}
}

func storedTok(tok string) tokencache.Stored {
	now := time.Now().Truncate(time.Second)
	return tokencache.Stored{AccessToken: tok, CachedAt: now, ExpiresOn: now.Add(time.Hour)}
}

func mustNew(t testing.TB, o *Options) Cache {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// helperCmd runs the test helper (internal/persist/testhelper) as
// another process using the test's cache in mode. TestMain builds it once,
// without the race detector: eight race-instrumented writers would take
// minutes.
func helperCmd(t testing.TB, mode string, args ...string) *exec.Cmd {
	t.Helper()
	if helperErr != nil {
		t.Fatal(helperErr)
	}
	return exec.Command(helperPath, append([]string{mode}, args...)...)
}

var (
	helperPath string
	helperErr  error
)

// buildHelper builds the helper before any test changes the environment
// (XDG_CACHE_HOME also moves the Go build cache).
func buildHelper() (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir, err := os.MkdirTemp("", "azid-testhelper-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "testhelper")
	out, err := exec.Command(gobin, "build", "-o", path, "github.com/azid-go/azid/internal/persist/testhelper").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building the test helper with %s (the go command is required): %v\n%s", gobin, err, out)
	}
	return path, nil
}

func TestMain(m *testing.M) {
	helperPath, helperErr = buildHelper()
	code := m.Run()
	if helperPath != "" {
		os.RemoveAll(filepath.Dir(helperPath))
	}
	os.Exit(code)
}

// requireKeyring fails the test when keyctl cannot be used here.
func requireKeyring(t *testing.T) {
	t.Helper()
	if _, err := userKeyring(); err != nil {
		t.Fatalf("the kernel keyring is required (keyctl must be allowed): %v", err)
	}
}

func isUnreadable(err error) bool { return errors.Is(err, persist.ErrUnreadable) }
